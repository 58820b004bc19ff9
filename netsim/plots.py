"""Figures, drawn from results files only (never from live simulation objects)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .results import read_metrics, read_staleness
from .timing_plots import clock_label, read_messages

FLOOR = 1e-17  # distances of exactly 0 are drawn here on the log scale


def plot_distances(summary: dict[str, Any], metrics: dict[str, np.ndarray], path: Path) -> Path:
    """Distance of every honest agent to the optimum, vs round and vs simulated seconds.

    One row per variant (like the CE paper's Fig. 2, with the method without the filter under
    CE), one colour per honest agent; the y axes are shared so rows compare directly.
    """
    variants = list(summary["variants"])
    agents = sorted({str(a) for a in metrics["agent"]}, key=lambda a: (len(a), a))
    colours = {a: plt.get_cmap("tab10")(k % 10) for k, a in enumerate(agents)}
    fig, axes = plt.subplots(
        len(variants), 2, figsize=(12, 1.0 + 3.0 * len(variants)), sharey=True, squeeze=False
    )
    t_max = max(float(metrics["time"].max()), 1e-12)
    for row, variant in enumerate(variants):
        by_round, by_time = axes[row]
        rows = metrics["variant"] == variant
        for agent in agents:
            mine = rows & (metrics["agent"].astype(str) == agent)
            order = np.argsort(metrics["round"][mine], kind="stable")
            distance = np.maximum(metrics["distance"][mine][order], FLOOR)
            style = {"color": colours[agent], "linewidth": 1.2, "label": f"agent {agent}"}
            by_round.plot(metrics["round"][mine][order], distance, **style)
            by_time.plot(metrics["time"][mine][order], distance, **style)
        info = summary["variants"][variant]
        clock = clock_label(info)
        by_round.set_title(
            f"{variant}: vs round (final max distance {info['final_distance']:.1e})"
            + (f"\n{clock}" if clock else ""),
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
        by_round.set_ylabel(r"$\|x_i^t - x_H\|$")
        for ax in (by_round, by_time):
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
    axes[-1, 0].set_xlabel("round t (iterations)")
    axes[-1, 1].set_xlabel("simulated time (s)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle(_title(summary))
    fig.tight_layout(rect=(0, 0.6 / fig.get_figheight(), 1, 1))  # room for the legend
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(len(agents), 10),
        fontsize=9,
        title="honest agent",
        title_fontsize=9,
        frameon=False,
    )
    return _save(fig, path)


def plot_server(summary: dict[str, Any], metrics: dict[str, np.ndarray], path: Path) -> Path:
    """CGC: ||w_t - w*||^2 vs round and vs simulated seconds, one colour per variant, with
    Theorem 2's bound rho^t ||w_0 - w*||^2 (dashed) wherever the theorem covers the run."""
    variants = list(summary["variants"])
    colours = {v: plt.get_cmap("tab10")(k % 10) for k, v in enumerate(variants)}
    fig, (by_round, by_time) = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    first = metrics["round"] == 0
    start = float(np.max(metrics["distance"][first].astype(float) ** 2))
    ceiling = start * 1e5  # just above the axes: what exceeds it is off the plot anyway
    smallest = np.inf
    bounds_drawn: set[tuple[float, float]] = set()
    for k, variant in enumerate(variants):
        rows = metrics["variant"] == variant
        order = np.argsort(metrics["round"][rows], kind="stable")
        rounds = metrics["round"][rows][order]
        width = max(2.8 - 0.45 * k, 1.0)  # earlier variants wider: coinciding runs stay visible
        with np.errstate(over="ignore"):  # a diverging run's square may overflow: drawn off-axes
            squared = np.maximum(metrics["distance"][rows][order].astype(float) ** 2, FLOOR**2)
        smallest = min(smallest, float(squared.min()))
        # Off the top of the axes (a diverging run): drawn at the edge, its label has the value.
        squared = np.minimum(np.where(np.isnan(squared), np.inf, squared), ceiling)
        info = summary["variants"][variant]
        label = f"{variant} (final $\\|w - w^*\\|$ = {info['final_distance']:.1e})"
        by_round.plot(rounds, squared, color=colours[variant], linewidth=width, label=label)
        by_time.plot(metrics["time"][rows][order], squared, color=colours[variant], linewidth=width)
        theory = info.get("theory") or {}
        if theory.get("covered") and (theory["rho"], squared[0]) not in bounds_drawn:
            bounds_drawn.add((theory["rho"], squared[0]))
            t = np.arange(rounds.max() + 1)
            by_round.plot(
                t,
                theory["rho"] ** t * squared[0],
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"Theorem 2: $\\rho^t\\|w_0 - w^*\\|^2$, "
                f"$\\rho$ = {theory['rho']:.4f} ($\\eta$ = {theory['eta']:.3g} < "
                f"$\\bar\\eta$ = {theory['eta_bar']:.3g})",
            )
    for ax in (by_round, by_time):
        ax.set_yscale("log")
        # A diverging run leaves the axes at the top; its legend label gives its final value.
        ax.set_ylim(bottom=smallest / 10, top=start * 1e4)
        ax.grid(True, which="major", alpha=0.3)
    by_round.set_xlabel("round t (server iterations)")
    by_time.set_xlabel("simulated time (s)")
    by_round.set_ylabel(r"squared distance to the optimum $\|w_t - w^*\|^2$")
    by_round.set_title("vs round", loc="left", fontsize=10)
    by_time.set_title("vs simulated time", loc="left", fontsize=10)
    handles, labels = by_round.get_legend_handles_labels()
    fig.suptitle(_title(summary, server=True))
    rows_of_legend = (len(labels) + 1) // 2
    fig.tight_layout(rect=(0, (0.2 + 0.2 * rows_of_legend) / fig.get_figheight(), 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8.5, frameon=False)
    return _save(fig, path)


def plot_staleness(
    summary: dict[str, Any], staleness: dict[str, np.ndarray], path: Path
) -> Path | None:
    """CGC async: how stale the honest gradients the server steps with are. Left, the histogram
    of t - s_i(t) over (round, honest agent); right, the largest honest staleness each round.
    The declared bound B is dotted."""
    variants = [v for v, info in summary["variants"].items() if info.get("mode") == "async"]
    if not variants:
        return None
    fig, (histogram, over_time) = plt.subplots(1, 2, figsize=(13, 4.8))
    bound = None
    for k, variant in enumerate(variants):
        info = summary["variants"][variant]
        colour = plt.get_cmap("tab10")(k % 10)
        honest = [a for a in range(info["n"]) if a not in info["byzantine"]]
        rows = (staleness["variant"] == variant) & np.isin(staleness["agent"], honest)
        rounds = staleness["round"][rows]
        values = staleness["staleness"][rows]
        values = np.where(values < 0, rounds + 1, values)  # never heard: t - (-1)
        counts = np.bincount(values)
        support = np.flatnonzero(counts)
        width = max(2.8 - 0.45 * k, 1.0)  # earlier variants wider: coinciding runs stay visible
        histogram.plot(
            support,
            counts[support] / counts.sum(),
            marker="o",
            markersize=3,
            color=colour,
            linewidth=width,
            label=f"{variant} (max {values.max()}, breaches of B: "
            f"{info.get('staleness_breaches', 0)})",
        )
        worst = np.zeros(rounds.max() + 1, dtype=int)
        np.maximum.at(worst, rounds, values)
        over_time.plot(np.arange(len(worst)), worst, color=colour, linewidth=width)
        bound = info.get("staleness_bound", bound)
    for ax in (histogram, over_time):
        if bound is not None:
            line = histogram.axvline if ax is histogram else over_time.axhline
            line(
                bound,
                color="black",
                linestyle=":",
                linewidth=1.2,
                label=f"declared bound B = {bound}" if ax is histogram else None,
            )
        ax.grid(True, alpha=0.3)
    histogram.set_xscale("symlog", linthresh=10)
    histogram.set_xlim(left=0)
    histogram.set_yscale("log")
    histogram.set_xlabel("staleness t - s_i(t) (rounds; linear to 10, then log)")
    histogram.set_ylabel("share of (round, honest agent) pairs")
    histogram.set_title("histogram", loc="left", fontsize=10)
    over_time.set_yscale("symlog", linthresh=10)
    over_time.set_ylim(bottom=0)
    over_time.set_xlabel("round t (server iterations)")
    over_time.set_ylabel("largest honest staleness (rounds)")
    over_time.set_title("largest honest staleness each round", loc="left", fontsize=10)
    handles, labels = histogram.get_legend_handles_labels()
    fig.suptitle(
        f"{summary['scenario']}: staleness of the honest gradients the asynchronous "
        f"server steps with (seed {summary['seed']})"
    )
    rows_of_legend = (len(labels) + 1) // 2
    fig.tight_layout(rect=(0, (0.2 + 0.2 * rows_of_legend) / fig.get_figheight(), 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8.5, frameon=False)
    return _save(fig, path)


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
    summary = json.loads(summary_file.read_text())
    metrics = read_metrics(results_dir / "metrics.csv")
    staleness = read_staleness(results_dir / "staleness.csv")
    messages = read_messages(results_dir / "messages.csv")
    if messages is None and (results_dir / "messages.parquet").exists():
        messages = read_messages(results_dir / "messages.parquet")
    return draw_all(summary, metrics, staleness, Path(plots_dir), messages)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _title(summary: dict[str, Any], server: bool = False) -> str:
    first = next(iter(summary["variants"].values()))
    byzantine = ", ".join(str(b) for b in first["byzantine"]) or "none"
    if server:
        return (
            f"{summary['scenario']}: the CGC server's distance to the honest optimum $w^*$\n"
            f"n = {first['n']}, f = {first['f']}, Byzantine: {byzantine}, "
            f"{first['delay_model']} link delays, seed {summary['seed']}; log scale"
        )
    return (
        f"{summary['scenario']}: distance of each honest agent to the honest optimum $x_H$\n"
        f"n = {first['n']}, f = {first['f']}, Byzantine: {byzantine}, "
        f"{first['delay_model']} link delays, seed {summary['seed']}; log scale, exact 0 drawn "
        f"at {FLOOR:.0e}"
    )
