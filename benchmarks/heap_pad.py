"""The heap's top pad (netsim/heap.py) on and off: seconds per round and peak memory.

    python benchmarks/heap_pad.py              # CE and CGC at n = 30 and 300, d = 100
    python benchmarks/heap_pad.py --repeat 5

Each point runs in its own subprocess (``benchmarks/engines.py --point``, the fast engine on
that file's benchmark scenario), alternately with netsim's pad and without it; "without" sets
``MALLOC_TOP_PAD_`` to glibc's default (128 KiB), which netsim leaves alone. Prints the medians
and their ratio. Only meaningful where the C library is glibc.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GLIBC_DEFAULT_PAD = str(128 * 1024)
POINTS = (("ce", 30, 100, 100), ("ce", 300, 100, 10), ("cgc", 30, 100, 100), ("cgc", 300, 100, 30))


def run(point: dict, pad: bool) -> dict:
    env = dict(os.environ)
    env.pop("MALLOC_TOP_PAD_", None)
    if not pad:
        env["MALLOC_TOP_PAD_"] = GLIBC_DEFAULT_PAD
    command = [sys.executable, str(HERE / "engines.py"), "--point", json.dumps(point)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        "| protocol | n | d | rounds | s/round, pad off | s/round, pad on | on / off "
        "| peak MiB off | peak MiB on |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for protocol, n, d, rounds in POINTS:
        point = {"protocol": protocol, "engine": "fast", "n": n, "d": d, "rounds": rounds}
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.repeat):
            for pad in (False, True):
                runs[pad].append(run(point, pad))
        seconds = {
            pad: statistics.median(r["seconds_per_round"] for r in runs[pad]) for pad in runs
        }
        memory = {pad: statistics.median(r["peak_rss_mib"] for r in runs[pad]) for pad in runs}
        print(
            f"| {protocol} | {n} | {d} | {rounds} | {seconds[False]:.4g} | {seconds[True]:.4g} "
            f"| {seconds[True] / seconds[False]:.2f} | {memory[False]:.0f} | {memory[True]:.0f} |"
        )


if __name__ == "__main__":
    main()
