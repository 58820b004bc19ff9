"""Sweep figures from a store: a metric vs a swept key with a confidence band over seeds, or a
heatmap of a metric over two swept keys (``netsim plot STORE --x KEY --y METRIC ...``)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from ..errors import ScenarioError
from .export import tidy
from .spec import canonical_json

# Two-sided 95% Student-t quantiles t_{0.975, df}, df = 1..30 (beyond: the normal 1.96).
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

LABELS = {
    "network.delay.mean": "mean link delay (simulated s)",
    "network.delay.value": "link delay (simulated s)",
    "network.delay.high": "largest link delay (simulated s)",
    "network.loss": "message loss probability",
    "network.f": "f (Byzantine agents tolerated)",
    "network.n": "n (agents)",
    "protocol.deadline": "round deadline (simulated s)",
    "protocol.filter": "filter",
    "protocol.absent": "absent policy (what a late value counts as)",
    "protocol.clock": "round clock",
    "protocol.round_length": "lock-step round length D (simulated s)",
    "network.clocks.offset": "clock offset bound ε (simulated s)",
    "network.clocks.drift": "clock drift bound ρ",
    "late_honest": "honest values late (count)",
    "late_honest_after_gst": "honest values late, sent after GST (count)",
    "max_round_end_spread": "largest spread of honest round ends (simulated s)",
    "final_distance": "final distance to the optimum (units of x)",
    "sim_time_end": "simulated time of the last round (s)",
    "messages_sent": "messages sent",
    "variant": "variant",
}


def label(key: str) -> str:
    """An axis label with its unit for the keys and metrics netsim knows; else the key."""
    if key in LABELS:
        return LABELS[key]
    if key.startswith("time_to_"):
        return f"time to ε = {key.removeprefix('time_to_')} (simulated s)"
    if key.startswith("rounds_to_"):
        return f"rounds to ε = {key.removeprefix('rounds_to_')}"
    return key


def t_quantile(df: int) -> float:
    """t_{0.975, df}: the half-width of a 95% confidence interval is t * s / sqrt(k)."""
    return T_975[df - 1] if df <= len(T_975) else 1.96


def mean_ci(values: np.ndarray, log: bool = False) -> tuple[float, float, float]:
    """(centre, low, high): the mean of the finite values and its 95% confidence interval
    (Student t, mean ± t s / sqrt(k)); NaN if none is finite.

    With ``log`` (metrics drawn on a log axis, e.g. distances spanning many decades) the
    statistics are taken over log10 of the values: the geometric mean and its interval, which
    stay positive and are not dominated by the largest seed.
    """
    finite = values[np.isfinite(values)]
    if log:
        finite = np.log10(finite[finite > 0])
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    centre = float(finite.mean())
    half = 0.0
    if finite.size > 1:
        half = t_quantile(finite.size - 1) * float(finite.std(ddof=1)) / math.sqrt(finite.size)
    if log:
        return 10.0**centre, 10.0 ** (centre - half), 10.0 ** (centre + half)
    return centre, centre - half, centre + half


def plot_sweep(
    store: str | Path,
    x: str,
    y: str,
    hue: str | None = None,
    z: str | None = None,
    where: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    plots: str | Path | None = None,
) -> Path:
    """Draw ``y`` vs ``x`` (mean ± 95% CI over seeds, one line per ``hue`` value), or, with
    ``z``, a heatmap of the mean of metric ``z`` over keys ``x`` and ``y``. ``where`` fixes other
    swept keys. Returns the path of the PNG (default ``<plots>/<sweep>_<y>_vs_<x>.png``, with
    ``plots`` defaulting to ``plots/`` beside the store)."""
    columns, rows = tidy(store)
    name = sweep_name(store)
    rows = [r for r in rows if r["status"] == "done"]
    if not rows:
        raise ScenarioError("store", "has no finished point to plot", str(store), "run the sweep")
    params = _parameters(columns, rows)
    for key, value in (where or {}).items():
        _known(key, params, "--where")
        rows = [r for r in rows if canonical_json(r[key]) == canonical_json(value)]
        if not rows:
            raise ScenarioError(f"--where {key}", "matches no point", value, _shown(params[key]))
    grouping = [x, hue] if z is None else [x, y]
    for key in filter(None, grouping):
        _known(key, params, "--x/--y/--hue")
    metric = y if z is None else z
    if metric not in columns or metric in params:
        metrics = [c for c in columns if c not in params and c not in ("idx", "point_id")]
        raise ScenarioError(
            "--y" if z is None else "--z", "not a metric of this sweep", metric, ", ".join(metrics)
        )
    _single_valued(rows, params, {k for k in grouping if k} | {"seed"}, where or {})
    if out is None:
        stem = f"{name}_{metric}_vs_{x}" + (f"_and_{y}" if z else "")
        stem += "".join(f"_{key}_{_text(value)}" for key, value in (where or {}).items())
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)
        out = (Path(store).parent / "plots" if plots is None else Path(plots)) / f"{safe}.png"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if z is None:
        fig = _lines(rows, x, metric, hue, _heading(name, where))
    else:
        fig = _heatmap(rows, x, y, metric, _heading(name, where))
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def sweep_name(store: str | Path) -> str:
    """The sweep's name as the store records it (``meta``), else the store file's stem (not
    its folder's name: a store outside ``results/`` sits in any folder)."""
    from .store import SweepStore

    try:
        with SweepStore(store, create=False) as db:
            name = db.meta().get("name")
    except Exception:  # an old or foreign store: fall back to the file name
        name = None
    return str(name) if name else Path(store).stem


def _heading(name: str, where: Mapping[str, Any] | None) -> str:
    """The sweep's name, and the swept keys the figure holds fixed."""
    fixed = ", ".join(f"{key} = {_text(value)}" for key, value in (where or {}).items())
    return f"{name} ({fixed})" if fixed else name


def _parameters(columns: list[str], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Swept key (and ``variant``) -> its distinct values, in sweep order."""
    keys = columns[columns.index("seed") + 1 : columns.index("variant") + 1]
    values: dict[str, list[Any]] = {}
    for key in keys:
        seen: dict[str, Any] = {}
        for row in rows:
            seen.setdefault(canonical_json(row[key]), row[key])
        values[key] = list(seen.values())
    return values


def _known(key: str, params: dict[str, list[Any]], flag: str) -> None:
    if key not in params:
        raise ScenarioError(flag, "not a swept key of this store", key, ", ".join(params))


def _shown(values: list[Any]) -> str:
    return ", ".join(_text(v) for v in values)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        head = value.get("kind", value.get("model"))
        rest = ", ".join(f"{k}={v}" for k, v in value.items() if k not in ("kind", "model"))
        return f"{head} ({rest})" if head and rest else str(head or rest)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _single_valued(
    rows: list[dict[str, Any]], params: dict[str, list[Any]], used: set[str], where: Mapping
) -> None:
    """Averaging over a swept key nobody asked about would mix experiments: refuse, and say
    how to pick it."""
    for key, values in params.items():
        if key in used or key in where:
            continue
        present = {canonical_json(r[key]) for r in rows}
        if len(present) > 1:
            raise ScenarioError(
                key,
                "varies in this sweep but is neither on an axis nor fixed",
                _shown(values),
                f"--hue {key}, or --where {key}=VALUE",
            )


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _log_scale(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return bool(finite.size and (finite > 0).all() and finite.max() / finite.min() >= 100)


def _lines(rows: list[dict[str, Any]], x: str, y: str, hue: str | None, name: str) -> plt.Figure:
    """Mean (or geometric mean) of ``y`` per ``x`` value, one colour per ``hue`` value, with
    its 95% confidence interval over seeds: a band along a line for a numeric ``x``; for a
    categorical ``x``, markers with error bars and no connecting line (the categories have no
    order in between), side by side per hue. With one seed there is no interval: none is drawn
    and the title says so."""
    xs = list(dict.fromkeys(canonical_json(r[x]) for r in rows))
    x_values = {canonical_json(r[x]): r[x] for r in rows}
    numeric = _numeric(list(x_values.values()))
    if numeric:
        xs.sort(key=lambda k: x_values[k])
    hues = list(dict.fromkeys(canonical_json(r[hue]) for r in rows)) if hue else [None]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    seeds = len({r["seed"] for r in rows})
    log = _log_scale(np.array([_float(r.get(y)) for r in rows], dtype=float))
    all_means: list[float] = []
    partial_any = False
    for k, h in enumerate(hues):
        colour = plt.get_cmap("tab10")(k % 10)
        pos, means, lows, highs, partial = [], [], [], [], []
        for j, key in enumerate(xs):
            group = [
                r
                for r in rows
                if canonical_json(r[x]) == key and (h is None or canonical_json(r[hue]) == h)
            ]
            values = np.array([_float(r.get(y)) for r in group], dtype=float)
            if not values.size:
                continue
            mean, low, high = mean_ci(values, log)
            if math.isnan(mean):
                continue
            pos.append(x_values[key] if numeric else j)
            means.append(mean)
            lows.append(low)
            highs.append(high)
            partial.append(bool((~np.isfinite(values)).any()))
        if not pos:
            continue
        p, m = np.array(pos, float), np.array(means)
        text = _text(next(r[hue] for r in rows if canonical_json(r[hue]) == h)) if hue else label(y)
        if numeric:
            ax.plot(p, m, "-o", color=colour, label=text, markersize=5)
            if seeds > 1:
                ax.fill_between(p, lows, highs, color=colour, alpha=0.2, linewidth=0)
        else:  # categories: no line between them; hues side by side
            p = p + (k - (len(hues) - 1) / 2) * min(0.6 / max(len(hues), 1), 0.15)
            error = np.array([m - np.array(lows), np.array(highs) - m]) if seeds > 1 else None
            ax.errorbar(
                p, m, yerr=error, fmt="o", color=colour, label=text, markersize=6, capsize=4
            )
        hollow = np.array(partial)
        if hollow.any():
            partial_any = True
            ax.plot(
                p[hollow],
                m[hollow],
                "o",
                markersize=9,
                markerfacecolor="white",
                markeredgecolor=colour,
            )
        all_means.extend(means)
    if not all_means:
        raise ScenarioError("--y", "has no finite value to plot (never reached?)", y, "a metric")
    if numeric and _log_scale(np.array([x_values[k] for k in xs], float)):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(xs)), [_text(x_values[k]) for k in xs])
        ax.set_xlim(-0.5, len(xs) - 0.5)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    ax.grid(True, which="major", alpha=0.3)
    statistic = "geometric mean" if log else "mean"
    if seeds > 1:
        interval = "band" if numeric else "error bars"
        note = f"{statistic} ± 95% CI ({interval}) over {seeds} seeds"
    else:
        note = "1 seed, no CI" + (" (log scale)" if log else "")
    if partial_any:
        note += "; hollow: some seeds never got there (mean over those that did)"
    ax.set_title(textwrap.fill(f"{name}: {label(y)}", 80) + f"\n{note}", fontsize=10)
    ax.legend(title=label(hue) if hue else None, fontsize=9)
    fig.tight_layout()
    return fig


def _heatmap(rows: list[dict[str, Any]], x: str, y: str, z: str, name: str) -> plt.Figure:
    def axis(key: str) -> tuple[list[str], dict[str, Any]]:
        values = {canonical_json(r[key]): r[key] for r in rows}
        keys = list(values)
        if _numeric(list(values.values())):
            keys.sort(key=lambda k: values[k])
        return keys, values

    xs, x_values = axis(x)
    ys, y_values = axis(y)
    log = _log_scale(np.array([_float(r.get(z)) for r in rows], dtype=float))
    grid = np.full((len(ys), len(xs)), np.nan)
    for i, yk in enumerate(ys):
        for j, xk in enumerate(xs):
            values = np.array(
                [
                    _float(r.get(z))
                    for r in rows
                    if canonical_json(r[x]) == xk and canonical_json(r[y]) == yk
                ],
                dtype=float,
            )
            if values.size:
                grid[i, j] = mean_ci(values, log)[0]
    fig, ax = plt.subplots(figsize=(2.6 + 1.0 * len(xs), 1.8 + 0.6 * len(ys)))
    finite = grid[np.isfinite(grid)]
    norm = LogNorm(finite.min(), finite.max()) if log and finite.size else None
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            value = grid[i, j]
            if np.isfinite(value):
                red, green, blue, _ = image.cmap(image.norm(value))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                text, colour = f"{value:.2g}", "white" if dark else "black"
            else:
                text, colour = "never", "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(xs)), [_text(x_values[k]) for k in xs], rotation=30, ha="right")
    ax.set_yticks(range(len(ys)), [_text(y_values[k]) for k in ys])
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    fig.colorbar(image, ax=ax, label=label(z))
    seeds = len({r["seed"] for r in rows})
    statistic = "geometric mean" if log else "mean"
    plural = "s" if seeds > 1 else ""
    ax.set_title(
        textwrap.fill(f"{name}: {label(z)}", 70)
        + f"\n{statistic} over {seeds} seed{plural} per cell",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _float(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
