"""glibc's malloc thresholds (netsim.heap): set once, left alone when the user set their own,
and a round's alloc-free churn no longer faults its pages in anew (counted, not timed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GLIBC = hasattr(os, "confstr") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")

CHURN = """
import resource, sys
import numpy as np
from netsim.heap import keep_freed_memory
applied = keep_freed_memory()
rows = int(sys.argv[1])
A = np.ones((rows, 2, 100)); r = np.ones((rows, 2))
def churn():  # a product, its sum, a copy: ~3.3 KiB a row alive at the peak, all freed after
    x = A * r[..., :, None]
    h = x[:, 0:1] + x[:, 1:2]
    return h[:, 0].copy()
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(300):
    churn()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def run_churn(rows: int, env: dict[str, str] | None = None) -> tuple[bool, int]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MALLOC_", "NETSIM_KEEP", "GLIBC_TUNABLES"))
    }
    done = subprocess.run(
        [sys.executable, "-c", CHURN, str(rows)],
        capture_output=True,
        text=True,
        check=True,
        env={**clean, **(env or {})},
    )
    applied, faults = done.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc settings")
@pytest.mark.parametrize("rows", [299, 2999])  # ~1 MiB (CGC, n = 300) and ~10 MiB alive
def test_the_thresholds_stop_the_page_faults_of_a_rounds_churn(rows):
    applied, faults = run_churn(rows)
    assert applied
    # 300 rounds of churn: with glibc's defaults each round faults its pages in anew (about
    # 60,000 faults in all for 299 rows, 540,000 for 2999, on the machine of BENCHMARKS.md, with
    # NETSIM_KEEP_MALLOC=1); with the thresholds the freed memory stays mapped (0 there).
    # Measured with: python -c "import sys; sys.path.insert(0, 'tests'); from test_heap import
    # run_churn; print([run_churn(r, {'NETSIM_KEEP_MALLOC': '1'}) for r in (299, 2999)])"
    assert faults < 1000, f"{faults} page faults in 300 rounds of churn"


@pytest.mark.skipif(not GLIBC, reason="the thresholds are glibc settings")
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("MALLOC_TRIM_THRESHOLD_", "1048576"),
        ("MALLOC_MMAP_THRESHOLD_", "1048576"),
        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1048576"),
        ("NETSIM_KEEP_MALLOC", "1"),
    ],
)
def test_the_users_own_settings_stand(setting, value):
    applied, _ = run_churn(10, {setting: value})
    assert not applied


def test_keep_freed_memory_is_idempotent():
    from netsim.heap import keep_freed_memory

    assert keep_freed_memory() == keep_freed_memory()
