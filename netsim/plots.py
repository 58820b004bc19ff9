"""Figures, drawn from results files only (never from live simulation objects)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .results import read_metrics

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
        by_round.set_title(
            f"{variant}: vs round (final max distance {info['final_distance']:.1e})",
            loc="left",
            fontsize=10,
        )
        by_time.set_title(f"{variant}: vs simulated time", loc="left", fontsize=10)
        by_time.set_xlim(0, t_max * 1.02)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_results_dir(results_dir: str | Path, plots_dir: str | Path = "plots") -> list[Path]:
    """Redraw the plots of a finished run from its files (``netsim plot``)."""
    results_dir = Path(results_dir)
    summary_file = results_dir / "summary.json"
    if not summary_file.exists():
        raise FileNotFoundError(
            f"{summary_file} not found: is {results_dir} a results directory "
            "written by `netsim run`?"
        )
    summary = json.loads(summary_file.read_text())
    metrics = read_metrics(results_dir / "metrics.csv")
    return [plot_distances(summary, metrics, Path(plots_dir) / f"{summary['scenario']}.png")]


def _title(summary: dict[str, Any]) -> str:
    first = next(iter(summary["variants"].values()))
    byzantine = ", ".join(str(b) for b in first["byzantine"]) or "none"
    return (
        f"{summary['scenario']}: distance of each honest agent to the honest optimum $x_H$\n"
        f"n = {first['n']}, f = {first['f']}, Byzantine: {byzantine}, "
        f"{first['delay_model']} link delays, seed {summary['seed']}; log scale, exact 0 drawn "
        f"at {FLOOR:.0e}"
    )
