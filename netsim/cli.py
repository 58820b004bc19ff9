"""The ``netsim`` command (spec/interface.md): parse, call, print. Exit 2 on invalid input."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from .config import Scenario, load_scenario, tomllib
from .errors import ScenarioError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
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
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


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
    run.add_argument(
        "--plots", type=Path, default=Path("plots"), help="where the figures go (default plots/)"
    )
    run.add_argument("--no-plot", action="store_true", help="write results only")
    run.add_argument(
        "--timing-plots",
        action="store_true",
        help="also draw the timing plots (message sequence, timeline, latency, "
        "filter decisions); same as timing_plots = true in the scenario",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a scenario without running it")
    validate.add_argument("scenario", type=Path)
    validate.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE"
    )
    validate.set_defaults(handler=_validate)

    plot = commands.add_parser("plot", help="redraw the plots of a finished run from its files")
    plot.add_argument("results", type=Path, help="a results directory written by `netsim run`")
    plot.add_argument("--plots", type=Path, default=Path("plots"))
    plot.set_defaults(handler=_plot)
    return parser


def _load(args: argparse.Namespace) -> Scenario:
    scenario = load_scenario(args.scenario)
    overrides = dict(_parse_override(item) for item in args.overrides)
    if getattr(args, "seed", None) is not None:
        overrides["seed"] = args.seed
    return scenario.with_overrides(overrides) if overrides else scenario


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ScenarioError("--set", "expects KEY=VALUE", item, "e.g. protocol.rounds=50")
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        value = text  # a bare word is a string: --set protocol.filter=none
    return key.strip(), value


def _run(args: argparse.Namespace) -> int:
    from .plots import draw_all
    from .run import run

    scenario = _load(args)
    out = args.out or Path("results") / scenario.name
    result = run(
        scenario, out=out, progress=False if args.quiet else None, command=["netsim", *sys.argv[1:]]
    )
    for name, variant in result.summary["variants"].items():
        print(
            f"{name:>20}: final max distance to the optimum {variant['final_distance']:.3e} "
            f"after {variant['rounds']} rounds, {variant['sim_time_end']:.3f} simulated s, "
            f"{variant['messages_sent']} messages"
        )
    print(
        f"results: {out}/ (summary.json, metrics.csv, manifest.json"
        f"{', messages.csv' if result.messages is not None else ''})"
    )
    if not args.no_plot:
        timing = args.timing_plots or scenario.timing_plots
        messages = result.messages if timing else None
        if timing and messages is None:
            print(
                "warning: no timing plots: the message trace is off (set trace = true)",
                file=sys.stderr,
            )
        for path in draw_all(
            result.summary, result.metrics, result.staleness, args.plots, messages
        ):
            print(f"plot: {path}")
    print(f"trace hash: {result.summary['trace_hash']}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .theory import cgc_constants, check_redundancy, cost_constants

    scenario = _load(args)
    runs = scenario.runs()
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


def _plot(args: argparse.Namespace) -> int:
    from .plots import plot_results_dir

    for path in plot_results_dir(args.results, args.plots):
        print(f"plot: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
