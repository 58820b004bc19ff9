"""``netsim search``: settings, the library comparison, the search itself, the worst case.

One search = (1) every hand-written attack of the registry (and, when delays are searched, the
hand-written schedules "every message at Delta" and "no delay"; when lags are, the parametric
attack with no hold-back and with every lag at Delta; when clock offsets are, perfect offsets)
on the same base scenario, through the same executor; (2) the method's evaluations; (3) the
worst evaluation written as a plain scenario, loaded back from that file and run again to check
that it replays to the same objective, bit for bit; (4) search.json and the plots
(:mod:`netsim.search.report`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..adversaries import ADVERSARIES
from ..checks import as_choice, as_int
from ..config import Scenario, load_scenario, parse_scenario
from ..errors import ScenarioError
from .exhaustive import ExhaustiveCount, exhaustive_search
from .methods import (
    METHODS,
    Evaluator,
    differential_evolution_search,
    random_search,
    vertex_polish,
)
from .objectives import check_objective, needs_trace
from .space import (
    LagSpace,
    OffsetSpace,
    SearchSpace,
    build_space,
    part_of,
    require_delta,
    space_name,
    space_parts,
)

SEARCH_KEYS = (
    "objective",
    "budget",
    "method",
    "space",
    "seed",
    "pattern",
    "phases",
    "per_receiver",
    "radius_max",
    "frame",
    "lag_phases",
    "warm_start",
    "polish",
)
SPACE_OPTIONS = ("pattern", "phases", "per_receiver", "radius_max", "frame", "lag_phases")
DEFAULTS: dict[str, Any] = {
    "objective": "final_distance",
    "budget": 100,
    "method": "random",
    "space": "byzantine",
    "seed": 0,
    "warm_start": False,
    "polish": False,
}
OWN_FAMILY = "parametric"  # the search's own family, not a hand-written attack


@dataclass(frozen=True)
class SearchSettings:
    """What to search, resolved from the ``[search]`` table and the command line (which wins)."""

    objective: str
    budget: int
    method: str
    space: str
    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)  # the space's parameters
    warm_start: bool = False  # start from the hand-written cases that are points of the space
    polish: bool = False  # spend a quarter of the budget on a greedy search over range ends


def resolve_settings(table: Any, flags: Mapping[str, Any] | None = None) -> SearchSettings:
    """``[search]`` (``table``) overridden by command-line ``flags`` (None values ignored).
    Errors name ``--flag`` for a flag and ``search.key`` for the file."""
    if table is None:
        table = {}
    if not isinstance(table, Mapping):
        raise ScenarioError("search", "must be a table", table, "a [search] table")
    for key in table:
        if key not in SEARCH_KEYS:
            raise ScenarioError(f"search.{key}", "unknown key", table[key], ", ".join(SEARCH_KEYS))
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for key in DEFAULTS:
        if key in given:
            values[key], where[key] = given[key], f"--{key}"
        else:
            values[key], where[key] = table.get(key, DEFAULTS[key]), f"search.{key}"
    if isinstance(values["budget"], bool) or not isinstance(values["budget"], int):
        raise ScenarioError(where["budget"], "must be an integer", values["budget"], ">= 1")
    budget = as_int(values["budget"], where["budget"], low=1)
    seed = as_int(values["seed"], where["seed"], low=0)
    method = as_choice(values["method"], where["method"], METHODS)
    space = space_name(values["space"], where["space"])
    if not isinstance(values["objective"], str):
        raise ScenarioError(where["objective"], "must be a name", values["objective"], "a name")
    for flag in ("warm_start", "polish"):
        if not isinstance(values[flag], bool):
            raise ScenarioError(where[flag], "must be true or false", values[flag], "true | false")
    options = {k: table[k] for k in SPACE_OPTIONS if k in table}
    return SearchSettings(
        values["objective"],
        budget,
        method,
        space,
        seed,
        options,
        values["warm_start"],
        values["polish"],
    )


@dataclass
class SearchResult:
    """What a search found, and against what."""

    scenario: str
    settings: SearchSettings
    space: str  # a description of the space searched
    dimensions: list[str]
    history: list[dict[str, Any]]
    best_index: int  # into history
    best_value: float
    worst_raw: dict[str, Any]  # the worst case, as a scenario dict
    library: dict[str, dict[str, Any]]  # label -> {"status", "value", ...}
    library_raws: dict[str, dict[str, Any]]
    method_info: dict[str, Any]
    exhaustive: ExhaustiveCount | None
    wall_time_s: float
    out: Path | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def library_best(self) -> tuple[str, float] | None:
        """(label, value) of the worst hand-written case for the honest side."""
        done = [(v["value"], k) for k, v in self.library.items() if v["status"] == "done"]
        if not done:
            return None
        value, label = max(done, key=lambda item: item[0])
        return label, value


def base_raw(scenario: Scenario, objective: str) -> dict[str, Any]:
    """The scenario the search varies: the file's, without ``[search]`` and variants."""
    raw = copy.deepcopy(scenario.raw)
    raw.pop("search", None)
    raw.pop("variants", None)
    if needs_trace(objective):
        raw["trace"] = True
    return raw


