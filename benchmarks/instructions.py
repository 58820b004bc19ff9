"""Instructions per round (valgrind's callgrind), this tree against another checkout.

    git worktree add /tmp/base d53bc3f
    python benchmarks/instructions.py --baseline /tmp/base            # n = 30, d = 2, 10, 100
    python benchmarks/instructions.py --baseline /tmp/base --sizes 30,100 --dims 10

A shared virtual machine's speed drifts by up to 2x from one minute to the next, which is
larger than the differences worth measuring at small n (a round of CGC at n = 30 takes ~0.3
ms). Instruction counts do not drift: callgrind counts the user-space instructions a process
executes, the same in every repetition to about 1% (the processes run with one BLAS thread:
OpenBLAS's idle threads spin, for as long as scheduling makes them). Each point is the fast
engine's first run of the benchmark scenario of benchmarks/engines.py in a fresh interpreter,
measured as the difference between a process that parses the scenario and runs it and one that
only parses it (imports, parsing and interpreter start cancel out). What instructions miss:
time in the kernel (page faults: netsim/heap.py), cache misses and memory bandwidth (the
portable factorizations of the set-up are whole-array numpy operations, few instructions for
their time), so it complements the timed comparison (``engines.py --baseline``) rather than
replacing it. About 30 s a process under
callgrind; two processes at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUN = """
import sys, warnings
sys.path.insert(0, {benchmarks!r})
from types import SimpleNamespace
from engines import scenario_raw, rounds_for
import netsim, netsim.simulation, netsim.fast, netsim.fast.results, netsim.fast.server_run
from netsim.simulation import simulate
protocol, n, d, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
scenario = netsim.parse_scenario(scenario_raw(protocol, n, d, rounds_for(n, False), "fast"))
netsim.simulation.check_redundancy = lambda *a, **k: SimpleNamespace(holds=False)
warnings.simplefilter("ignore")
for _ in range(runs):
    simulate(scenario)
"""


def instructions(root: Path, protocol: str, n: int, d: int, runs: int) -> int:
    """callgrind's instruction count of a process that runs the point ``runs`` times."""
    # one BLAS thread: OpenBLAS's idle threads spin, and callgrind counts the spinning, an
    # amount that depends on scheduling (tens of millions of instructions a process)
    env = {**os.environ, "PYTHONPATH": str(root), "OPENBLAS_NUM_THREADS": "1"}
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-c",
        RUN.format(benchmarks=str(HERE)),
        protocol,
        str(n),
        str(d),
        str(runs),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind failed for {protocol} n={n} d={d}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another netsim checkout")
    parser.add_argument("--sizes", default="30", help="comma-separated n")
    parser.add_argument("--dims", default="2,10,100", help="comma-separated d")
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "instructions.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from engines import rounds_for

    points = [
        (protocol, n, d)
        for protocol in ("ce", "cgc")
        for d in (int(v) for v in args.dims.split(","))
        for n in (int(v) for v in args.sizes.split(","))
    ]
    jobs = [
        (which, root, point, runs)
        for point in points
        for which, root in (("baseline", args.baseline.resolve()), ("this", ROOT))
        for runs in (0, 1)
    ]
    with ThreadPoolExecutor(2) as pool:  # each job is a valgrind process
        counts = list(pool.map(lambda job: instructions(job[1], *job[2], job[3]), jobs))
    found = {(job[0], job[2], job[3]): count for job, count in zip(jobs, counts)}
    rows = []
    print(
        "| protocol | d | n | rounds | baseline instructions/round | this tree | this / baseline |"
    )
    print("|---|---|---|---|---|---|---|")
    for protocol, n, d in points:
        rounds = rounds_for(n, False)
        per_round = {
            which: (found[(which, (protocol, n, d), 1)] - found[(which, (protocol, n, d), 0)])
            / rounds
            for which in ("baseline", "this")
        }
        ratio = per_round["this"] / per_round["baseline"]
        rows.append({"protocol": protocol, "n": n, "d": d, "rounds": rounds, **per_round})
        print(
            f"| {protocol} | {d} | {n} | {rounds} | {per_round['baseline']:.4g} "
            f"| {per_round['this']:.4g} | {ratio:.3f} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
