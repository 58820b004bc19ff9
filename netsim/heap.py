"""The C heap keeps a pad of free memory at its top (glibc's ``M_TOP_PAD``): fewer page faults.

A round allocates and frees arrays of a few hundred KiB many times (products before their
ordered sums, gathered estimates, the trace's records). With glibc's defaults the heap's top is
given back to the kernel (``brk``) when such an array is freed and taken again for the next
one, and every page of it is then faulted in anew: on a virtual machine that costs several
microseconds a page. CGC with n = 300, d = 100 spent ~0.3 ms of a ~0.8 ms round this way
(a 299 x 2 x 100 product array and its sum, benchmarks in BENCHMARKS.md). Asking glibc to keep
:data:`HEAP_PAD` bytes at the top (``mallopt(M_TOP_PAD)``, what the ``MALLOC_TOP_PAD_``
environment variable sets) removes that churn for arrays up to that size.

Process-wide and once per process: the first run sets it and it stays (the pad is at most
that much more resident memory). Nothing a run computes depends on it. A no-op where the C
library is not glibc (macOS, musl) and when the user set ``MALLOC_TOP_PAD_`` themselves.
"""

from __future__ import annotations

import ctypes
import os

HEAP_PAD = 16 << 20  # bytes kept free at the heap's top
M_TOP_PAD = -2  # glibc's mallopt parameter number (malloc.h)

_applied: list[bool] = []  # the outcome of the first call, once made


def keep_heap_pad() -> bool:
    """Set glibc's top pad to :data:`HEAP_PAD` (module docstring), once per process; whether
    it is in effect."""
    if not _applied:
        _applied.append(_set_top_pad())
    return _applied[0]


def _set_top_pad() -> bool:
    if "MALLOC_TOP_PAD_" in os.environ:
        return False  # the user's own setting stands
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):  # no confstr, or not this name: not glibc
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(M_TOP_PAD, HEAP_PAD))  # the process's libc
    except (OSError, AttributeError):
        return False
