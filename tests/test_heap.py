"""The heap's top pad (netsim.heap): set once, left to the user when they set it, and it stops
a round's alloc-free churn from faulting pages in anew (counted, not timed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GLIBC = hasattr(os, "confstr") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")

CHURN = """
import resource, sys
import numpy as np
from netsim.heap import keep_heap_pad
applied = keep_heap_pad() if sys.argv[1] == "pad" else False
A = np.ones((299, 2, 100)); r = np.ones((299, 2))
def churn():  # a product, its sum, a copy: ~1 MiB alive at the peak, all freed after
    x = A * r[..., :, None]
    h = x[:, 0:1] + x[:, 1:2]
    return h[:, 0].copy()
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(300):
    churn()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def run_churn(mode: str, env: dict[str, str] | None = None) -> tuple[bool, int]:
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    applied, faults = done.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not GLIBC, reason="the top pad is a glibc setting")
def test_the_pad_is_set_once_and_stops_the_page_faults_of_a_rounds_churn():
    applied, faults = run_churn("pad")
    assert applied
    # 300 rounds of ~1 MiB allocated and freed: without the pad each round faults its pages
    # in anew (~200 a round: 60,515 in all on the machine of BENCHMARKS.md); with it the
    # heap's top stays mapped, and only the first rounds fault (117 there).
    assert faults < 1000, f"{faults} page faults in 300 rounds of churn with the pad"


@pytest.mark.skipif(not GLIBC, reason="the top pad is a glibc setting")
def test_the_users_own_setting_stands():
    applied, _ = run_churn("pad", {"MALLOC_TOP_PAD_": str(1 << 20)})
    assert not applied


def test_keep_heap_pad_is_idempotent():
    from netsim.heap import keep_heap_pad

    assert keep_heap_pad() == keep_heap_pad()