def library_cases(
    scenario: Scenario, raw: dict[str, Any], space: str, searched: SearchSpace | None = None
) -> dict[str, dict]:
    """The hand-written cases: the scenario as written, every registered attack with its default
    parameters (Byzantine agents only), and, for a delay search, the schedules "every message at
    Delta" and "no delay" (the scenario's adversary); for a lag search, the parametric attack
    the lags apply to with no hold-back and with every lag at Delta; for an offset search,
    perfect offsets (every eps_i = 0)."""
    parts = space_parts(space)
    cases = {"as written": copy.deepcopy(raw)}
    if scenario.network.byzantine:
        delivery = (raw.get("adversary") or {}).get("delivery")
        for kind in ADVERSARIES.names():
            if kind == OWN_FAMILY:
                continue
            case = copy.deepcopy(raw)
            case["adversary"] = {"kind": kind, **({"delivery": delivery} if delivery else {})}
            cases[f"attack {kind}"] = case
    if "delays" in parts:
        delta = require_delta(scenario, "a delay search")
        for label, value in (("every delay = Delta", delta), ("every delay = 0", 0.0)):
            case = copy.deepcopy(raw)
            case["network"]["delay"] = {"model": "constant", "value": value}
            cases[label] = case
    lags = None if searched is None else part_of(searched, LagSpace)
    if lags is not None:
        size = len(lags.dimensions)
        for label, value in (("no hold-back", 0.0), ("every lag = Delta", lags.delta)):
            cases[f"parametric, {label}"] = lags.apply(raw, [value] * size)
    offsets = None if searched is None else part_of(searched, OffsetSpace)
    if offsets is not None:
        cases["every clock offset = 0"] = offsets.apply(raw, [0.0] * len(offsets.dimensions))
    return cases


def prepare_search(
    scenario: Scenario, settings: SearchSettings, objective_key: str = "--objective"
) -> tuple[dict[str, Any], Scenario, SearchSpace | None, str]:
    """Check a search before anything runs: the base scenario it varies, its objective and its
    space (None for the exhaustive method). Returns (raw base, base, space, description); raises
    ScenarioError naming the key. ``netsim validate`` calls it too."""
    raw = base_raw(scenario, settings.objective)
    base = parse_scenario(raw, source=scenario.source)
    check_objective(settings.objective, base, objective_key)
    if settings.method == "exhaustive":
        from .exhaustive import exhaustive_count

        exhaustive_count(base)  # refuses what the mode cannot do
        return raw, base, None, "every delivery class of round 0 (exhaustive)"
    space = build_space(base, settings.space, settings.options)
    return raw, base, space, space.describe()


