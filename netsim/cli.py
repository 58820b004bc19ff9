"""The ``netsim`` command (spec/interface.md): parse, call, print. Exit 2 on invalid input."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import Scenario, load_scenario, read_toml, tomllib
from .errors import ScenarioError
from .outdir import RUN_FILES, check_output_dir


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings(), _terminate_as_interrupt():
        warnings.showwarning = _show_warning  # one line, no source location: for humans
        try:
            return int(args.handler(args) or 0)
        except ScenarioError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # `netsim run ... | head`: the reader left, nothing to report
            sys.stderr.close()
            return 0
        except OSError as err:  # a full disk, a read-only directory: which path, and what
            where = f"{err.filename}: " if err.filename else ""
            print(f"error: {where}{err.strerror or err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill PID``) stops a command as Ctrl-C does: workers shut down, finished sweep
    points stay stored. Only the main thread may set a signal handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netsim",
        description="Discrete-event simulation of Byzantine-tolerant distributed optimization.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run every variant of a scenario")
    run.add_argument("scenario", type=Path, help="scenario TOML file")
    run.add_argument("--out", type=Path, help="results directory (default results/<name>)")
    run.add_argument("--seed", type=int, help="root seed (overrides the scenario's)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted key, e.g. --set protocol.rounds=50 (TOML value)",
    )
    run.add_argument("--plots", type=Path, help="where the figures go (default <out>/plots)")
    run.add_argument("--no-plot", action="store_true", help="write results only")
    run.add_argument(
        "--timing-plots",
        action="store_true",
        help="also draw the timing plots (message sequence, timeline, latency, "
        "filter decisions); same as timing_plots = true in the scenario",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--verify",
        metavar="HASH|FILE",
        help="check the run against a trace hash (64 hex digits), or against another run's "
        "fingerprint.json or results directory, which also names the first round and field "
        "that differ; exit 1 when they differ",
    )
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a scenario without running it")
    validate.add_argument("scenario", type=Path)
    validate.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE"
    )
    validate.set_defaults(handler=_validate)

    plot = commands.add_parser(
        "plot",
        help="redraw the plots of a finished run, or plot a sweep store",
        description="netsim plot RESULTS_DIR redraws a run's figures; netsim plot STORE --x KEY "
        "--y METRIC [--hue KEY] draws a metric vs a swept key (mean and 95%% CI over seeds); "
        "--x KEY --y KEY --z METRIC draws a heatmap.",
    )
    plot.add_argument(
        "results", type=Path, help="a results directory of `netsim run`, or a sweep.db"
    )
    plot.add_argument(
        "--plots",
        type=Path,
        help="where figures go (default RESULTS_DIR/plots, or plots/ beside a sweep.db)",
    )
    plot.add_argument("--x", help="sweep: the swept key on the x axis")
    plot.add_argument("--y", help="sweep: the metric (or, with --z, a second swept key)")
    plot.add_argument("--hue", help="sweep: one line per value of this swept key")
    plot.add_argument("--z", help="sweep: the metric of a heatmap over --x and --y")
    plot.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="sweep: keep only points with this value of a swept key (repeatable)",
    )
    plot.add_argument("--out", type=Path, help="sweep: the PNG to write")
    plot.set_defaults(handler=_plot)

    sweep = commands.add_parser(
        "sweep",
        help="run a sweep: a scenario plus a [sweep] table of dotted keys -> lists",
        description="Runs every point of the sweep not yet in its store; re-running the same "
        "command resumes an interrupted sweep.",
    )
    sweep.add_argument("sweep", type=Path, help="sweep TOML file")
    sweep.add_argument("--jobs", type=int, help="worker processes (default: the number of cores)")
    sweep.add_argument("--executor", choices=("local", "dask"), default="local")
    sweep.add_argument(
        "--scheduler", help="dask.distributed scheduler address (default: a LocalCluster)"
    )
    sweep.add_argument("--store", type=Path, help="SQLite store (default results/<name>/sweep.db)")
    sweep.add_argument("--status", action="store_true", help="summarise the store; run nothing")
    invalid = sweep.add_mutually_exclusive_group()
    invalid.add_argument(
        "--skip-invalid", action="store_true", help="skip points the scenario rejects"
    )
    invalid.add_argument(
        "--fail-invalid", action="store_true", help="refuse to run if any point is invalid"
    )
    sweep.add_argument(
        "--retry-failed", action="store_true", help="run the points that failed before again"
    )
    sweep.add_argument(
        "--plots", type=Path, help="where the sweep's figures go (default plots/ beside the store)"
    )
    sweep.add_argument("--no-plot", action="store_true", help="do not draw [[sweep.plots]]")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=_sweep)

    export = commands.add_parser("export", help="a sweep store as a tidy CSV table")
    export.add_argument("store", type=Path, help="a sweep.db written by `netsim sweep`")
    export.add_argument("--csv", type=Path, required=True, help="the CSV file to write")
    export.set_defaults(handler=_export)
    from .search.command import register as register_search

    register_search(commands)
    return parser


def _load(args: argparse.Namespace) -> Scenario:
    scenario = load_scenario(args.scenario)
    overrides = dict(_parse_override(item) for item in args.overrides)
    if getattr(args, "seed", None) is not None:
        overrides["seed"] = args.seed
    return scenario.with_overrides(overrides) if overrides else scenario


def _parse_override(item: str, flag: str = "--set") -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ScenarioError(flag, "expects KEY=VALUE", item, "e.g. protocol.rounds=50")
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        value = text  # a bare word is a string: --set protocol.filter=none
    return key.strip(), value


def _run(args: argparse.Namespace) -> int:
    from .plots import draw_all
    from .run import run

    scenario = _load(args)
    expected = _expected_fingerprint(args.verify) if args.verify is not None else None
    out = check_output_dir("--out", args.out or Path("results") / scenario.name)
    plots = None if args.no_plot else check_output_dir("--plots", args.plots or out / "plots")
    result = run(
        scenario, out=out, progress=False if args.quiet else None, command=["netsim", *sys.argv[1:]]
    )
    for name, variant in result.summary["variants"].items():
        timing = ""
        if variant["clock"] != "server":
            timing = f", {variant['clock']} clock, {variant['late_honest']} honest values late"
        print(
            f"{name:>20}: final max distance to the optimum {variant['final_distance']:.3e} "
            f"after {variant['rounds']} rounds, {_seconds(variant['sim_time_end'])} simulated s, "
            f"{variant['messages_sent']} messages{timing}"
        )
    written = [name for name in RUN_FILES if (out / name).is_file()]
    print(f"results: {out}/ ({', '.join(written)})")
    if plots is not None:
        timing = args.timing_plots or scenario.timing_plots
        messages = result.messages if timing else None
        if timing and messages is None:
            print(
                "warning: no timing plots: the message trace is off (set trace = true)",
                file=sys.stderr,
            )
        for path in draw_all(result.summary, result.metrics, result.staleness, plots, messages):
            print(f"plot: {path}")
    if result.replaced:
        gone = [name for name in result.replaced if not (out / name).exists()]
        print(
            f"replaced the earlier run in {out}/"
            + (f" (removed its {', '.join(gone)}, which this run does not write)" if gone else "")
        )
    print(f"trace hash: {result.summary['trace_hash']}")
    ran = sorted(set(result.manifest["engines"].values()))
    print(f"engine: {', '.join(ran)} (asked: {result.manifest['engine']})")
    if expected is not None:
        return _verify(result.fingerprint, expected, args.verify)
    return 0


def _expected_fingerprint(text: str) -> dict[str, Any]:
    """``--verify``: a trace hash, a fingerprint.json, or a results directory holding one."""
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return {"trace_hash": text.lower()}
    path = Path(text)
    if path.is_dir():
        path = path / "fingerprint.json"
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ScenarioError(
            "--verify",
            f"is neither a trace hash nor a readable fingerprint.json ({error})",
            text,
            "64 hex digits, a fingerprint.json, or a results directory",
        ) from None
    if not isinstance(document, dict) or "trace_hash" not in document:
        raise ScenarioError(
            "--verify", "has no trace_hash", str(path), "a fingerprint.json written by netsim run"
        )
    return document


def _verify(ours: dict[str, Any], expected: dict[str, Any], source: str) -> int:
    from .fingerprint import first_difference

    if ours["trace_hash"] == expected["trace_hash"]:
        print(f"verify: OK, the trace hash matches {source}")
        return 0
    print(f"verify: FAILED, trace hash {ours['trace_hash']}, expected {expected['trace_hash']}")
    if "variants" in expected:
        print(f"verify: {first_difference(ours, expected)}")
    else:
        print(
            "verify: to see the first round and field that differ, pass the other run's "
            "fingerprint.json (or its results directory) instead of the hash"
        )
    return 1


def _validate(args: argparse.Namespace) -> int:
    from .theory import cgc_constants, check_redundancy, cost_constants

    if "sweep" in read_toml(args.scenario):
        return _validate_sweep(args)
    scenario = _load(args)
    runs = scenario.runs()
    search = None
    if "search" in scenario.raw:  # checked before anything is printed
        from .search.runner import prepare_search, resolve_settings

        settings = resolve_settings(scenario.raw["search"])
        description = prepare_search(scenario, settings, "search.objective")[3]
        search = (
            f"  search: {settings.method}, budget {settings.budget}, objective "
            f"{settings.objective}: {description}"
        )
    net = scenario.network
    print(f"{scenario.source}: valid scenario {scenario.name!r}")
    print(
        f"  n = {net.n}, f = {net.f}, Byzantine = {list(net.byzantine)}, d = {scenario.dim}, "
        "2f < n holds"
    )
    for name, sc in runs:
        proto = sc.protocol
        deadline = (
            f"none, {proto.deadline_rule}"
            if proto.deadline is None
            else f"{proto.deadline:g} s from {proto.deadline_rule}"
        )
        mode = (
            f"absent = {proto.absent}"
            if proto.kind == "ce"
            else f"mode {proto.mode}"
            + (f", trigger {proto.trigger}" if proto.mode == "async" else "")
        )
        print(
            f"  variant {name!r}: protocol {proto.kind}, filter {proto.filter}, "
            f"{proto.rounds} rounds, delay {sc.network.delay.name}, deadline {deadline}, "
            f"{mode}, step {proto.step_size.name} (eta_0 = {proto.step_size(0):.4g})"
        )
        for line in _clock_lines(sc):
            print(f"    {line}")
    if search is not None:
        print(search)
    honest = [scenario.costs.costs[i] for i in net.honest]
    report = check_redundancy(honest, net.n, net.f)
    print(f"  2f-redundancy: {'holds' if report.holds else 'FAILS'}: {report.explain()}")
    constants = cost_constants(honest)
    print(
        f"  honest costs: L = {constants.lipschitz:.6g} (gradient Lipschitz), "
        f"gamma = {constants.strong_convexity:.6g} (strong convexity of the mean), "
        f"L/gamma = {constants.condition_number:.4g}, f/(n - f) = {net.f / (net.n - net.f):.4g}"
    )
    if any(sc.protocol.kind == "cgc" for _, sc in runs):
        cgc = cgc_constants(honest, net.n, net.f)
        print(
            f"  CGC (Theorem 2): mu = {cgc.mu:.6g}, lambda = {cgc.lam:.6g}, "
            f"alpha = lambda/(3 mu) - f/n = {cgc.alpha:.6g}, "
            f"eta_bar = 6 alpha/(n mu) = {cgc.eta_bar:.6g}"
        )
        for name, sc in runs:
            proto = sc.protocol
            if proto.kind != "cgc" or proto.step_size.name != "constant" or proto.mode != "sync":
                continue
            eta = proto.step_size(0)
            covered = report.holds and proto.filter == "cgc" and cgc.covers(eta)
            print(
                f"    {name!r}: eta = {eta:.6g}, rho = 1 - (n mu)^2 eta (eta_bar - eta) = "
                f"{cgc.rho(eta):.6g}: Theorem 2 {'covers' if covered else 'does NOT cover'} "
                "this run"
            )
    return 0


def _clock_lines(scenario: Scenario) -> list[str]:
    """What `netsim validate` says about a run's round clock and whether it is synchronous."""
    from .simulation import lockstep_check

    proto, net = scenario.protocol, scenario.network
    if proto.kind == "cgc":
        return [
            "clock: the server's own (every reply is due at the server's deadline, counted from "
            "its request; agents keep no rounds, so round starts cannot drift apart)",
            *_server_deadline_lines(scenario),
        ]
    if proto.clock == "event":
        return [
            "clock: event (each agent ends a round at its last arrival or its own deadline); "
            "round starts may drift apart, so a value within the delay bound can still be late: "
            "not the papers' synchronous rounds"
        ]
    assert proto.round_length is not None
    lines = [
        f"clock: lock-step, D = {proto.round_length:.6g} s ({proto.round_length_rule}); round r "
        "of every agent ends at (r + 1) D on its own clock"
    ]
    if net.clocks is not None:
        lines.append(
            f"clocks: offsets within +-{net.clocks.offset:g} s, drifts within "
            f"+-{net.clocks.drift:g} (worst skew between honest clocks over the run "
            f"{proto.round_clock.skew(net.honest, proto.rounds):.6g} s)"
        )
    check = lockstep_check(scenario)
    assert check is not None
    if check.holds is None:
        lines.append(f"no guarantee that honest values arrive in their round: {check.reason}")
        return lines
    after = "sent after GST " if net.asynchrony is not None and net.asynchrony.gst > 0 else ""
    covers = f"the bound {check.bound:.6g} s, compute {max(net.compute_time):.6g} s"
    if net.clocks is not None:
        covers += " and the clock skew"
    if check.tight:
        lines.append(
            f"at the limit: D covers {covers} only up to the rounding of the times (worst margin "
            f"{check.margin:.3g} s), so a value that takes exactly the bound can be late; set "
            f"protocol.round_length >= {check.required:.10g} s"
        )
    elif check.holds:
        lines.append(
            f"guaranteed: no honest value {after}is late (D covers {covers}; worst margin "
            f"{check.margin:.3g} s)"
        )
    else:
        lines.append(
            f"NOT guaranteed: an honest value {after}can be late by up to {-check.margin:.3g} s "
            f"(D does not cover {covers})"
        )
    if net.clocks is not None:
        need = (
            f"protocol.round_length >= {check.required:.6g} s"
            if math.isfinite(check.required)
            else "no round length: the drift outgrows any D over this many rounds"
        )
        lines.append(f"for any clocks within these bounds: {need}")
    elif not check.holds and not check.tight:
        lines.append(f"set protocol.round_length >= {check.required:.10g} s")
    return lines


