"""Philox4x32-10 in numpy: nanoseconds per counter against the block size (netsim/philox.py).

    python benchmarks/philox_blocks.py

A round of Philox is five vectorized integer operations on four arrays of 2 x BLOCK uint64
words; the block size decides whether those arrays stay in a core's cache. Times the rounds
alone on 2^20 counters, a block at a time, for each block size, interleaved and repeated
(the best of eight), and numpy's own Philox bit generator (C; Philox4x64, one sequential
counter) for scale. Prints a table; nothing is written.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from netsim import philox

COUNTERS = 1 << 20
SIZES = tuple(1 << k for k in range(11, 18))
REPEATS = 8


def seconds_per_counter(block: int, words: np.ndarray) -> float:
    start = time.perf_counter()
    for first in range(0, COUNTERS, block):
        part = words[first : first + block]
        philox._rounds(part, part, part, part, 1, 2, philox.ROUNDS)
    return (time.perf_counter() - start) / COUNTERS


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    words = np.arange(COUNTERS, dtype=np.uint64)
    best = dict.fromkeys(SIZES, np.inf)
    for _ in range(REPEATS):
        for block in SIZES:
            best[block] = min(best[block], seconds_per_counter(block, words))
    generator = np.random.Generator(np.random.Philox(1))
    start = time.perf_counter()
    for _ in range(REPEATS):
        generator.random(2 * COUNTERS)  # two doubles a counter, as netsim.philox.uniforms
    numpy_seconds = (time.perf_counter() - start) / REPEATS / COUNTERS
    print("| counters a block | ns a counter (rounds only) |")
    print("|---|---|")
    for block in SIZES:
        mark = " (netsim.philox.BLOCK)" if block == philox.BLOCK else ""
        print(f"| 2^{block.bit_length() - 1}{mark} | {best[block] * 1e9:.1f} |")
    print(f"| numpy Philox4x64 (C), two doubles | {numpy_seconds * 1e9:.1f} |")


if __name__ == "__main__":
    main()
