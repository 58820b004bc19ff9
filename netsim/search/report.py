"""What a search leaves behind (in ``--out``, default ``results/<name>_search/``):

- ``worst.toml``: the worst case found, a plain scenario (``netsim run worst.toml`` replays it);
  it is loaded back from the file and run again here, and the replay must give the reported
  objective exactly (==), or the search stops with an error: that would be a bug.
- ``worst/``, ``library_best/`` and ``as_written/``: the results files of that replay, of the
  worst hand-written case and of the scenario as written (summary.json, metrics.csv, ...), from
  which the figures are drawn;
- ``search.json``: method, budget, seed, objective, the space, every evaluation (history), the
  library's values and the comparison;
- figures (``--plots``, default ``plots/``): ``<name>_progress.png`` (best so far vs evaluations,
  with the library's best as a labelled horizontal line) and ``<name>_worst.png`` (the worst
  run's error vs simulated time, with the library's worst and the scenario as written).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..config import load_scenario, parse_scenario
from ..results import read_metrics
from ..run import run
from .objectives import objective_value
from .tomlfile import dumps

if TYPE_CHECKING:
    from .runner import SearchResult

UNITS = {
    "final_distance": "final distance to the optimum",
    "max_honest_staleness": "largest honest staleness (rounds)",
    "byzantine_influence": "share of receiver-rounds with a Byzantine value kept",
    "theorem2_ratio": r"max$_t$ $\|w_t - w^*\|^2 / (\rho^t \|w_0 - w^*\|^2)$",
    "late_honest_after_gst": "honest values late, sent at or after GST (count)",
}
COUNTS = ("late_honest_after_gst",)  # objectives that count events: integer ticks
FLOOR = 1e-17


def objective_label(objective: str) -> str:
    if objective.startswith("time_to_"):
        eps = objective.removeprefix("time_to_")
        return f"time to {eps} accuracy (simulated s; unreached: 2 x end time)"
    return UNITS[objective]


class ReplayMismatch(RuntimeError):
    """The worst case, run again from its file, did not give the reported objective."""


def write_report(
    result: SearchResult, out: Path, plots: Path | None, command: list[str] | None
) -> None:
    """Write every file of the module docstring; check the replay."""
    out.mkdir(parents=True, exist_ok=True)
    settings = result.settings
    worst_raw = dict(result.worst_raw)
    worst_raw["name"] = f"{result.scenario}_worst"
    best = result.history[result.best_index]
    library_best = result.library_best
    header = "\n".join(
        [
            f"The worst case found by `netsim search` on {result.scenario!r} "
            f"(netsim {__version__}):",
            f"objective {settings.objective} = {result.best_value!r} "
            f"(evaluation {result.best_index} of {len(result.history)}, method "
            f"{settings.method}, seed {settings.seed}).",
            f"Searched: {result.space}.",
            "Best hand-written case: "
            + (f"{library_best[0]} = {library_best[1]!r}." if library_best else "none ran."),
            "Replay: netsim run <this file> (same objective, bit for bit).",
        ]
    )
    worst_path = out / "worst.toml"
    worst_path.write_text(dumps(worst_raw, header))
    result.files.append(worst_path)

    replay = run(load_scenario(worst_path), out=out / "worst", progress=False, command=[])
    (variant,) = replay.variants.values()
    replayed = objective_value(settings.objective, variant)
    if replayed != result.best_value:
        raise ReplayMismatch(
            f"the worst case replays to {replayed!r}, not {result.best_value!r} ({worst_path})"
        )
    if best.get("trace_hash") != variant.summary["trace_hash"]:
        raise ReplayMismatch(f"the worst case replays to another trace hash ({worst_path})")
    library_dir = written_dir = None
    if library_best is not None:
        library_dir = out / "library_best"
        run(parse_scenario(result.library_raws[library_best[0]]), out=library_dir, progress=False)
    if "as written" in result.library_raws and result.library["as written"]["status"] == "done":
        written_dir = out / "as_written"
        run(parse_scenario(result.library_raws["as written"]), out=written_dir, progress=False)

    comparison = None
    if library_best is not None:
        comparison = {
            "library_best": library_best[0],
            "library_value": library_best[1],
            "search_value": result.best_value,
            "search_beats_library": result.best_value > library_best[1],
        }
    report = {
        "scenario": result.scenario,
        "netsim_version": __version__,
        "command": command if command is not None else sys.argv,
        "method": settings.method,
        "budget": settings.budget,
        "seed": settings.seed,
        "warm_start": settings.warm_start,
        "polish": settings.polish,
        "objective": settings.objective,
        "space": settings.space,
        "space_options": dict(settings.options),
        "space_description": result.space,
        "dimensions": result.dimensions,
        "method_info": result.method_info,
        "evaluations": len(result.history),
        "failed": sum(1 for h in result.history if h["status"] != "done"),
        "best": {
            "evaluation": result.best_index,
            "value": result.best_value,
            "x": best["x"],
            "trace_hash": best["trace_hash"],
            "replayed_value": replayed,
        },
        "library": result.library,
        "comparison": comparison,
        "wall_time_s": result.wall_time_s,
        "history": result.history,
    }
    json_path = out / "search.json"
    json_path.write_text(json.dumps(report, indent=1, default=_plain) + "\n")
    result.files.append(json_path)
    result.out = out
    if plots is not None:
        result.files.append(plot_progress(result, plots / f"{result.scenario}_progress.png"))
        result.files.append(
            plot_worst(
                result,
                out / "worst",
                library_dir,
                written_dir,
                plots / f"{result.scenario}_worst.png",
            )
        )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


def plot_progress(result: SearchResult, path: Path) -> Path:
    """Best objective so far vs evaluations, every evaluation as a dot, the library's best as a
    horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.array(
        [np.nan if h["value"] is None else h["value"] for h in result.history], dtype=float
    )
    evaluations = np.arange(1, len(values) + 1)
    best = np.fmax.accumulate(values)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    ax.plot(evaluations, values, ".", color="0.65", markersize=4, label="each evaluation")
    ax.plot(evaluations, best, "-", color="tab:red", linewidth=2, label="search: best so far")
    library_best = result.library_best
    if library_best is not None:
        ax.axhline(
            library_best[1],
            color="tab:blue",
            linestyle="--",
            label=f"best hand-written: {library_best[0]} ({library_best[1]:.3g})",
        )
    written = result.library.get("as written", {})
    if written.get("status") == "done" and (
        library_best is None or library_best[0] != "as written"
    ):
        ax.axhline(
            written["value"],
            color="0.45",
            linestyle=":",
            label=f"the scenario as written ({written['value']:.3g})",
        )
    finite = values[np.isfinite(values)]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    settings = result.settings
    if settings.objective in COUNTS:
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        shown = [*finite, *([library_best[1]] if library_best is not None else [])]
        if shown and max(shown) == min(shown):  # nothing varies (e.g. none late): show 0..
            ax.set_ylim(max(shown) - 0.5, max(shown) + 5)
    ax.set_xlabel("evaluations (simulated runs)")
    ax.set_ylabel(objective_label(settings.objective))
    warm = ", warm start" if settings.warm_start else ""
    warm += ", polish" if settings.polish else ""
    ax.set_title(
        f"{result.scenario}: worst-case search ({settings.method}, {settings.space}, "
        f"seed {settings.seed}{warm})\nbest {settings.objective} = {result.best_value:.4g} "
        f"after {len(values)} evaluations",
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    return _save(fig, path)


def _curve(results_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(simulated time at which the last tracked node finished round t, max distance at t)."""
    metrics = read_metrics(results_dir / "metrics.csv")
    rounds = metrics["round"].astype(int)
    count = rounds.max() + 1
    times = np.zeros(count)
    distances = np.zeros(count)
    np.maximum.at(times, rounds, metrics["time"].astype(float))
    np.maximum.at(distances, rounds, metrics["distance"].astype(float))
    return times, np.maximum(distances, FLOOR)


def plot_worst(
    result: SearchResult,
    worst_dir: Path,
    library_dir: Path | None,
    written_dir: Path | None,
    path: Path,
) -> Path:
    """The worst run's error (max over honest agents, or the server) vs round and vs simulated
    time, with the worst hand-written case and the scenario as written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objective = result.settings.objective
    found = f"worst case found (worst.toml), {objective} = {result.best_value:.4g}"
    curves = [(worst_dir, found, {"color": "tab:red", "linewidth": 2})]
    library_best = result.library_best
    if library_dir is not None and library_best is not None:
        style = {"color": "tab:blue", "linestyle": "--"}
        label = f"best hand-written: {library_best[0]}, {library_best[1]:.4g}"
        curves.append((library_dir, label, style))
    if written_dir is not None:
        label = f"the scenario as written, {result.library['as written']['value']:.4g}"
        curves.append((written_dir, label, {"color": "0.5", "linestyle": ":"}))
    fig, (by_round, by_time) = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for directory, label, style in curves:
        times, distances = _curve(directory)
        by_round.plot(np.arange(len(distances)), distances, label=label, **style)
        by_time.plot(times, distances, label=label, **style)
    by_round.set_xlabel("round t (iterations)")
    by_time.set_xlabel("simulated time (s)")
    by_round.set_ylabel("max distance to the honest optimum")
    for ax in (by_round, by_time):
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    handles, labels = by_time.get_legend_handles_labels()  # below the panels: no curve hidden
    fig.legend(handles, labels, fontsize=9, loc="lower center", ncol=len(curves), frameon=False)
    fig.suptitle(
        f"{result.scenario}: the worst run found ({result.settings.objective} = "
        f"{result.best_value:.4g}) vs round and vs simulated time; log scale, exact 0 drawn at "
        f"{FLOOR:.0e}",
        fontsize=10,
    )
    return _save(fig, path, rect=(0, 0.07, 1, 1))


def _save(fig: Any, path: Path, rect: tuple[float, float, float, float] | None = None) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