def _server_deadline_lines(scenario: Scenario) -> list[str]:
    """Synchronous CGC: whether the deadline covers a round trip, 2 x bound + compute (an
    honest agent is idle when a request reaches it: the server moved on only once every reply
    was in or the previous deadline passed)."""
    proto, net = scenario.protocol, scenario.network
    if proto.mode != "sync" or proto.deadline is None:
        return []
    if net.asynchrony is not None:
        bound, when = net.asynchrony.delta, " sent after GST"
    elif math.isfinite(net.delay.upper_bound) and net.loss == 0:
        bound, when = net.delay.upper_bound, ""
    else:
        return ["no guarantee that honest replies arrive in their round: delays are unbounded"]
    trip = 2 * bound + max(net.compute_time[i] for i in net.honest)
    if proto.deadline >= trip:
        return [
            f"guaranteed: no honest reply{when} is late (deadline "
            f"{proto.deadline:.6g} s >= 2 x bound + compute = {trip:.6g} s)"
        ]
    return [
        f"NOT guaranteed: an honest reply{when} can be late (deadline {proto.deadline:.6g} s "
        f"< 2 x bound + compute = {trip:.6g} s)"
    ]


def _validate_sweep(args: argparse.Namespace) -> int:
    from .sweep import load_sweep

    if args.overrides:
        raise ScenarioError("--set", "not supported for sweep files", args.overrides, "none")
    sweep = load_sweep(args.scenario)
    total = len(sweep.points) + len(sweep.invalid)
    print(f"{args.scenario}: valid sweep {sweep.name!r}: {total} points")
    for key, values in sweep.values.items():
        print(f"  {key}: {len(values)} values: {values}")
    print(f"  seeds: {list(sweep.seeds)}")
    if sweep.invalid:
        print(sweep.invalid_report())
        if sweep.on_invalid == "fail":
            print(
                'error: sweep.on_invalid: invalid points are fatal (set on_invalid = "skip" or '
                "pass --skip-invalid to netsim sweep)",
                file=sys.stderr,
            )
            return 2
        print(f"  on_invalid = skip: {len(sweep.points)} points will run")
    return 0


