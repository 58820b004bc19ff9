"""The runs whose fingerprints must not depend on the CPU, the BLAS kernel or its threads.

Run as a script (``python tests/portable_runs.py``), it prints ``{run: fingerprint}`` as JSON:
tests/test_portable_determinism.py starts it once per BLAS kernel and thread count, each in a
fresh process (a kernel is chosen when numpy loads), and compares the output with
tests/golden/portable.json and across the processes.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from builders import ROOT, cgc, second_instance_raw, small  # noqa: E402

import netsim  # noqa: E402


def _second_instance_fast() -> netsim.Scenario:
    raw = second_instance_raw()
    raw["engine"] = "fast"
    return netsim.parse_scenario(raw)


# name -> scenario; each protocol, both engines, the shipped scenarios of both protocols, and
# the parts with their own arithmetic: rank-deficient projections (d = 3, rank-2 costs),
# lognormal delays (exp), the geometric median (a linear solve), the default CGC step (an
# eigenvalue problem).
RUNS: dict[str, Callable[[], netsim.Scenario]] = {
    "ce_small_reference": lambda: small(protocol__rounds=40),
    "ce_small_fast": lambda: small(protocol__rounds=40, engine="fast"),
    "ce_rank_deficient_fast": _second_instance_fast,
    "ce_lognormal_geomed": lambda: small(
        protocol__rounds=30,
        protocol__filter="geometric_median",
        network__delay={"model": "lognormal", "median": 0.01, "sigma": 0.8},
    ),
    "cgc_sync_reference": lambda: cgc(protocol__rounds=40),
    "cgc_sync_fast_default_step": lambda: cgc(engine="fast", protocol__rounds=40),
    "cgc_async_reference": lambda: cgc(
        protocol__rounds=40, protocol__mode="async", protocol__trigger="quorum"
    ),
    "shipped_ce_paper_fig2": lambda: netsim.load_scenario(ROOT / "scenarios/ce_paper_fig2.toml"),
    "shipped_cgc_async": lambda: netsim.load_scenario(ROOT / "scenarios/cgc_async.toml"),
}


def fingerprints() -> dict[str, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shipped scenarios warn about what they show
        return {name: netsim.run(build()).fingerprint for name, build in RUNS.items()}


if __name__ == "__main__":
    json.dump(fingerprints(), sys.stdout)
