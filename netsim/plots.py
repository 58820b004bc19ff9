"""Figures, drawn from results files only (never from live simulation objects)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .config import NAME_PATTERN
from .errors import ScenarioError
from .figure_axes import (
    LINESTYLES,
    MACHINE_EPSILON,
    NON_FINITE_NOTE,
    finite_or_nan,
    finite_positive,
    identical_groups,
    layered_style,
    mark_non_finite,
    save_figure,
    set_log_y,
)
from .message_trace import read_messages
from .results import read_metrics, read_staleness
from .timing_plots import clock_label

RUN_WRITTEN = "a results directory written by netsim run"
FLOOR = 1e-17  # distances of exactly 0 are drawn here on the log scale
ESCAPE = 1e3  # CGC: a run that goes this many times beyond the start gets its own row
MANY_AGENTS = 10  # more honest agents than this: bands, not a line (and a colour) each
WORST = "largest (worst agent)"
MEDIAN = "median"
BAND = "smallest to largest"


def plot_distances(summary: dict[str, Any], metrics: dict[str, np.ndarray], path: Path) -> Path:
    """Distance of every honest agent to the optimum, vs round and vs simulated seconds
    (:func:`draw_distances`), saved as ``path``."""
    return save_figure(draw_distances(summary, metrics), path)


def draw_distances(summary: dict[str, Any], metrics: dict[str, np.ndarray]) -> plt.Figure:
    """The figure of :func:`plot_distances`, not saved.

    One row per variant (like the CE paper's Fig. 2, with the method without the filter under
    CE), one colour per honest agent. Each row has its own log y range, fitted to its data (a
    diverging run's too: non-finite values are marked at the top edge); a dashed line marks
    machine precision in the rows that reach it, so rows still compare at a glance. An agent
    whose curve is the same as an earlier agent's is drawn dashed on top of it.
    """
    variants = list(summary["variants"])
    agent_keys = np.asarray(metrics["agent"]).astype(str)
    agents = sorted(set(agent_keys.tolist()), key=lambda a: (len(a), a))
    if len(agents) > MANY_AGENTS:
        return draw_distance_bands(summary, metrics, agent_keys)
    colours = {a: plt.get_cmap("tab10")(k % 10) for k, a in enumerate(agents)}
    fig, axes = plt.subplots(
        len(variants), 2, figsize=(12, 1.3 + 3.1 * len(variants)), squeeze=False, sharex="col"
    )
    t_max = max(float(np.nanmax(metrics["time"])) if len(metrics["time"]) else 0.0, 1e-12)
    zeros = non_finite = precision = False
    for row, variant in enumerate(variants):
        by_round, by_time = axes[row]
        rows = metrics["variant"] == variant
        series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for agent in agents:
            mine = rows & (agent_keys == agent)
            order = np.argsort(metrics["round"][mine], kind="stable")
            distance = metrics["distance"][mine][order].astype(np.float64)
            zeros |= bool(np.any(distance == 0))
            series[agent] = (
                metrics["round"][mine][order],
                metrics["time"][mine][order],
                np.where(distance == 0, FLOOR, distance),
            )
        values = np.concatenate([d for _, _, d in series.values()]) if series else np.array([])
        positive = finite_positive(values)
        reaches = bool(positive.size) and positive.min() <= 4 * MACHINE_EPSILON
        shown = np.concatenate((values, [MACHINE_EPSILON] if reaches else []))
        for ax in (by_round, by_time):
            set_log_y(ax, shown)
        later = {
            b: a
            for a, bs in identical_groups(
                {agent: (r, d) for agent, (r, _, d) in series.items()}
            ).items()
            for b in bs
        }
        for agent, (rounds, times, distance) in series.items():
            style = {"color": colours[agent], "linewidth": 1.2, "label": f"agent {agent}"}
            if agent in later:  # the same curve as an earlier agent's: dashed, on top
                style.update(linestyle=LINESTYLES[1], linewidth=1.0, zorder=3)
            y = finite_or_nan(distance)
            by_round.plot(rounds, y, **style)
            by_time.plot(times, y, **style)
            for ax, x in ((by_round, rounds), (by_time, times)):
                non_finite |= bool(mark_non_finite(ax, x, distance, colours[agent]))
        if reaches:
            precision = True
            for ax in (by_round, by_time):
                ax.axhline(MACHINE_EPSILON, color="0.35", linestyle="--", linewidth=0.9, zorder=1)
        info = summary["variants"][variant]
        clock = clock_label(info)
        same = "; ".join(f"agent {b} = agent {a} (dashed on top)" for b, a in later.items())
        huge = positive.size and positive.max() > 1e300  # a run that diverged to the float limit
        by_round.set_title(
            f"{variant}: vs round (final max distance {info['final_distance']:.1e})"
            + (f"; grows to {positive.max():.1e}, near the largest float" if huge else "")
            + (f"\n{clock}" if clock else "")
            + (f"\nidentical curves: {same}" if same else ""),
            loc="left",
            fontsize=10,
        )
        by_time.set_title(f"{variant}: vs simulated time", loc="left", fontsize=10)
        by_time.set_xlim(0, t_max * 1.02)
        if info.get("gst"):  # partial synchrony: from here on every honest delay is <= Delta
            by_time.axvline(info["gst"], color="grey", linestyle="--", linewidth=1.0)
            by_time.annotate(
                "GST",
                (info["gst"], 0.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, 4),
                textcoords="offset points",
                fontsize=8,
                color="grey",
            )
        by_round.set_ylabel("distance $\\|x_i^t - x_H\\|$\n(units of x, log scale)")
        for ax in (by_round, by_time):
            ax.grid(True, which="major", alpha=0.3)
    handles = [Line2D([], [], color=colours[a], linewidth=1.2, label=f"agent {a}") for a in agents]
    colour = "0.3" if non_finite else None
    _finish_distances(fig, axes, summary, handles, "honest agent", precision, zeros, colour)
    return fig


def _finish_distances(
    fig: plt.Figure,
    axes: np.ndarray,
    summary: dict[str, Any],
    handles: list[Any],
    legend_title: str,
    precision: bool,
    zeros: bool,
    non_finite_colour: str | None = None,
) -> None:
    """What both distance figures end with: the x labels, the machine-precision and
    non-finite entries of the legend (``non_finite_colour`` set: some round was not finite),
    the title with its notes, and the legend below the panels (at most 10 columns)."""
    axes[-1, 0].set_xlabel("round t (iterations)")
    axes[-1, 1].set_xlabel("simulated time (s)")
    if precision:
        handles.append(
            Line2D(
                [],
                [],
                color="0.35",
                linestyle="--",
                linewidth=0.9,
                label=f"machine precision ({MACHINE_EPSILON:.1e})",
            )
        )
    if non_finite_colour is not None:
        handles.append(
            Line2D(
                [], [], color=non_finite_colour, marker="^", linestyle="None", label=NON_FINITE_NOTE
            )
        )
    notes = ["log scale, each row its own range"]
    if zeros:
        notes.append(f"exact 0 drawn at {FLOOR:.0e}")
    fig.suptitle(_title(summary) + "; ".join(notes))
    fig.tight_layout(rect=(0, 0.7 / fig.get_figheight(), 1, 1))  # room for the legend
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(len(handles), 10),
        fontsize=9,
        title=legend_title,
        title_fontsize=9,
        frameon=False,
    )


def draw_distance_bands(
    summary: dict[str, Any], metrics: dict[str, np.ndarray], agent_keys: np.ndarray
) -> plt.Figure:
    """:func:`draw_distances` for more than :data:`MANY_AGENTS` honest agents, where one line
    each would be an unreadable tangle (and a legend of hundreds): per round, the largest
    distance over the honest agents (the run's ``final_distance`` at the last round), the
    median, and a band from the smallest to the largest, so every agent's value lies in the
    band. The time panel puts round t at the time its last honest agent completed it. A round
    where some agent's distance is not finite is marked at the top edge."""
    variants = list(summary["variants"])
    fig, axes = plt.subplots(
        len(variants), 2, figsize=(12, 1.3 + 3.1 * len(variants)), squeeze=False, sharex="col"
    )
    t_max = max(float(np.nanmax(metrics["time"])) if len(metrics["time"]) else 0.0, 1e-12)
    zeros = non_finite = precision = False
    honest = 0
    for row, variant in enumerate(variants):
        by_round, by_time = axes[row]
        rows = np.asarray(metrics["variant"]) == variant
        agent_ids, agent = np.unique(agent_keys[rows], return_inverse=True)
        round_ids, round_index = np.unique(np.asarray(metrics["round"])[rows], return_inverse=True)
        honest = max(honest, len(agent_ids))
        shape = (len(round_ids), len(agent_ids))
        distance, time = np.full(shape, np.nan), np.full(shape, np.nan)
        present = np.zeros(shape, dtype=bool)
        distance[round_index, agent] = np.asarray(metrics["distance"], dtype=np.float64)[rows]
        time[round_index, agent] = np.asarray(metrics["time"], dtype=np.float64)[rows]
        present[round_index, agent] = True
        zeros |= bool(np.any(distance[present] == 0))
        distance = np.where(distance == 0, FLOOR, distance)
        broken = (present & ~np.isfinite(distance)).any(axis=1)
        finite = np.where(np.isfinite(distance), distance, np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a round with no finite value
            low, middle, high = (
                np.nanmin(finite, axis=1),
                np.nanmedian(finite, axis=1),
                np.nanmax(finite, axis=1),
            )
            finished = np.nanmax(np.where(present, time, np.nan), axis=1)
        positive = finite_positive(finite[present])
        reaches = bool(positive.size) and positive.min() <= 4 * MACHINE_EPSILON
        shown = np.concatenate((positive, [MACHINE_EPSILON] if reaches else []))
        for ax, x in ((by_round, round_ids), (by_time, finished)):
            set_log_y(ax, shown)
            ax.fill_between(x, low, high, color="C0", alpha=0.25, linewidth=0, label=BAND)
            ax.plot(x, high, color="C3", linewidth=1.6, label=WORST)
            ax.plot(x, middle, color="navy", linewidth=1.1, linestyle="--", label=MEDIAN, zorder=3)
            non_finite |= bool(mark_non_finite(ax, x[broken], np.full(broken.sum(), np.inf), "C3"))
        if reaches:
            precision = True
            for ax in (by_round, by_time):
                ax.axhline(MACHINE_EPSILON, color="0.35", linestyle="--", linewidth=0.9, zorder=1)
        info = summary["variants"][variant]
        clock = clock_label(info)
        by_round.set_title(
            f"{variant}: vs round (final max distance {info['final_distance']:.1e}, "
            f"{len(agent_ids)} honest agents)" + (f"\n{clock}" if clock else ""),
            loc="left",
            fontsize=10,
        )
        by_time.set_title(
            f"{variant}: vs simulated time (round t at its last completion)",
            loc="left",
            fontsize=10,
        )
        by_time.set_xlim(0, t_max * 1.02)
        if info.get("gst"):
            by_time.axvline(info["gst"], color="grey", linestyle="--", linewidth=1.0)
        by_round.set_ylabel("distance $\\|x_i^t - x_H\\|$\n(units of x, log scale)")
        for ax in (by_round, by_time):
            ax.grid(True, which="major", alpha=0.3)
    handles: list[Any] = [
        Line2D([], [], color="C3", linewidth=1.6, label=WORST),
        Line2D([], [], color="navy", linewidth=1.1, linestyle="--", label=MEDIAN),
        Patch(color="C0", alpha=0.25, label=BAND),
    ]
    for ax in axes[:, 0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are whole numbers
    title = f"over the {honest} honest agents, per round"
    colour = "C3" if non_finite else None
    _finish_distances(fig, axes, summary, handles, title, precision, zeros, colour)
    return fig


def plot_server(summary: dict[str, Any], metrics: dict[str, np.ndarray], path: Path) -> Path:
    """CGC: the server's distance to the optimum vs round and vs simulated seconds
    (:func:`draw_server`), saved as ``path``."""
    return save_figure(draw_server(summary, metrics), path)


def draw_server(summary: dict[str, Any], metrics: dict[str, np.ndarray]) -> plt.Figure:
    """The figure of :func:`plot_server`, not saved.

    ||w_t - w*|| (the quantity the legend reports) vs round and vs simulated seconds, one
    colour per variant, with Theorem 2's bound rho^(t/2) ||w_0 - w*|| (the square root of
    rho^t ||w_0 - w*||^2; dashed) wherever the theorem covers the run. Variants that coincide
    stay visible: earlier ones wider and solid, later ones narrower, dashed and on top, and an
    exact duplicate says so in the legend. A variant that diverges (beyond 1000 times the
    start, or not finite) gets a row of its own with its own y range, so that the others keep
    theirs; non-finite values are marked at the top edge.
    """
    variants = list(summary["variants"])
    colours = {v: plt.get_cmap("tab10")(k % 10) for k, v in enumerate(variants)}
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for variant in variants:
        rows = metrics["variant"] == variant
        order = np.argsort(metrics["round"][rows], kind="stable")
        distance = metrics["distance"][rows][order].astype(np.float64)
        curves[variant] = (
            metrics["round"][rows][order],
            metrics["time"][rows][order],
            np.where(distance == 0, FLOOR, distance),
        )
    starts = [d[0] for _, _, d in curves.values() if len(d) and np.isfinite(d[0])]
    start = max(starts) if starts else 1.0
    escaped = [
        v
        for v, (_, _, d) in curves.items()
        if not np.all(np.isfinite(d)) or (len(d) and np.nanmax(d) > ESCAPE * start)
    ]
    groups = [[v for v in variants if v not in escaped], escaped]
    groups = [g for g in groups if g]
    fig, axes = plt.subplots(
        len(groups),
        2,
        figsize=(13, 1.6 + 3.8 * len(groups)),
        squeeze=False,
        sharex="col",
    )
    zeros = non_finite = False
    for row, members in enumerate(groups):
        by_round, by_time = axes[row]
        bounds = []
        for variant in members:
            theory = summary["variants"][variant].get("theory") or {}
            rounds, _, distance = curves[variant]
            if theory.get("covered") and len(distance) and np.isfinite(distance[0]):
                t = np.arange(int(rounds.max()) + 1)
                bounds.append((variant, t, theory["rho"] ** (t / 2) * distance[0], theory))
        values = [d for v, (_, _, d) in curves.items() if v in members]
        values += [b for _, _, b, _ in bounds]
        for ax in (by_round, by_time):
            set_log_y(ax, np.concatenate(values))
        later = {
            b: a
            for a, bs in identical_groups(
                {v: (curves[v][0], curves[v][2]) for v in members}
            ).items()
            for b in bs
        }
        for k, variant in enumerate(members):
            rounds, times, distance = curves[variant]
            zeros |= bool(np.any(distance == FLOOR))
            info = summary["variants"][variant]
            label = f"{variant} (final $\\|w - w^*\\|$ = {info['final_distance']:.1e})"
            if variant in later:
                label += f", identical to “{later[variant]}” (drawn over it)"
            style = {"color": colours[variant], **layered_style(k, len(members))}
            by_round.plot(rounds, finite_or_nan(distance), label=label, **style)
            by_time.plot(times, finite_or_nan(distance), **style)
            for ax, x in ((by_round, rounds), (by_time, times)):
                non_finite |= bool(mark_non_finite(ax, x, distance, colours[variant]))
        seen: set[tuple[float, float]] = set()
        for _, t, bound, theory in bounds:
            if (theory["rho"], bound[0]) in seen:
                continue
            seen.add((theory["rho"], bound[0]))
            by_round.plot(
                t,
                bound,
                color="black",
                linestyle="--",
                linewidth=1.2,
                zorder=1.5,
                label="Theorem 2: $\\|w_t - w^*\\| \\leq \\rho^{t/2}\\|w_0 - w^*\\|$, "
                f"$\\rho$ = {theory['rho']:.4f} ($\\eta$ = {theory['eta']:.3g} < "
                f"$\\bar\\eta$ = {theory['eta_bar']:.3g})",
            )
        for ax in (by_round, by_time):
            ax.grid(True, which="major", alpha=0.3)
        which = "diverging variants (own y range)" if members is escaped and len(groups) > 1 else ""
        by_round.set_title(f"vs round{': ' + which if which else ''}", loc="left", fontsize=10)
        by_time.set_title(
            f"vs simulated time{': ' + which if which else ''}", loc="left", fontsize=10
        )
        by_round.set_ylabel("distance to the optimum\n$\\|w_t - w^*\\|$ (units of w, log scale)")
    axes[-1, 0].set_xlabel("round t (server iterations)")
    axes[-1, 1].set_xlabel("simulated time (s)")
    handles, labels = [], []
    for ax in axes[:, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if non_finite:
        handles.append(
            Line2D([], [], color="0.3", marker="^", linestyle="None", label=NON_FINITE_NOTE)
        )
        labels.append(NON_FINITE_NOTE)
    fig.suptitle(
        _title(summary, server=True) + (f", exact 0 drawn at {FLOOR:.0e}" if zeros else "")
    )
    rows_of_legend = (len(labels) + 1) // 2
    fig.tight_layout(rect=(0, (0.25 + 0.2 * rows_of_legend) / fig.get_figheight(), 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8.5, frameon=False)
    return fig


def plot_staleness(
    summary: dict[str, Any], staleness: dict[str, np.ndarray], path: Path
) -> Path | None:
    """CGC async: how stale the honest gradients the server steps with are
    (:func:`draw_staleness`), saved as ``path``; None without an asynchronous variant."""
    fig = draw_staleness(summary, staleness)
    return None if fig is None else save_figure(fig, path)


def draw_staleness(summary: dict[str, Any], staleness: dict[str, np.ndarray]) -> plt.Figure | None:
    """The figure of :func:`plot_staleness`, not saved. Left, the histogram of t - s_i(t) over
    (round, honest agent); right, the largest honest staleness each round. The declared bound
    B is a dotted black line, labelled on the axes. Ticks at every integer where the data is
    (linear up to 20 rounds; beyond, linear to 10 and log above); variants with the same
    staleness are drawn over each other in distinct styles and say so in the legend."""
    variants = [v for v, info in summary["variants"].items() if info.get("mode") == "async"]
    if not variants:
        return None
    histograms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    worst_of: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    largest: dict[str, int] = {}
    bound = None
    for variant in variants:
        info = summary["variants"][variant]
        honest = [a for a in range(info["n"]) if a not in info["byzantine"]]
        rows = (staleness["variant"] == variant) & np.isin(staleness["agent"], honest)
        rounds = staleness["round"][rows].astype(np.int64)
        values = staleness["staleness"][rows].astype(np.int64)
        values = np.where(values < 0, rounds + 1, values)  # never heard: t - (-1)
        if not len(values):
            continue
        counts = np.bincount(values)
        support = np.flatnonzero(counts)
        histograms[variant] = (support, counts[support] / counts.sum())
        worst = np.zeros(rounds.max() + 1, dtype=np.int64)
        np.maximum.at(worst, rounds, values)
        worst_of[variant] = (np.arange(len(worst)), worst)
        largest[variant] = int(values.max())
        bound = info.get("staleness_bound", bound)
    if not histograms:
        return None
    top = max([*largest.values(), *([bound] if bound is not None else [])])
    fig, (histogram, over_time) = plt.subplots(1, 2, figsize=(13, 5.0))
    set_log_y(histogram, np.concatenate([share for _, share in histograms.values()]))
    same_histogram = {b: a for a, bs in identical_groups(histograms).items() for b in bs}
    same_worst = {b: a for a, bs in identical_groups(worst_of).items() for b in bs}
    drawn = list(histograms)
    for k, variant in enumerate(drawn):
        info = summary["variants"][variant]
        colour = plt.get_cmap("tab10")(variants.index(variant) % 10)
        style = {"color": colour, **layered_style(k, len(drawn))}
        notes = []
        if variant in same_histogram and same_worst.get(variant) == same_histogram[variant]:
            notes.append(f"identical to “{same_histogram[variant]}”")
        else:
            if variant in same_histogram:
                notes.append(f"histogram identical to “{same_histogram[variant]}”")
            if variant in same_worst:
                notes.append(f"each round's largest identical to “{same_worst[variant]}”")
        label = (
            f"{variant} (max {largest[variant]}, breaches of B: "
            f"{info.get('staleness_breaches', 0)})"
            + (f"; {'; '.join(notes)}, drawn over it" if notes else "")
        )
        support, share = histograms[variant]
        histogram.plot(
            support, share, marker="o", markersize=max(4.5 - k, 2.5), label=label, **style
        )
        over_time.plot(*worst_of[variant], **style)
    for ax, vertical in ((histogram, True), (over_time, False)):
        _staleness_axis(ax.xaxis if vertical else ax.yaxis, top)
        ax.grid(True, alpha=0.3)
        if bound is None:
            continue
        line = ax.axvline if vertical else ax.axhline
        line(
            bound,
            color="black",
            linestyle=":",
            linewidth=1.6,
            zorder=4,
            label=f"declared bound B = {bound} rounds" if vertical else None,
        )
        if vertical:
            ax.annotate(
                f"B = {bound}",
                (bound, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=9,
            )
        else:
            ax.annotate(
                f"B = {bound}",
                (0.0, bound),
                xycoords=("axes fraction", "data"),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=9,
            )
    histogram.set_xlabel("staleness t - s_i(t) (rounds)")
    histogram.set_ylabel("share of (round, honest agent) pairs\n(log scale)")
    histogram.set_title("histogram", loc="left", fontsize=10)
    over_time.set_xlabel("round t (server iterations)")
    over_time.set_ylabel("largest honest staleness (rounds)")
    over_time.set_title("largest honest staleness each round", loc="left", fontsize=10)
    rounds_max = max(len(w) for _, w in worst_of.values())
    over_time.set_xlim(-0.01 * rounds_max, rounds_max * 1.01)
    handles, labels = histogram.get_legend_handles_labels()
    scale = "" if top <= 20 else "; staleness axes linear to 10 rounds, log above"
    fig.suptitle(
        f"{summary['scenario']}: staleness of the honest gradients the asynchronous "
        f"server steps with (seed {summary['seed']}){scale}"
    )
    rows_of_legend = (len(labels) + 1) // 2
    fig.tight_layout(rect=(0, (0.25 + 0.2 * rows_of_legend) / fig.get_figheight(), 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8.5, frameon=False)
    return fig


def _staleness_axis(axis: Any, top: int) -> None:
    """A staleness axis (rounds) from 0 to ``top``: linear with integer ticks up to 20;
    beyond, symlog (linear to 10 and log above, the two parts about as wide as the decades
    above 10) with a labelled tick at every integer up to 10 and at 20, 50, 100, 200, ..."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    upper = top + max(0.5, 0.04 * top)
    if top <= 20:
        axis.set_major_locator(MaxNLocator(integer=True))
        _set_lim(axis, -0.5, upper)
        return
    decades = float(np.log10(upper / 10))
    _set_scale(axis, "symlog", linthresh=10, linscale=max(1.0, decades))
    ticks, base = list(range(0, 11)), 10
    while base * 2 <= upper:
        ticks += [base * m for m in (2, 5, 10) if base * m <= upper]
        base *= 10
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_locator(NullLocator())
    _set_lim(axis, -0.5, upper)


def _set_lim(axis: Any, low: float, high: float) -> None:
    (axis.axes.set_xlim if axis.axis_name == "x" else axis.axes.set_ylim)(low, high)


def _set_scale(axis: Any, scale: str, **options: Any) -> None:
    (axis.axes.set_xscale if axis.axis_name == "x" else axis.axes.set_yscale)(scale, **options)


def draw_all(
    summary: dict[str, Any],
    metrics: dict[str, np.ndarray],
    staleness: dict[str, np.ndarray] | None,
    plots_dir: Path,
    messages: dict[str, np.ndarray] | None = None,
) -> list[Path]:
    """Every figure of a run: the main one, the staleness histogram of async CGC runs and, when
    ``messages`` are given, the timing plots (:mod:`netsim.timing_plots`)."""
    from .timing_plots import draw_timing_plots

    name = summary["scenario"]
    server = any(v["protocol"] == "cgc" for v in summary["variants"].values())
    main = (plot_server if server else plot_distances)(summary, metrics, plots_dir / f"{name}.png")
    paths = [main]
    if staleness is not None:
        extra = plot_staleness(summary, staleness, plots_dir / f"{name}_staleness.png")
        if extra is not None:
            paths.append(extra)
    if messages is not None:
        paths += draw_timing_plots(summary, metrics, messages, plots_dir)
    return paths


def plot_results_dir(results_dir: str | Path, plots_dir: str | Path | None = None) -> list[Path]:
    """Redraw the plots of a finished run from its files (``netsim plot``) into ``plots_dir``
    (default ``results_dir/plots``); the timing plots too when the run kept its message
    trace."""
    results_dir = Path(results_dir)
    plots_dir = results_dir / "plots" if plots_dir is None else plots_dir
    summary_file = results_dir / "summary.json"
    if not summary_file.exists():
        raise FileNotFoundError(
            f"{summary_file} not found: is {results_dir} a results directory "
            "written by `netsim run`?"
        )
    try:
        summary = json.loads(summary_file.read_text())
    except (OSError, ValueError) as err:
        raise ScenarioError(
            "results", f"summary.json cannot be read ({err})", str(summary_file), RUN_WRITTEN
        ) from None
    name = summary.get("scenario") if isinstance(summary, dict) else None
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        # the figures' file names come from it: never a path that leaves plots_dir
        raise ScenarioError(
            "results", "summary.json names no valid scenario", repr(name), RUN_WRITTEN
        )
    metrics = read_metrics(results_dir / "metrics.csv")
    staleness = read_staleness(results_dir / "staleness.csv")
    messages = read_messages(results_dir / "messages.csv")
    if messages is None and (results_dir / "messages.parquet").exists():
        messages = read_messages(results_dir / "messages.parquet")
    return draw_all(summary, metrics, staleness, Path(plots_dir), messages)


def _title(summary: dict[str, Any], server: bool = False) -> str:
    """The suptitle's first line and the setting, ending in "; " for the scale notes (CE) or
    "; log scale" (the server)."""
    first = next(iter(summary["variants"].values()))
    byzantine = ", ".join(str(b) for b in first["byzantine"]) or "none"
    setting = (
        f"n = {first['n']}, f = {first['f']}, Byzantine: {byzantine}, "
        f"{first['delay_model']} link delays, seed {summary['seed']}"
    )
    if server:
        return (
            f"{summary['scenario']}: the CGC server's distance to the honest optimum $w^*$\n"
            f"{setting}; log scale"
        )
    return (
        f"{summary['scenario']}: distance of each honest agent to the honest optimum $x_H$\n"
        f"{setting}; "
    )
