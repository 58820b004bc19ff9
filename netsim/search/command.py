"""The ``netsim search`` subcommand (registered by :mod:`netsim.cli`): parse, call, print."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .methods import METHODS
from .objectives import OBJECTIVES
from .space import SPACES


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``netsim search`` to the ``netsim`` command's subparsers."""
    search = commands.add_parser(
        "search",
        help="search delay schedules / Byzantine strategies for the worst run",
        description="Search a parametrized space (delay schedules within the declared Delta, "
        "a parametric Byzantine family, its per-receiver send lags within Delta, the lock-step "
        "clock offsets within eps, or several of them) for the run that maximizes an objective; "
        "compare it with every hand-written attack; write the worst case as a scenario that "
        "`netsim run` replays exactly. Defaults come from the scenario's [search] table; "
        "flags override them.",
    )
    search.add_argument(
        "scenario", type=Path, help="scenario TOML file (with an optional [search])"
    )
    search.add_argument("--objective", help=f"what to maximize: {', '.join(OBJECTIVES)}")
    search.add_argument(
        "--budget",
        type=int,
        help="evaluations (runs), >= 1; DE uses at most this many; exhaustive ignores it",
    )
    search.add_argument("--method", help=f"{' | '.join(METHODS)} (exhaustive: CE, n <= 4)")
    search.add_argument(
        "--space",
        help=f"{' | '.join(SPACES)}, or parts joined with + (e.g. byzantine+lags, lags+offsets)",
    )
    search.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted key of the scenario before searching, as netsim run --set "
        '(e.g. --set protocol.clock=lockstep, --set name="other"; search.* keys too)',
    )
    search.add_argument("--seed", type=int, help="the search's seed (default 0)")
    search.add_argument(
        "--warm-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start from the hand-written cases that are points of the space (default: the "
        "scenario's search.warm_start, else no)",
    )
    search.add_argument(
        "--polish",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="spend a quarter of the budget on a greedy search over the ends of the ranges "
        "(delay or lag 0 or Delta, radius 0 or 1, clock offset -eps or eps) from the best point "
        "(default: search.polish, else no)",
    )
    search.add_argument("--jobs", type=int, help="worker processes (default: the number of cores)")
    search.add_argument("--executor", choices=("local", "dask"), default="local")
    search.add_argument(
        "--scheduler", help="dask.distributed scheduler address (default: a LocalCluster)"
    )
    search.add_argument(
        "--out", type=Path, help="results directory (default results/<name>_search)"
    )
    search.add_argument("--plots", type=Path, help="where the figures go (default <out>/plots)")
    search.add_argument("--no-plot", action="store_true", help="write results only")
    search.add_argument("--quiet", action="store_true", help="no progress bar")
    search.set_defaults(handler=_search)


def _search(args: argparse.Namespace) -> int:
    from ..cli import _parse_override
    from ..config import load_scenario
    from .runner import resolve_settings, run_search

    scenario = load_scenario(args.scenario)
    if args.overrides:
        scenario = scenario.with_overrides(dict(_parse_override(item) for item in args.overrides))
    flags = {
        "objective": args.objective,
        "budget": args.budget,
        "method": args.method,
        "space": args.space,
        "seed": args.seed,
        "warm_start": args.warm_start,
        "polish": args.polish,
    }
    settings = resolve_settings(scenario.raw.get("search"), flags)
    result = run_search(
        scenario,
        settings,
        jobs=args.jobs,
        executor=args.executor,
        scheduler=args.scheduler,
        out=args.out,
        plots=None if args.no_plot else (args.plots or True),
        progress=False if args.quiet else None,
        command=["netsim", *sys.argv[1:]],
    )
    runs = len(result.history)
    extra = ""
    if result.exhaustive is not None:
        extra = (
            f" ({result.exhaustive.classes} delivery classes of round 0, standing for "
            f"{result.exhaustive.interleavings} interleavings)"
        )
    print(
        f"{result.scenario}: {settings.method} search of {result.space}: {runs} evaluations"
        f"{extra}, worst {settings.objective} = {result.best_value:.6g}"
    )
    print("hand-written cases (same scenario, same executor):")
    for label, entry in sorted(
        result.library.items(),
        key=lambda item: -(item[1]["value"] if item[1]["value"] is not None else -1e308),
    ):
        shown = (
            f"{entry['value']:.6g}" if entry["status"] == "done" else f"failed: {entry['error']}"
        )
        print(f"  {label:>28}: {shown}")
    best = result.library_best
    if best is not None:
        verdict = "beats" if result.best_value > best[1] else "does not beat"
        print(
            f"the search {verdict} the library: {result.best_value:.6g} vs {best[1]:.6g} "
            f"({best[0]})"
        )
    for path in result.files:
        print(f"{'plot' if path.suffix == '.png' else 'file'}: {path}")
    print(f"replay: netsim run {result.out}/worst.toml")
    return 0
