"""Reference engine vs fast engine vs two plain numpy baselines: seconds per round, messages per
second, peak memory, and the log-log slope of time against n (BENCHMARKS.md).

    python benchmarks/engines.py              # the full table (about 5 minutes on 2 cores)
    python benchmarks/engines.py --quick      # a smoke run: n = 10, d = 2, few rounds
    python benchmarks/engines.py --sizes 30,100,300,1000 --dims 10 --reference-budget 0
    python benchmarks/engines.py --whole-run  # `netsim run` (parse ... plot) vs event-per-agent
    python benchmarks/engines.py --baseline DIR   # the fast engine, this tree vs a checkout

Every point runs in its own subprocess (its peak RSS is that point's memory) and times only the
run itself, not the imports. Both engines run the same scenario: CE or synchronous CGC, f = 1,
agent 0 Byzantine (random_uniform), exponential delays of mean 10 ms, least-squares costs with
A_i of shape (2, d); the trace columns are off (the trace hash is still computed). The reference
engine runs only where its estimated time stays under ``--reference-budget`` seconds (about
40 µs per message on this kind of machine); skipped points are marked. The two baselines
(benchmarks/baselines.py) do the same rounds (delays, max-plus completion times, filter, step,
projection) with one generator and no trace: "event-per-agent", one SimPy event per agent per
round and numpy maths per agent; "vectorized", whole rounds as array operations, no simulator.
Every engine's "after round 0" leaves out the first round (setup: costs, pseudo-inverses, the
fast engine's first window of draws).

CGC timings leave out the summary's 2f-redundancy check (``netsim.theory.check_redundancy``, up
to 10^4 least-squares solves: seconds at d = 100, the same code after either engine).
``--whole-run`` counts everything: it times the ``netsim run`` command itself.

Writes results/benchmarks/engines.json (results/ is git-ignored) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from baselines import event_per_agent, vectorized_rounds

ROOT = Path(__file__).resolve().parents[1]
BASELINES = {"event_per_agent": event_per_agent, "vectorized": vectorized_rounds}
FULL_SIZES = (10, 30, 100, 300, 1000)
FULL_DIMS = (2, 10, 100)
REFERENCE_SECONDS_PER_MESSAGE = 40e-6  # an estimate, only to decide what to skip
TARGET = {"protocol": "ce", "n": 1000, "d": 10, "rounds": 100}
WHOLE_RUN = {"n": 1000, "d": 10, "rounds": 50}


def scenario_raw(
    protocol: str, n: int, d: int, rounds: int, engine: str, trace: bool = False
) -> dict[str, Any]:
    """The benchmark scenario (module docstring) as a dict; ``trace`` keeps every message."""
    rng = np.random.default_rng(0)
    A = [rng.normal(size=(2, d)) for _ in range(n)]
    x_star = np.ones(d)
    raw: dict[str, Any] = {
        "name": f"bench_{protocol}_{n}_{d}",
        "seed": 1,
        "engine": engine,
        "trace": trace,
        "network": {
            "n": n,
            "f": 1,
            "byzantine": [0],
            "delay": {"model": "exponential", "mean": 0.01},
        },
        "costs": {"A": [a.tolist() for a in A], "B": [(a @ x_star).tolist() for a in A]},
        "protocol": {"kind": protocol, "rounds": rounds},
        "adversary": {"kind": "random_uniform", "low": -10.0, "high": 10.0},
    }
    if protocol == "cgc":
        raw["protocol"].update(
            mode="sync", x0=[0.0] * d, step_size={"schedule": "constant", "eta": 0.001}
        )
    return raw


def rounds_for(n: int, quick: bool) -> int:
    """Few rounds for big n: the per-round cost is what is compared."""
    if quick:
        return 5
    return {10: 100, 30: 100, 100: 30, 300: 10, 1000: 5}.get(n, 5)


def messages_per_round(protocol: str, n: int) -> int:
    return n * (n - 1) if protocol == "ce" else 2 * n


# --- one point, in this process ----------------------------------------------------------------


def run_point(
    protocol: str, engine: str, n: int, d: int, rounds: int, trace: bool = False
) -> dict[str, Any]:
    """Time one run (``engine`` = reference | fast | vectorized | event_per_agent); returns
    seconds and peak RSS.
    ``trace``: keep every message's row (streamed to disk in chunks past 2^20 rows)."""
    first_round = steady = math.nan
    kept = 0  # message rows kept (trace on)
    if engine in BASELINES:
        ends: list[float] = []
        start = time.perf_counter()
        BASELINES[engine](protocol, n, d, rounds, lambda: ends.append(time.perf_counter()))
        seconds = time.perf_counter() - start
        completed = rounds
        first_round = ends[0] - start  # with the setup (costs, pseudo-inverses)
        steady = (ends[-1] - ends[0]) / (rounds - 1) if rounds > 1 else math.nan
    else:
        import warnings

        import netsim
        import netsim.fast  # imported lazily by simulate: not engine time
        import netsim.fast.results
        import netsim.fast.server_run
        from netsim.simulation import simulate

        scenario = netsim.parse_scenario(scenario_raw(protocol, n, d, rounds, engine, trace))
        if protocol == "cgc":  # the summary's 2f-redundancy check: not engine time (docstring)
            import netsim.simulation

            netsim.simulation.check_redundancy = lambda *args, **kw: SimpleNamespace(holds=False)
        per_round = 1 if protocol == "cgc" else n - 1  # progress calls per round (honest)
        calls = [0]

        def progress() -> None:  # when a round ends (round 0 holds the fast engine's setup)
            calls[0] += 1
            if calls[0] % per_round == 0:
                marks.append(time.perf_counter())

        marks: list[float] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Theorem 2 coverage notes (CGC): not the point here
            start = time.perf_counter()
            result = simulate(scenario, on_round=progress)
            seconds = time.perf_counter() - start
        kept = len(result.messages["round"]) if result.messages else 0
        # A CGC run may stop early (its termination rule: the (f+1)-th largest gradient norm
        # exactly 0), and where it stops depends on the last bits of the arithmetic: per round
        # means per round run.
        completed = result.summary["rounds"]
        if len(marks) > 1:  # rounds 1.. only: not round 0's setup, not the summary after
            first_round = marks[0] - start
            steady = (marks[-1] - marks[0]) / (len(marks) - 1)
    return {
        "protocol": protocol,
        "engine": engine,
        "n": n,
        "d": d,
        "rounds": rounds,
        "rounds_completed": completed,
        "trace": trace,
        "seconds": seconds,
        "seconds_per_round": seconds / completed,
        "first_round_seconds": first_round,  # includes the fast engine's link seeding/draws
        "steady_seconds_per_round": steady,  # rounds after the first
        "messages_per_second": messages_per_round(protocol, n) * rounds / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trace_rows": kept,
        "netsim": netsim_location(),
    }


