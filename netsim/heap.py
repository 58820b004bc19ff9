"""glibc's malloc keeps a run's freed arrays for the next round instead of returning them.

A round allocates and frees arrays of a few hundred KiB to a few MiB many times (products
before their ordered sums, gathered estimates, the trace's records). With glibc's defaults an
array over 128 KiB is an ``mmap`` of its own, returned to the kernel when freed, and the top of
the heap is returned as soon as 128 KiB of it is free (glibc then raises both thresholds as it
sees such arrays, but only up to the size of the last one freed). The next array faults every
page in anew: on a virtual machine several microseconds a page. With the settings below a CE
round at n = 300, d = 100 takes 0.65 of the time, a CGC round 0.75
(benchmarks/malloc_thresholds.py, BENCHMARKS.md).

:func:`keep_freed_memory` sets, once per process, ``M_MMAP_THRESHOLD`` = :data:`MMAP_THRESHOLD`
(arrays below it come from the heap) and ``M_TRIM_THRESHOLD`` = :data:`TRIM_THRESHOLD` (free
memory at the heap's top is returned only beyond it): what the ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` environment variables set. The price is up to that much more
resident memory between runs. Nothing a run computes depends on it.

A no-op where the C library is not glibc (macOS, musl), when the user has set any malloc
variable of their own (``MALLOC_*_`` or ``GLIBC_TUNABLES``), and when ``NETSIM_KEEP_MALLOC``
is set (glibc's defaults stay; benchmarks/malloc_thresholds.py compares the two).
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its dynamic threshold (64-bit)
TRIM_THRESHOLD = 64 << 20
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "GLIBC_TUNABLES",
    "NETSIM_KEEP_MALLOC",
)

_applied: list[bool] = []  # the outcome of the first call, once made


def keep_freed_memory() -> bool:
    """Set the two thresholds (module docstring), once per process; whether they are in
    effect."""
    if not _applied:
        _applied.append(_set_thresholds())
    return _applied[0]


def _set_thresholds() -> bool:
    if any(name in os.environ for name in USER_SETTINGS):
        return False  # the user's own settings (or glibc's defaults, asked for) stand
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
        libc = ctypes.CDLL(None)  # the process's own C library
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
    except (AttributeError, ValueError, OSError):  # no confstr or no mallopt: not glibc
        return False