def run_search(
    scenario: Scenario | str | Path,
    settings: SearchSettings | None = None,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    out: str | Path | None = None,
    plots: str | Path | bool | None = True,
    progress: bool | None = None,
    command: list[str] | None = None,
    compare: bool = True,
) -> SearchResult:
    """Search ``scenario``'s space for the run that maximizes the objective (module docstring).

    ``settings`` default to the scenario's ``[search]`` table. With ``out`` (default
    ``results/<name>_search``) the worst case, search.json and the worst run's results are
    written there and the figures to ``plots`` (True: ``<out>/plots``; None or False: no
    figures). ``compare = False`` skips the
    hand-written library (the command line always runs it). Raises ScenarioError for bad input,
    before anything runs.
    """
    from .report import write_report

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if settings is None:
        settings = resolve_settings(scenario.raw.get("search"))
    started = time.perf_counter()
    raw, base, space, description = prepare_search(scenario, settings)
    dimensions = [] if space is None else [d.name for d in space.dimensions]
    library_space = "delays" if settings.method == "exhaustive" else settings.space
    cases = library_cases(base, raw, library_space, space) if compare else {}

    evaluator = Evaluator(settings.objective, jobs, executor, scheduler, progress)
    method_info: dict[str, Any] = {}
    exhaustive: ExhaustiveCount | None = None
    with evaluator:
        planned = settings.budget
        if settings.method == "exhaustive":
            from .exhaustive import exhaustive_count

            planned = exhaustive_count(base).classes
        evaluator.start(len(cases) + planned, f"{scenario.name} search")
        library_results = evaluator.run(list(cases.values())) if cases else []
        library = {
            label: {
                "status": r["status"],
                "value": r.get("value"),
                "final_distance": r.get("final_distance"),
                **({"error": r["error"].strip().splitlines()[-1]} if "error" in r else {}),
            }
            for label, r in zip(cases, library_results)
        }
        evaluator.best = None  # the bar shows the search's best, not the library's
        known = space.known_points() if space is not None and settings.warm_start else {}
        polish = settings.budget // 4 if settings.polish and settings.method != "exhaustive" else 0
        budget = settings.budget - polish
        if settings.method == "random":
            assert space is not None
            random_search(space, raw, evaluator, budget, settings.seed, list(known.values()))
            method_info = {"warm_start": list(known)}
        elif settings.method == "de":
            assert space is not None
            method_info = differential_evolution_search(
                space, raw, evaluator, budget, settings.seed, list(known.values())
            )
            method_info["warm_start"] = list(known)
        else:
            exhaustive = exhaustive_search(base, raw, evaluator)
            method_info = {
                "classes": exhaustive.classes,
                "interleavings": exhaustive.interleavings,
                "receivers": list(exhaustive.receivers),
            }
        if polish:
            assert space is not None
            method_info.update(vertex_polish(space, raw, evaluator, polish))
    done = [k for k, h in enumerate(evaluator.history) if h["status"] == "done"]
    if not done:
        first = evaluator.history[0] if evaluator.history else {}
        raise ScenarioError(
            "scenario",
            "every evaluation of the search failed; the first error: "
            + str(first.get("error", "none")).strip().splitlines()[-1],
            scenario.name,
            "a scenario that runs",
        )
    best = max(done, key=lambda k: (evaluator.history[k]["value"], -k))
    result = SearchResult(
        scenario=scenario.name,
        settings=settings,
        space=description,
        dimensions=dimensions,
        history=evaluator.history,
        best_index=best,
        best_value=float(evaluator.history[best]["value"]),
        worst_raw=evaluator.raws[best],
        library=library,
        library_raws=cases,
        method_info=method_info,
        exhaustive=exhaustive,
        wall_time_s=time.perf_counter() - started,
    )
    target = Path(out) if out is not None else Path("results") / f"{scenario.name}_search"
    if plots is True:
        plots = target / "plots"
    write_report(result, target, Path(plots) if plots else None, command)
    return result
