"""Sweep throughput: points per minute with 1 and 2 local workers (and Dask), side by side.

    python benchmarks/sweep_throughput.py            # 40 points of the CE paper scenario
    python benchmarks/sweep_throughput.py --quick    # 4 points, a smoke run

Every configuration runs the same sweep into its own store; the script checks that all stores
hold identical rows (results must not depend on the executor) and prints points per minute and
the speed-up over one worker. Wall time includes starting the workers, as a user sees it.
``--repeats K`` runs the configurations K times, interleaved (1, 2, ..., 1, 2, ...), and reports
the median wall time of each: on a shared machine one run can be off by 20%.
Writes results/benchmarks/sweep_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=40, help="sweep points (seeds)")
    parser.add_argument("--rounds", type=int, default=300, help="rounds per point")
    parser.add_argument(
        "--engine", default="auto", help="auto (the default engine) | reference | fast"
    )
    parser.add_argument("--dask", action="store_true", help="also a Dask LocalCluster, 2 workers")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration")
    parser.add_argument("--quick", action="store_true", help="4 points, 30 rounds")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.rounds = 4, 30
    for name in ("points", "rounds", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1 (got {getattr(args, name)})")

    from netsim.config import read_toml
    from netsim.sweep import parse_sweep, run_sweep, tidy

    raw = read_toml(ROOT / "scenarios" / "ce_paper_fig2.toml")
    raw.pop("variants")  # CE only: one run per point
    raw["protocol"]["rounds"] = args.rounds
    raw.update(trace=False, engine=args.engine)
    raw["sweep"] = {"seeds": list(range(args.points))}
    sweep = parse_sweep(raw)
    configs = [("local", 1), ("local", 2)] + ([("dask", 2)] if args.dask else [])
    rows = []
    reference = None
    walls: dict[tuple[str, int], list[float]] = {config: [] for config in configs}
    identical = {config: True for config in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for executor, jobs in configs:
                store = Path(tmp) / f"{executor}{jobs}_{repeat}.db"
                start = time.perf_counter()
                run_sweep(sweep, store, jobs=jobs, executor=executor, progress=False)
                walls[executor, jobs].append(time.perf_counter() - start)
                _, table = tidy(store)
                table = [{k: v for k, v in r.items() if k not in ("wall_s",)} for r in table]
                reference = reference or table
                identical[executor, jobs] &= table == reference
    for (executor, jobs), times in walls.items():
        wall = statistics.median(times)
        rows.append(
            {
                "executor": executor,
                "workers": jobs,
                "points": args.points,
                "wall_s": wall,
                "wall_s_runs": times,
                "points_per_min": 60.0 * args.points / wall,
                "identical_rows": identical[executor, jobs],
            }
        )
    base = rows[0]["points_per_min"]
    print(
        f"sweep of {args.points} points x {args.rounds} rounds, engine {args.engine}, "
        f"median of {args.repeats} run(s)"
    )
    print(
        f"{'executor':>9} {'workers':>7} {'wall s':>8} {'points/min':>11} {'vs 1 worker':>12} same"
    )
    for row in rows:
        row["speedup"] = row["points_per_min"] / base
        print(
            f"{row['executor']:>9} {row['workers']:>7} {row['wall_s']:>8.2f} "
            f"{row['points_per_min']:>11.1f} {row['speedup']:>11.2f}x {row['identical_rows']}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "sweep_throughput",
        "command": " ".join(["python", *sys.argv]),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "rows": rows,
    }
    (args.out / "sweep_throughput.json").write_text(json.dumps(record, indent=2))
    return 0 if all(r["identical_rows"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