def netsim_location() -> str:
    """The directory of the netsim package this process imported (--baseline checks it)."""
    import netsim

    return str(Path(netsim.__file__).resolve().parents[1])


# --- the whole `netsim run`, as a user runs it ------------------------------------------------


def whole_run(n: int, d: int, rounds: int, trace: bool) -> dict[str, Any]:
    """``netsim run`` of the CE benchmark scenario (fast engine, plots on) in a child process:
    parse, validate (the 2f-redundancy check), run, write results and figures. Wall time and
    the child's peak RSS (this process only waits for it)."""
    import tempfile

    from netsim.search.tomlfile import dumps

    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "scenario.toml"
        scenario.write_text(dumps(scenario_raw("ce", n, d, rounds, "fast", trace)))
        command = [sys.executable, "-m", "netsim", "run", str(scenario), "--quiet"]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "--out", str(Path(folder) / "out")], capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"netsim run failed:\n{done.stderr}")
    return {
        "protocol": "ce",
        "engine": "netsim run",
        "n": n,
        "d": d,
        "rounds": rounds,
        "trace": trace,
        "seconds": seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "netsim": netsim_location(),
    }


def whole_run_table(rows: list[dict[str, Any]]) -> str:
    """The whole-run target: ``netsim run`` against the event-per-agent baseline's run."""
    event = next(row for row in rows if row["engine"] == "event_per_agent")
    lines = [
        "| what | n | d | rounds | seconds | / event-per-agent | peak MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        what = row["engine"] + (", trace on (messages.csv)" if row.get("trace") else "")
        lines.append(
            f"| {what} | {row['n']} | {row['d']} | {row['rounds']} | {row['seconds']:.2f} "
            f"| {row['seconds'] / event['seconds']:.2f}x | {row['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


# --- the sweep of points, each in a subprocess ------------------------------------------------


def measure(point: dict[str, Any], netsim_root: Path | None = None) -> dict[str, Any]:
    """Run one point in a fresh interpreter; its JSON line is the result. ``netsim_root``: a
    checkout whose ``netsim`` package the point imports instead of this tree's."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--point",
        json.dumps(point),
    ]
    env = dict(os.environ)
    if netsim_root is not None:
        env["PYTHONPATH"] = str(netsim_root)
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"point {point} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plan(
    quick: bool,
    budget: float,
    target: bool,
    sizes: tuple[int, ...] = FULL_SIZES,
    dims: tuple[int, ...] = FULL_DIMS,
) -> list[dict[str, Any]]:
    sizes = (10,) if quick else sizes
    dims = (2,) if quick else dims
    points = []
    for protocol in ("ce", "cgc"):
        for d in dims:
            for n in sizes:
                rounds = rounds_for(n, quick)
                estimate = messages_per_round(protocol, n) * rounds * REFERENCE_SECONDS_PER_MESSAGE
                engines = ["fast", *BASELINES] + (["reference"] if estimate <= budget else [])
                for engine in engines:
                    points.append(
                        {"protocol": protocol, "engine": engine, "n": n, "d": d, "rounds": rounds}
                    )
    if target and not quick:
        points.append({**TARGET, "engine": "fast"})
        points.append({**TARGET, "engine": "fast", "trace": True})
    return points


def slopes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Least-squares slope of log(seconds per round) against log(n), per curve (the fast
    engine's rounds after round 0, which hold its link seeding and draws)."""
    out = []
    curves: dict[tuple, list[tuple[int, float]]] = {}
    for row in rows:
        if row.get("target"):
            continue
        key = (row["protocol"], row["engine"], row["d"])
        seconds = row["steady_seconds_per_round"]
        if not math.isfinite(seconds):
            seconds = row["seconds_per_round"]
        curves.setdefault(key, []).append((row["n"], seconds))
    for (protocol, engine, d), points in sorted(curves.items()):
        if len(points) >= 2:
            n, t = np.log([p[0] for p in points]), np.log([p[1] for p in points])
            slope = float(np.polyfit(n, t, 1)[0])
            out.append({"protocol": protocol, "engine": engine, "d": d, "slope": slope})
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """Side by side: per (protocol, d, n) the engines, the two baselines and the ratios."""
    by_key: dict[tuple, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if not row.get("target"):
            by_key.setdefault((row["protocol"], row["d"], row["n"]), {})[row["engine"]] = row
    lines = [
        "| protocol | d | n | rounds | reference s/round | fast s/round | fast s/round after "
        "round 0 | event-per-agent s/round after round 0 | vectorized s/round after round 0 "
        "| fast msg/s "
        "| reference / fast | fast (after round 0) / event-per-agent "
        "| fast (after round 0) / vectorized | reference peak MiB | fast peak MiB "
        "| event-per-agent peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (protocol, d, n), engines in sorted(by_key.items()):
        fast, event, vector, reference = (
            engines.get(k) for k in ("fast", "event_per_agent", "vectorized", "reference")
        )
        assert fast is not None and event is not None and vector is not None
        ref = f"{reference['seconds_per_round']:.4g}" if reference else "skipped (cap)"
        speedup = (
            f"{reference['seconds_per_round'] / fast['seconds_per_round']:.1f}x"
            if reference
            else "-"
        )
        ref_memory = f"{reference['peak_rss_mib']:.0f}" if reference else "-"
        steady = fast["steady_seconds_per_round"]
        lines.append(
            f"| {protocol} | {d} | {n} | {fast['rounds']} | {ref} "
            f"| {fast['seconds_per_round']:.4g} | {steady:.4g} "
            f"| {event['steady_seconds_per_round']:.4g} "
            f"| {vector['steady_seconds_per_round']:.4g} "
            f"| {fast['messages_per_second']:.3g} | {speedup} "
            f"| {steady / event['steady_seconds_per_round']:.2f}x "
            f"| {steady / vector['steady_seconds_per_round']:.2f}x "
            f"| {ref_memory} | {fast['peak_rss_mib']:.0f} | {event['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def compare(
    baseline: Path, sizes: tuple[int, ...], dims: tuple[int, ...], repeat: int
) -> list[dict[str, Any]]:
    """The fast engine of this tree and of ``baseline`` (another checkout of netsim) on the same
    points. The runs go round robin: ``repeat`` passes over every point, each pass running
    every point once from each tree back to back (baseline first in even passes, this tree
    first in odd ones), so that a point's runs are spread over the whole benchmark and a burst
    of the shared host's other load hits a few runs of many points rather than every run of
    one. Per point: the ratio of the medians, of the best runs (the least disturbed), and the
    median of the ratios of the back-to-back pairs (what the host's slow drift cancels out of)."""
    points = [
        {"protocol": protocol, "engine": "fast", "n": n, "d": d, "rounds": rounds_for(n, False)}
        for protocol in ("ce", "cgc")
        for d in dims
        for n in sizes
    ]
    runs: list[dict[str, list[tuple[float, float]]]] = [
        {"baseline": [], "this": []} for _ in points
    ]
    trees = (("baseline", baseline), ("this", ROOT))
    for rep in range(repeat):
        for point, times in zip(points, runs):
            for which, root in trees if rep % 2 == 0 else trees[::-1]:
                row = measure(point, root)
                if Path(row["netsim"]) != root:
                    raise RuntimeError(f"the point imported {row['netsim']}, not {root}")
                times[which].append((row["seconds_per_round"], row["steady_seconds_per_round"]))
        print(f"pass {rep + 1} of {repeat} done", file=sys.stderr, flush=True)
    rows = []
    for point, times in zip(points, runs):
        base_runs, this_runs = (np.array(times[k]) for k in ("baseline", "this"))
        base, base_steady = np.median(base_runs, axis=0)
        this, this_steady = np.median(this_runs, axis=0)
        base_best, base_steady_best = base_runs.min(axis=0)
        this_best, this_steady_best = this_runs.min(axis=0)
        paired, paired_steady = np.median(this_runs / base_runs, axis=0)
        rows.append(
            {
                **point,
                "baseline": float(base),
                "this": float(this),
                "ratio": float(this / base),
                "baseline_steady": float(base_steady),
                "this_steady": float(this_steady),
                "steady_ratio": float(this_steady / base_steady),
                "ratio_best": float(this_best / base_best),
                "steady_ratio_best": float(this_steady_best / base_steady_best),
                "ratio_paired": float(paired),
                "steady_ratio_paired": float(paired_steady),
                "runs": times,  # (s/round, after round 0) of every run, in pass order
            }
        )
        print(
            f"{point['protocol']} n={point['n']:<5} d={point['d']:<4} s/round: baseline "
            f"{base:.4g}, this tree {this:.4g} ({this / base:.3f}; pairs {paired:.3f}); after "
            f"round 0: {base_steady:.4g}, {this_steady:.4g} ({this_steady / base_steady:.3f})",
            file=sys.stderr,
            flush=True,
        )
    return rows


def comparison_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| protocol | d | n | rounds | baseline s/round | this tree s/round | this / baseline "
        "| baseline after round 0 | this tree after round 0 | this / baseline after round 0 "
        "| best / best | best / best after round 0 | median of pairs | median of pairs after "
        "round 0 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['protocol']} | {row['d']} | {row['n']} | {row['rounds']} "
            f"| {row['baseline']:.4g} | {row['this']:.4g} | {row['ratio']:.3f} "
            f"| {row['baseline_steady']:.4g} | {row['this_steady']:.4g} "
            f"| {row['steady_ratio']:.3f} | {row['ratio_best']:.3f} "
            f"| {row['steady_ratio_best']:.3f} | {row['ratio_paired']:.3f} "
            f"| {row['steady_ratio_paired']:.3f} |"
        )
    for key, label in (
        ("ratio", "whole run (medians)"),
        ("steady_ratio", "after round 0 (medians)"),
        ("ratio_best", "whole run (best of the runs)"),
        ("steady_ratio_best", "after round 0 (best of the runs)"),
        ("ratio_paired", "whole run (median of the back-to-back pairs)"),
        ("steady_ratio_paired", "after round 0 (median of the back-to-back pairs)"),
    ):
        ratios = [row[key] for row in rows]
        lines.append(
            f"\n{label}: geometric mean of this / baseline "
            f"{math.exp(np.mean(np.log(ratios))):.3f}, worst {max(ratios):.3f}"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "lscpu": lscpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (n = 10, d = 2)")
    parser.add_argument(
        "--reference-budget",
        type=float,
        default=120.0,
        help="skip the reference engine where its estimated time exceeds this (s)",
    )
    parser.add_argument("--no-target", action="store_true", help="skip CE n=1000, 100 rounds")
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "engines.json"))
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another netsim commit (git worktree add DIR REV): time the fast "
        "engine of both, interleaved, and print their ratio",
    )
    parser.add_argument("--sizes", help="comma-separated n (default: 10,30,100,300,1000)")
    parser.add_argument("--dims", help="comma-separated d (default: 2,10,100)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="--baseline: passes over the points (runs per point)"
    )
    parser.add_argument(
        "--whole-run",
        action="store_true",
        help="the whole `netsim run` of CE n=1000, d=10, 50 rounds (trace off and on) against "
        "the event-per-agent baseline",
    )
    parser.add_argument("--point", help=argparse.SUPPRESS)  # internal: one point, JSON
    args = parser.parse_args(argv)
    if args.point:
        point = json.loads(args.point)
        if point.pop("whole", False):
            print(json.dumps(whole_run(**point)))
        else:
            print(json.dumps(run_point(**point)))
        return 0
    if args.whole_run:
        n, d, rounds = WHOLE_RUN["n"], WHOLE_RUN["d"], WHOLE_RUN["rounds"]
        points = [
            {"protocol": "ce", "engine": "event_per_agent", "n": n, "d": d, "rounds": rounds},
            {"whole": True, "n": n, "d": d, "rounds": rounds, "trace": False},
            {"whole": True, "n": n, "d": d, "rounds": rounds, "trace": True},
        ]
        rows = [measure(point) for point in points]
        print(whole_run_table(rows))
        out = Path(args.out).with_name("engines_whole_run.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        report = {"command": "python benchmarks/engines.py --whole-run", "machine": machine()}
        out.write_text(json.dumps({**report, "rows": rows}, indent=2) + "\n")
        print(f"\nwrote {out}")
        return 0
    sizes = tuple(int(v) for v in args.sizes.split(",")) if args.sizes else FULL_SIZES
    dims = tuple(int(v) for v in args.dims.split(",")) if args.dims else FULL_DIMS
    if args.baseline is not None:
        if not (args.baseline / "netsim" / "__init__.py").is_file():
            parser.error(f"--baseline {args.baseline}: no netsim/ package there")
        rows = compare(args.baseline.resolve(), sizes, dims, args.repeat)
        print(comparison_table(rows))
        out = Path(args.out).with_name("engines_vs_baseline.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "command": " ".join(["python", "benchmarks/engines.py", *(argv or sys.argv[1:])]),
            "machine": machine(),
            "rows": rows,
        }
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {out}")
        return 0
    rows = []
    points = plan(args.quick, args.reference_budget, not args.no_target, sizes, dims)
    for k, point in enumerate(points, 1):
        row = measure(point)
        if point in ({**TARGET, "engine": "fast"}, {**TARGET, "engine": "fast", "trace": True}):
            row["target"] = True
        rows.append(row)
        print(
            f"[{k}/{len(points)}] {row['protocol']} {row['engine']:9} n={row['n']:<5} "
            f"d={row['d']:<4} {row['seconds_per_round']:.4g} s/round, "
            f"{row['peak_rss_mib']:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
    fitted = slopes(rows)
    print(table(rows))
    print()
    for fit in fitted:
        print(
            f"slope of log(s/round) vs log(n): {fit['protocol']} {fit['engine']} d={fit['d']}: "
            f"{fit['slope']:.2f}"
        )
    for row in rows:
        if row.get("target"):
            trace = f", trace on ({row['trace_rows']:.3g} rows)" if row["trace"] else ""
            print(
                f"target: CE n=1000 d=10 100 rounds on the fast engine{trace}: "
                f"{row['seconds']:.1f} s, peak {row['peak_rss_mib']:.0f} MiB"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": " ".join(["python", "benchmarks/engines.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "rows": rows,
        "slopes": fitted,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
