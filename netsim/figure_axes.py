"""Axes that show all of their data: shared helpers of every netsim figure.

Log axes fitted to the finite data in log10 space (values up to the largest float neither
overflow nor get cut; matplotlib's own autoscaling warns there), non-finite values (a diverging
run) marked at the top edge instead of dropped silently, and line styles for series that may
coincide (earlier wider and below, later narrower, dashed and on top), with a test for series
that are the same data so that a figure can say "identical to" rather than hide one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MACHINE_EPSILON = float(np.finfo(float).eps)  # 2.2e-16: the relative precision of a float64
_LOG10_MAX = float(np.log10(np.finfo(float).max))  # 308.25: no float is larger than 10**this
_LOG10_MIN = float(np.log10(np.finfo(float).tiny))  # -307.65: the smallest normal float
# Line styles that stay apart when lines coincide: solid, dashed, dash-dot, dotted.
LINESTYLES: tuple[Any, ...] = ("-", (0, (5, 2)), (0, (4, 1.5, 1, 1.5)), (0, (1, 1.2)))
NON_FINITE_NOTE = "▲ at the top edge: not finite (overflow to inf, or NaN)"


def finite_positive(values: Any) -> np.ndarray:
    """The finite values > 0 of ``values`` (any shape), flattened, as float64."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    return flat[np.isfinite(flat) & (flat > 0)]


def log_limits(values: Any, pad: float = 0.06, min_span: float = 1.0) -> tuple[float, float]:
    """Limits of a log axis fitted to the finite positive ``values``: their extremes padded by
    ``pad`` of the span, the span at least ``min_span`` decades, computed in log10 space so
    that values up to the largest float (1.8e308) neither overflow nor get cut. (0.1, 10) when
    there is no such value."""
    data = finite_positive(values)
    if not data.size:
        return 0.1, 10.0
    low, high = float(np.log10(data.min())), float(np.log10(data.max()))
    if high - low < min_span:
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    margin = pad * (high - low)
    low, high = max(low - margin, _LOG10_MIN), min(high + margin, _LOG10_MAX - 1e-3)
    return 10.0**low, 10.0**high


def set_log_y(ax: Any, values: Any, **limits: Any) -> tuple[float, float]:
    """A log y axis fitted to ``values`` (:func:`log_limits`; keywords go to it), with decade
    ticks that stay below the largest float. Call it before plotting: matplotlib's own
    autoscaling and tick placement overflow (and warn) on data near 1e308."""
    low, high = log_limits(values, **limits)
    ax.set_autoscaley_on(False)
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    set_log_ticks(ax.yaxis, low, high)
    return low, high


def set_log_ticks(axis: Any, low: float, high: float, most: int = 8) -> None:
    """Decade ticks between ``low`` and ``high`` (a log axis), every 1, 2, 3, 5, 10, ...
    decades so that at most ``most`` are labelled; minor ticks at the other decades when a tick
    skips some, else matplotlib's."""
    from matplotlib.ticker import FixedLocator, LogFormatterSciNotation, NullFormatter

    first, last = int(np.ceil(np.log10(low) - 1e-9)), int(np.floor(np.log10(high) + 1e-9))
    span = max(last - first, 0)
    stride = next((s for s in (1, 2, 3, 5, 10, 20, 25, 50, 100) if span / s <= most - 1), 100)
    decades = [k for k in range(first, last + 1) if k % stride == 0] or [first]
    axis.set_major_locator(FixedLocator([10.0**k for k in decades]))
    axis.set_major_formatter(LogFormatterSciNotation())
    if stride > 1:
        minor = [10.0**k for k in range(first, last + 1) if k % stride and stride <= 10]
        axis.set_minor_locator(FixedLocator(minor))
        axis.set_minor_formatter(NullFormatter())


def mark_non_finite(ax: Any, x: Any, y: Any, colour: Any, **style: Any) -> int:
    """Mark each non-finite ``y`` (inf, NaN: a diverging run) by a triangle at the top edge of
    ``ax`` above its ``x``, drawn outside the data limits on purpose; returns how many."""
    x = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(np.asarray(y, dtype=np.float64))
    if np.any(bad):
        ax.plot(
            x[bad],
            np.ones(int(bad.sum())),
            transform=ax.get_xaxis_transform(),
            marker="^",
            markersize=style.pop("markersize", 5),
            linestyle="None",
            color=colour,
            clip_on=False,
            zorder=5,
            **style,
        )
    return int(bad.sum())


def finite_or_nan(values: Any) -> np.ndarray:
    """``values`` as float64 with inf replaced by NaN: a line breaks there instead of running
    off to infinity (mark those points with :func:`mark_non_finite`)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def layered_style(k: int, count: int, widest: float = 2.6, narrowest: float = 1.4) -> dict:
    """Line style of the k-th of ``count`` series that may coincide: earlier series wider and
    below, later ones narrower, dashed or dotted and on top, so that a series drawn exactly
    over another still shows both (colours are the caller's)."""
    step = (widest - narrowest) / max(count - 1, 1)
    return {
        "linewidth": max(widest - step * k, narrowest),
        "linestyle": LINESTYLES[k % len(LINESTYLES)],
        "zorder": 2.0 + 0.01 * k,
    }


def same_series(first: tuple[Any, Any], second: tuple[Any, Any]) -> bool:
    """Whether two (x, y) series are the same data (NaN equal to NaN): one would hide the
    other exactly."""
    return all(
        np.asarray(a).shape == np.asarray(b).shape
        and np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)
        for a, b in zip(first, second)
    )


def identical_groups(series: dict[str, tuple[Any, Any]]) -> dict[str, list[str]]:
    """name -> the later names whose (x, y) are the same data (:func:`same_series`), for the
    first name of each group only; in the order of ``series``."""
    groups: dict[str, list[str]] = {}
    for name, data in series.items():
        for first in groups:
            if same_series(series[first], data):
                groups[first].append(name)
                break
        else:
            groups[name] = []
    return groups


def quoted(names: Sequence[str]) -> str:
    return ", ".join(f"“{n}”" for n in names)


def labelled_hline(axes: Any, y: float, text: str, **style: Any) -> None:
    """A horizontal reference line at ``y`` on each of ``axes`` (one or several), its ``text``
    written just above it at the right end of the first (inside the panel whatever its width)."""
    axes = axes if isinstance(axes, (list, tuple)) else (axes,)
    for ax in axes:
        ax.axhline(y, **({"color": "black"} | style))
    axes[0].annotate(
        text, (0.99, y), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8
    )


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (its directory created), close it, return the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
