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
from ..figure_axes import (
    NON_FINITE_NOTE,
    finite_or_nan,
    finite_positive,
    labelled_hline,
    mark_non_finite,
    save_figure,
    set_log_y,
)
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
    worst_path.write_text(dumps(worst_raw, header), encoding="utf-8")
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
    """Best objective so far vs evaluations (:func:`draw_progress`), saved as ``path``."""
    return save_figure(draw_progress(result), path)


def draw_progress(result: SearchResult) -> Any:
    """The figure of :func:`plot_progress`, not saved: every evaluation as a dot, the best so
    far as a line, the library's best (and the scenario as written, when it is not that best)
    as labelled horizontal lines. Integer ticks on the evaluation axis (and on the objective's
    for objectives that count); the y range fitted to what is drawn (log when it spans more
    than two decades); a non-finite value is marked at the top edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    values = np.array(
        [np.nan if h["value"] is None else h["value"] for h in result.history], dtype=float
    )
    evaluations = np.arange(1, len(values) + 1)
    with np.errstate(invalid="ignore"):
        best = np.fmax.accumulate(values) if len(values) else values
    library_best = result.library_best
    written = result.library.get("as written", {})
    show_written = written.get("status") == "done" and (
        library_best is None or library_best[0] != "as written"
    )
    references = [library_best[1]] if library_best is not None else []
    references += [written["value"]] if show_written else []
    shown = np.concatenate((values, best, np.asarray(references, dtype=float)))
    finite = shown[np.isfinite(shown)]
    positive = finite_positive(finite)
    log = len(finite) > 0 and len(positive) == len(finite) and positive.max() / positive.min() > 100
    fig, ax = plt.subplots(figsize=(8, 5.6))
    if log:
        set_log_y(ax, finite, pad=0.08, min_span=0.5)
    ax.plot(
        evaluations,
        finite_or_nan(values),
        ".",
        color="0.4",
        markersize=5,
        zorder=4,
        label="each evaluation (over the line)",
    )
    ax.plot(
        evaluations,
        finite_or_nan(best),
        "-",
        color="tab:red",
        linewidth=2,
        label="search: best so far",
    )
    marked = mark_non_finite(ax, evaluations, values, "0.4")
    if library_best is not None:
        name = "the scenario as written" if library_best[0] == "as written" else library_best[0]
        ax.axhline(
            library_best[1],
            color="tab:blue",
            linestyle="--",
            label=f"best hand-written: {name} ({library_best[1]:.3g})",
        )
    if show_written:
        ax.axhline(
            written["value"],
            color="0.45",
            linestyle=":",
            label=f"the scenario as written ({written['value']:.3g})",
        )
    settings = result.settings
    if not log and len(finite):
        low, high = float(finite.min()), float(finite.max())
        margin = 0.06 * (high - low) if high > low else max(abs(high) * 0.1, 0.5)
        if settings.objective in COUNTS and high == low:  # nothing varies: show 0.. too
            ax.set_ylim(high - 0.5, high + 5)
        else:
            ax.set_ylim(low - margin, high + margin)
    ax.set_xlim(0.5, max(len(values), 1) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if settings.objective in COUNTS and not log:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("evaluation (simulated runs, in order)")
    ax.set_ylabel(objective_label(settings.objective) + ("\n(log scale)" if log else ""))
    warm = ", warm start" if settings.warm_start else ""
    warm += ", polish" if settings.polish else ""
    ax.set_title(
        f"{result.scenario}: worst-case search ({settings.method}, {settings.space}, "
        f"seed {settings.seed}{warm})\nbest {settings.objective} = {result.best_value:.4g} "
        f"after {len(values)} evaluations",
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if marked:
        handles.append(Line2D([], [], color="0.4", marker="^", linestyle="None"))
        labels.append(NON_FINITE_NOTE)
    # below the axes: no evaluation hidden behind it
    ax.legend(handles, labels, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    return fig


def _curve(results_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(simulated time at which the last tracked node finished round t, max distance at t)."""
    metrics = read_metrics(results_dir / "metrics.csv")
    rounds = metrics["round"].astype(int)
    count = rounds.max() + 1
    times = np.zeros(count)
    distances = np.zeros(count)
    np.maximum.at(times, rounds, metrics["time"].astype(float))
    with np.errstate(invalid="ignore"):
        np.maximum.at(distances, rounds, metrics["distance"].astype(float))
    return times, np.where(distances == 0, FLOOR, distances)


