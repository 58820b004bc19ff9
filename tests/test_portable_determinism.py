"""The same run, bit for bit, under every BLAS kernel this CPU supports, 1 or 2 BLAS threads, and
with numpy's SIMD dispatch turned down.

OpenBLAS picks a kernel per CPU (SSE3 "Prescott", AVX "Sandybridge", AVX2 "Haswell"/"Zen",
AVX-512 "SkylakeX"), and ``OPENBLAS_CORETYPE`` forces one among those the CPU can execute; each
sums a dot product in its own order. netsim computes everything that enters a run without BLAS
(:mod:`netsim.portable`), so every configuration must print the fingerprints of
tests/golden/portable.json. Each configuration runs tests/portable_runs.py in its own process,
since the kernel is chosen when numpy loads. A difference is reported as the first round and
field that differ (:func:`netsim.fingerprint.first_difference`).

After a deliberate change of semantics, regenerate the golden file with
``NETSIM_UPDATE_GOLDEN=1 python -m pytest tests/test_portable_determinism.py`` and say so in
the commit message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from netsim.fingerprint import first_difference

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "portable.json"
RUNS = HERE / "portable_runs.py"
# Kernels by the SIMD generation they use; a CPU runs those at or below its own.
CANDIDATE_KERNELS = ("Prescott", "Nehalem", "Sandybridge", "Haswell", "Zen", "SkylakeX")
PROBE = "import numpy as np; a = np.ones((64, 64)); a @ a; np.linalg.pinv(a)"


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENBLAS_", "NPY_", "OMP_", "MKL_"))
    }
    env.update(extra)
    return env


@cache
def supported_kernels() -> dict[str, str]:
    """{OPENBLAS_CORETYPE: the kernel OpenBLAS reports} for the kernels this CPU executes (a
    kernel beyond the CPU dies of an illegal instruction), one name per distinct kernel. Empty
    when numpy's BLAS is not OpenBLAS (it then reports no core)."""
    kernels: dict[str, str] = {}
    for name in CANDIDATE_KERNELS:
        probe = subprocess.run(
            [sys.executable, "-c", PROBE],
            env=_env(OPENBLAS_CORETYPE=name, OPENBLAS_VERBOSE="2", OPENBLAS_NUM_THREADS="1"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        reported = [
            line.split(":", 1)[1].strip()
            for line in probe.stderr.splitlines()
            if line.startswith("Core:")
        ]
        if probe.returncode == 0 and reported and reported[-1] not in kernels.values():
            kernels[name] = reported[-1]
    return kernels


@cache
def numpy_dispatch_targets() -> list[str]:
    """The SIMD targets numpy dispatches to on this CPU beyond its baseline (e.g. X86_V3)."""
    code = (
        "from numpy._core._multiarray_umath import __cpu_dispatch__ as d, "
        "__cpu_features__ as f; print(' '.join(t for t in d if f.get(t)))"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60
    )
    return probe.stdout.split() if probe.returncode == 0 else []


def configurations() -> dict[str, dict[str, str]]:
    """Name -> environment: every supported kernel on 1 thread, the default kernel on 2
    threads, and numpy with its dispatched SIMD targets disabled."""
    configs = {
        f"OPENBLAS_CORETYPE={name} ({kernel}), 1 thread": _env(
            OPENBLAS_CORETYPE=name, OPENBLAS_NUM_THREADS="1"
        )
        for name, kernel in supported_kernels().items()
    }
    configs["default kernel, 1 thread"] = _env(OPENBLAS_NUM_THREADS="1")
    configs["default kernel, 2 threads"] = _env(OPENBLAS_NUM_THREADS="2")
    targets = numpy_dispatch_targets()
    if targets:
        configs[f"NPY_DISABLE_CPU_FEATURES={' '.join(targets)}"] = _env(
            NPY_DISABLE_CPU_FEATURES=" ".join(targets), OPENBLAS_NUM_THREADS="1"
        )
    return configs


def fingerprints_under(env: dict[str, str]) -> dict[str, dict]:
    done = subprocess.run(
        [sys.executable, str(RUNS)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_the_cpu_offers_more_than_one_configuration():
    """Guard: the comparison below means something only across several kernels or settings."""
    assert len(configurations()) >= 3


def test_every_kernel_and_thread_count_gives_the_golden_fingerprints():
    configs = configurations()
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = dict(zip(configs, pool.map(fingerprints_under, configs.values())))
    if os.environ.get("NETSIM_UPDATE_GOLDEN"):
        first = next(iter(outputs.values()))
        lines = [f"{json.dumps(name)}: {json.dumps(first[name])}" for name in sorted(first)]
        GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one line per run
    golden = json.loads(GOLDEN.read_text())
    failures = []
    for config, runs in outputs.items():
        assert set(runs) == set(golden), f"{config}: runs {sorted(runs)} vs {sorted(golden)}"
        for name, fingerprint in runs.items():
            where = first_difference(fingerprint, golden[name])
            if where is not None:
                failures.append(f"{config}: run {name!r}: {where}")
    assert not failures, "not portable:\n" + "\n".join(failures)


# --- the fingerprint itself, on hand-made documents ------------------------------------------


def _document(arrival_round_2: str = "a", estimate_round_1: str = "e") -> dict:
    fields = ("sender", "receiver", "send_time", "arrival_time", "delivered", "decision")
    messages = {name: ["x", "x", "x"] for name in fields}
    messages["arrival_time"] = ["a", "a", arrival_round_2]
    estimates = ["e", estimate_round_1, "e", "e"]
    variant_hash = arrival_round_2 + estimate_round_1
    return {
        "trace_hash": variant_hash,
        "variants": {
            "v": {"trace_hash": variant_hash, "messages": messages, "estimates": estimates}
        },
    }


def test_first_difference_names_the_first_round_and_its_fields():
    assert first_difference(_document(), _document()) is None
    assert (
        first_difference(_document(arrival_round_2="b"), _document())
        == "variant 'v': first differs in round 2, field arrival_time"
    )
    # an earlier difference in another field wins
    assert (
        first_difference(_document("b", "f"), _document())
        == "variant 'v': first differs in round 1, field estimates"
    )


@pytest.mark.parametrize("change", ["arrival_time", "estimates"])
def test_a_one_ulp_change_in_a_real_run_is_found_in_its_round(change):
    import numpy as np
    from builders import small

    import netsim
    from netsim.fingerprint import RoundDigests
    from netsim.results import canonical_records

    result = netsim.run(small(protocol__rounds=6))
    variant = result.variants["small"]
    records = canonical_records(variant.messages)
    estimates = variant.estimates.copy()
    if change == "arrival_time":
        row = int(np.flatnonzero(records["round"] == 3)[0])
        records["arrival_time"][row] = np.nextafter(records["arrival_time"][row], np.inf)
    else:
        estimates[4, 0, 1] = np.nextafter(estimates[4, 0, 1], np.inf)
    digests = RoundDigests()
    digests.add({name: records[name] for name in records.dtype.names})
    changed = {
        "trace_hash": "changed",
        "variants": {"small": {"trace_hash": "changed", **digests.finish(estimates)}},
    }
    expected_round = 3 if change == "arrival_time" else 4
    assert first_difference(changed, result.fingerprint) == (
        f"variant 'small': first differs in round {expected_round}, field {change}"
    )
