"""One worker thread that computes, while the engine goes on, what is a pure function of its
inputs: the trace hash of a round (:mod:`netsim.fast.trace`) and the next window of link draws
(:mod:`netsim.fast.draws`). numpy's array loops, SHA-256 and CRC-32 release the GIL, so on two
cores this work overlaps the engine's.

One worker, so tasks run in the order they were submitted; every caller waits for its own
results (``Future.result``, which also raises the task's error) before using them. What is
computed does not depend on when it runs: the bits are those of the same calls made inline.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_worker: tuple[int, ThreadPoolExecutor] | None = None  # (the process id it belongs to, it)


def worker() -> ThreadPoolExecutor:
    """The process's background worker, created on first use, and anew in a forked child (a
    fork copies the executor but not its thread: tasks submitted to the copy would never run)."""
    global _worker
    if _worker is None or _worker[0] != os.getpid():
        _worker = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="netsim-background"))
    return _worker[1]
