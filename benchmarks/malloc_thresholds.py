"""netsim's malloc thresholds (netsim/heap.py) on and off: seconds per round and peak memory.

    python benchmarks/malloc_thresholds.py              # CE and CGC, n = 30 to 1000
    python benchmarks/malloc_thresholds.py --repeat 5

Each point runs in its own subprocess (``benchmarks/engines.py --point``, the fast engine on
that file's benchmark scenario), alternately with netsim's thresholds and with glibc's
defaults (``NETSIM_KEEP_MALLOC=1``). Prints the medians and their ratio. Only meaningful where
the C library is glibc.
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
POINTS = (
    ("ce", 30, 10, 100),
    ("ce", 30, 100, 100),
    ("ce", 300, 100, 10),
    ("ce", 1000, 10, 5),
    ("cgc", 30, 100, 100),
    ("cgc", 300, 100, 30),
)


def run(point: dict, tuned: bool) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MALLOC_", "NETSIM_KEEP", "GLIBC_TUNABLES"))
    }
    if not tuned:
        env["NETSIM_KEEP_MALLOC"] = "1"
    command = [sys.executable, str(HERE / "engines.py"), "--point", json.dumps(point)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        "| protocol | n | d | rounds | s/round, glibc defaults | s/round, netsim "
        "| netsim / defaults | peak MiB, defaults | peak MiB, netsim |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for protocol, n, d, rounds in POINTS:
        point = {"protocol": protocol, "engine": "fast", "n": n, "d": d, "rounds": rounds}
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.repeat):
            for tuned in (False, True):
                runs[tuned].append(run(point, tuned))
        seconds = {
            key: statistics.median(r["seconds_per_round"] for r in runs[key]) for key in runs
        }
        memory = {key: statistics.median(r["peak_rss_mib"] for r in runs[key]) for key in runs}
        print(
            f"| {protocol} | {n} | {d} | {rounds} | {seconds[False]:.4g} | {seconds[True]:.4g} "
            f"| {seconds[True] / seconds[False]:.2f} | {memory[False]:.0f} | {memory[True]:.0f} |"
        )


if __name__ == "__main__":
    main()