def _plot(args: argparse.Namespace) -> int:
    if args.results.is_file():
        return _plot_sweep(args)
    from .plots import plot_results_dir

    given = [flag for flag in ("x", "y", "hue", "z", "out") if getattr(args, flag)]
    if given or args.where:
        flags = ", ".join(f"--{flag}" for flag in given + (["where"] if args.where else []))
        raise ScenarioError(
            flags,
            "only plot a sweep store; a run's figures are fixed",
            str(args.results),
            "a sweep.db with --x/--y, or a results directory alone",
        )
    plots = check_output_dir("--plots", args.plots or args.results / "plots")
    for path in plot_results_dir(args.results, plots):
        print(f"plot: {path}")
    return 0


def _plot_sweep(args: argparse.Namespace) -> int:
    from .sweep import plot_sweep

    if not args.x or not args.y:
        raise ScenarioError(
            "--x/--y", "a sweep plot needs both", None, "--x KEY --y METRIC [--hue KEY]"
        )
    where = dict(_parse_override(item, "--where") for item in args.where)
    plots = check_output_dir("--plots", args.plots or args.results.parent / "plots")
    path = plot_sweep(args.results, args.x, args.y, args.hue, args.z, where, args.out, plots)
    print(f"plot: {path}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from .sweep import default_store, load_sweep, run_sweep

    choice = "skip" if args.skip_invalid else "fail" if args.fail_invalid else None
    sweep = load_sweep(args.sweep, on_invalid=choice)
    store = args.store or default_store(sweep)
    if args.status:
        return _sweep_status(sweep, store)
    plots = (
        None if args.no_plot else check_output_dir("--plots", args.plots or store.parent / "plots")
    )
    if sweep.invalid:
        print(sweep.invalid_report(), file=sys.stderr)
    skipped = f", {len(sweep.invalid)} invalid skipped" if sweep.invalid else ""
    print(
        f"{sweep.name}: {len(sweep.points)} points ({len(sweep.keys)} swept keys x "
        f"{len(sweep.seeds)} seeds{skipped})"
    )
    outcome = run_sweep(
        sweep,
        store,
        jobs=args.jobs,
        executor=args.executor,
        scheduler=args.scheduler,
        retry_failed=args.retry_failed,
        progress=False if args.quiet else None,
    )
    print(
        f"ran {outcome.done + outcome.failed} points: {outcome.done} done, {outcome.failed} "
        f"failed; {outcome.already} were already in the store"
    )
    print(f"store: {outcome.store}")
    if outcome.failed:
        print(
            f"warning: {outcome.failed} points failed: see `netsim sweep {args.sweep} --status`; "
            "their tracebacks are in the store",
            file=sys.stderr,
        )
    if plots is not None:
        from .sweep import plot_sweep

        for spec in sweep.plots:
            print(f"plot: {plot_sweep(outcome.store, plots=plots, **spec)}")
    print(f"export: netsim export {outcome.store} --csv {outcome.store.with_suffix('.csv')}")
    return 1 if outcome.failed else 0


def _sweep_status(sweep: Any, store: Path) -> int:
    from .sweep import SweepStore

    if not store.is_file():
        print(f"{sweep.name}: {len(sweep.points)} points, none run yet (no store at {store})")
        return 0
    with SweepStore(store, create=False) as db:
        rows = list(db.points())
    by_id = {row.point_id: row for row in rows}
    done = [p for p in sweep.points if p.point_id in by_id and by_id[p.point_id].status == "done"]
    failed = [
        p for p in sweep.points if p.point_id in by_id and by_id[p.point_id].status == "failed"
    ]
    missing = len(sweep.points) - len(done) - len(failed)
    wall = sum(row.wall_s or 0.0 for row in rows)
    print(
        f"{sweep.name}: {len(sweep.points)} points: {len(done)} done, {len(failed)} failed, "
        f"{missing} missing; {len(sweep.invalid)} invalid (not run); "
        f"{wall:.1f} s of worker time so far"
    )
    print(f"store: {store}")
    for point in failed[:10]:
        error = (by_id[point.point_id].error or "").strip().splitlines()
        print(f"  failed: {point.params | {'seed': point.seed}}: {error[-1] if error else '?'}")
    if len(failed) > 10:
        print(f"  ... and {len(failed) - 10} more (netsim export ... --csv has them all)")
    if missing or failed:
        hint = " --retry-failed" if failed else ""
        print(f"resume: netsim sweep {sweep.source}{hint}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .sweep import export_csv

    rows = export_csv(args.store, args.csv)
    print(f"{rows} rows: {args.csv}")
    return 0


def _seconds(value: float) -> str:
    """A simulated time for a summary line: 3 decimals, or 4 significant digits when huge."""
    return f"{value:.3f}" if abs(value) < 1e9 else f"{value:.4g}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