def _summary(results_dir: Path) -> dict[str, Any]:
    """The one variant's entry of a results directory's summary.json."""
    summary = json.loads((results_dir / "summary.json").read_text())
    return next(iter(summary["variants"].values()))


def objective_curve(
    objective: str, results_dir: Path
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """What the objective measures, round by round, from a results directory's files, as
    (rounds, values, the objective's value): the largest honest staleness each round
    (max_honest_staleness: the maximum), Theorem 2's ratio ||w_t - w*||^2 / (rho^t ||w_0 -
    w*||^2) (its maximum over t >= 1), the share of honest receivers that kept a Byzantine
    value each round (byzantine_influence: the mean), or the count of late honest values sent
    at or after GST so far (late_honest_after_gst: the last). None for the distance objectives
    (drawn on the distance panels) and when the files needed are missing."""
    info = _summary(results_dir)
    byzantine = set(info.get("byzantine", []))
    if objective == "max_honest_staleness":
        from ..results import read_staleness

        staleness = read_staleness(results_dir / "staleness.csv")
        if staleness is None or not len(staleness["round"]):
            return None
        honest = ~np.isin(staleness["agent"], list(byzantine))
        rounds = staleness["round"][honest].astype(int)
        values = staleness["staleness"][honest].astype(int)
        values = np.where(values < 0, rounds + 1, values)  # never heard: t - (-1)
        worst = np.zeros(rounds.max() + 1, dtype=int)
        np.maximum.at(worst, rounds, values)
        return np.arange(len(worst)), worst.astype(float), float(worst.max())
    if objective == "theorem2_ratio":
        rho = float((info.get("theory") or {}).get("rho", np.nan))
        _, distances = _curve(results_dir)
        if not np.isfinite(rho) or len(distances) < 2 or distances[0] <= FLOOR:
            return None
        t = np.arange(len(distances))
        with np.errstate(divide="ignore", invalid="ignore"):
            exponent = 2 * np.log10(distances) - 2 * np.log10(distances[0]) - t * np.log10(rho)
        ratio = np.where(exponent < 308, 10.0 ** np.minimum(exponent, 308), np.inf)
        return t[1:], ratio[1:], float(np.nanmax(ratio[1:]))
    if objective in ("byzantine_influence", "late_honest_after_gst"):
        from ..message_trace import decision_names, read_messages

        messages = read_messages(results_dir / "messages.csv")
        if messages is None or not len(messages["round"]):
            return None
        names = decision_names(messages)
        receiver = messages["receiver"]
        rounds = int(info.get("rounds", messages["round"].max() + 1))
        if objective == "late_honest_after_gst":
            late = (
                (names == "late")
                & ~messages["byzantine"].astype(bool)
                & ~np.isin(receiver, list(byzantine))
                & (messages["send_time"] >= float(info.get("gst") or 0.0))
            )
            count = np.cumsum(np.bincount(messages["round"][late], minlength=rounds))
            return np.arange(len(count)), count.astype(float), float(count[-1])
        metrics = read_metrics(results_dir / "metrics.csv")
        nodes = [-1 if a == "server" else int(a) for a in set(metrics["agent"].astype(str))]
        kept = (
            messages["byzantine"].astype(bool)
            & (names == "kept")
            & np.isin(receiver, nodes)
            & (messages["round"] < rounds)
        )
        pairs = {(int(r), int(t)) for r, t in zip(receiver[kept], messages["round"][kept])}
        per_round = np.zeros(rounds)
        for _, t in pairs:
            per_round[t] += 1
        share = per_round / max(len(nodes), 1)
        return np.arange(rounds), share, float(share.mean()) if rounds else 0.0
    return None


def plot_worst(
    result: SearchResult,
    worst_dir: Path,
    library_dir: Path | None,
    written_dir: Path | None,
    path: Path,
) -> Path:
    """The worst run against the hand-written cases (:func:`draw_worst`), saved as ``path``."""
    return save_figure(draw_worst(result, worst_dir, library_dir, written_dir), path)


def draw_worst(
    result: SearchResult,
    worst_dir: Path,
    library_dir: Path | None,
    written_dir: Path | None,
) -> Any:
    """The figure of :func:`plot_worst`, not saved: the worst run's error (max over honest
    agents, or the server) vs round and vs simulated time, with the worst hand-written case
    and the scenario as written (once, when it is that case), and, for an objective that is
    not a distance, a third panel with what the objective measures round by round
    (:func:`objective_curve`), its value marked. A distance objective is marked on the
    distance panels instead (the final distance; epsilon and the time it is reached). The time
    axis is fitted to the worst run and the hand-written case; a longer scenario-as-written
    run is cut there, marked ▸ at the edge (all of it is on the round panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objective = result.settings.objective
    found = f"worst case found (worst.toml), {objective} = {result.best_value:.4g}"
    curves = [(worst_dir, found, {"color": "tab:red", "linewidth": 2.4, "zorder": 3})]
    library_best = result.library_best
    same = library_best is not None and library_best[0] == "as written"
    if library_dir is not None and library_best is not None:
        style = {"color": "tab:blue", "linestyle": "--", "linewidth": 1.8, "zorder": 4}
        name = "the scenario as written" if same else library_best[0]
        curves.append((library_dir, f"best hand-written: {name}, {library_best[1]:.4g}", style))
    if written_dir is not None and not same:
        label = f"the scenario as written, {result.library['as written']['value']:.4g}"
        style = {"color": "0.35", "linestyle": ":", "linewidth": 1.8, "zorder": 5}
        curves.append((written_dir, label, style))
    data = [(_curve(directory), label, style) for directory, label, style in curves]
    extra = objective_curve(objective, worst_dir)
    panels = 3 if extra is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 5.0))
    by_round, by_time = axes[0], axes[1]
    every = np.concatenate([d for (_, d), _, _ in data])
    eps = None
    if objective.startswith("time_to_"):
        eps = float(objective.removeprefix("time_to_"))
        every = np.concatenate((every, [eps]))
    for ax in (by_round, by_time):
        set_log_y(ax, every)
    # the time axis: fitted to the worst run and the hand-written case
    fitted = max(float(np.nanmax(times)) for (times, _), _, _ in data[:2])
    longest = max(float(np.nanmax(times)) for (times, _), _, _ in data)
    cut = longest > 1.5 * fitted and fitted > 0
    right = fitted * 1.03 if cut else max(longest, 1e-12) * 1.03
    cut_note = ""
    for index, ((times, distances), label, style) in enumerate(data):
        ms = 9 - 2 * index  # the worst run's mark largest: coinciding marks stay visible
        by_round.plot(np.arange(len(distances)), finite_or_nan(distances), label=label, **style)
        mark_non_finite(by_round, np.arange(len(distances)), distances, style["color"])
        inside = times <= right  # a longer run is drawn up to the right edge, marked there
        by_time.plot(times[inside], finite_or_nan(distances[inside]), **style)
        mark_non_finite(by_time, times[inside], distances[inside], style["color"])
        if not np.all(inside):
            last = np.flatnonzero(inside)
            y = distances[last[-1]] if len(last) else distances[0]
            by_time.plot(right, y, ">", color=style["color"], markersize=8, clip_on=False)
            cut_note = (
                f"▸: {label.split(',')[0]} runs to {times.max():.3g} s, beyond the right edge "
                "(all of it on the round panel)"
            )
        if objective == "final_distance" and np.isfinite(distances[-1]):
            by_round.plot(len(distances) - 1, distances[-1], "o", color=style["color"], ms=ms)
        if eps is not None:
            reached = np.flatnonzero(distances <= eps)
            if len(reached):
                by_time.plot(times[reached[0]], eps, "o", color=style["color"], ms=ms, zorder=6)
    by_time.set_xlim(-0.01 * right, right)
    if eps is not None:
        labelled_hline((by_round, by_time), eps, f"ε = {eps:g}", linestyle="-.", linewidth=0.9)
    by_round.set_xlabel("round t (iterations)")
    by_time.set_xlabel("simulated time (s)" + ("\n" + cut_note if cut_note else ""))
    by_round.set_ylabel("max distance to the honest optimum\n(units of x or w, log scale)")
    by_round.set_title("error vs round", loc="left", fontsize=10)
    by_time.set_title(
        "error vs simulated time" + (" (ε reached: ●)" if eps is not None else ""),
        loc="left",
        fontsize=10,
    )
    if objective == "final_distance":
        by_round.set_title(
            "error vs round (● the final distance: the objective)", loc="left", fontsize=10
        )
    for ax in (by_round, by_time):
        ax.grid(True, alpha=0.3)
    if extra is not None:
        _objective_panel(axes[2], objective, result, curves, extra)
    handles, labels = by_round.get_legend_handles_labels()  # below the panels: no curve hidden
    fig.legend(handles, labels, fontsize=9, loc="lower center", ncol=len(curves), frameon=False)
    fig.suptitle(
        f"{result.scenario}: the worst run found ({objective} = {result.best_value:.4g}) "
        "against the hand-written cases",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _objective_panel(
    ax: Any,
    objective: str,
    result: SearchResult,
    curves: list[tuple[Path, str, dict[str, Any]]],
    worst: tuple[np.ndarray, np.ndarray, float],
) -> None:
    """The objective's own quantity round by round, for every curve whose files have it."""
    from matplotlib.ticker import MaxNLocator

    series = [(worst, curves[0][2])]
    for directory, _, style in curves[1:]:
        extra = objective_curve(objective, directory)
        if extra is not None:
            series.append((extra, style))
    titles = {
        "max_honest_staleness": ("largest honest staleness each round (rounds)", "max"),
        "theorem2_ratio": (
            "$\\|w_t - w^*\\|^2 / (\\rho^t \\|w_0 - w^*\\|^2)$ (log scale)",
            "max over t ≥ 1",
        ),
        "byzantine_influence": (
            "share of honest receivers that kept a Byzantine value (0 to 1)",
            "mean over rounds",
        ),
        "late_honest_after_gst": (
            "late honest values sent at or after GST, so far (count)",
            "the total",
        ),
    }
    ylabel, how = titles[objective]
    log = objective == "theorem2_ratio"
    if log:
        set_log_y(ax, np.concatenate([values for (_, values, _), _ in series] + [np.array([1.0])]))
    for index, ((rounds, values, value), style) in enumerate(series):
        ms = 9 - 2 * index  # the worst run's mark largest: coinciding marks stay visible
        ax.plot(rounds, finite_or_nan(values), **style)
        mark_non_finite(ax, rounds, values, style["color"])
        if objective in ("max_honest_staleness", "theorem2_ratio") and np.isfinite(value):
            k = int(np.nanargmax(np.where(np.isfinite(values), values, -np.inf)))
            ax.plot(rounds[k], values[k], "o", color=style["color"], ms=ms, zorder=6)
        elif objective == "byzantine_influence":
            ax.axhline(value, color=style["color"], linewidth=0.9, linestyle=(0, (1, 2)))
        elif len(rounds):
            ax.plot(rounds[-1], values[-1], "o", color=style["color"], ms=ms, zorder=6)
    if objective == "theorem2_ratio":
        labelled_hline(ax, 1.0, "Theorem 2's bound (ratio 1)", linestyle="--", linewidth=1.0)
    if objective == "max_honest_staleness":
        bound = _summary(curves[0][0]).get("staleness_bound")
        if bound is not None:
            text = f"declared bound B = {bound}"
            labelled_hline(ax, bound, text, linestyle=":", linewidth=1.4)
    if objective in ("max_honest_staleness", "late_honest_after_gst"):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if objective == "byzantine_influence":
        ax.set_ylim(-0.03, 1.03)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round t (iterations)")
    ax.set_ylabel(ylabel)
    mark = "dotted line" if objective == "byzantine_influence" else "●"
    ax.set_title(f"the objective {objective} ({mark}: {how})", loc="left", fontsize=10)
    ax.grid(True, alpha=0.3)
