"""What the figures show, read off the matplotlib objects before they are saved: every finite
data point inside the axes, each panel's range fitted to its own data, the labels and legend
entries promised (and none for what is not drawn), no line hidden exactly under another with
the same style, integer ticks where counts are, and diverging runs (1e307, inf, NaN) drawn with
finite limits and without a warning."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from builders import ROOT, small_raw
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D

import netsim
from netsim.figure_axes import MACHINE_EPSILON, NON_FINITE_NOTE, log_limits
from netsim.message_trace import read_messages
from netsim.plots import draw_distances, draw_server, draw_staleness, plot_results_dir
from netsim.results import read_metrics, read_staleness
from netsim.search.report import draw_progress, draw_worst
from netsim.sweep import parse_sweep, plot_sweep, run_sweep
from netsim.sweep.export import tidy
from netsim.sweep.plots import _lines
from netsim.timing_plots import (
    delay_axis_is_log,
    draw_agent_timeline,
    draw_filter_decisions,
    draw_latency_cdf,
    draw_message_sequence,
    round_labels,
)

# --- inspecting a figure ------------------------------------------------------------------


def data_lines(ax: Any) -> list[Line2D]:
    """The visible lines of ``ax`` drawn in data coordinates (not axhline/axvline, not the
    markers pinned to an edge)."""
    return [
        line
        for line in ax.get_lines()
        if line.get_visible() and line.get_transform() == ax.transData and len(line.get_xdata())
    ]


def finite_points(line: Line2D) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(line.get_xdata(), dtype=float)
    y = np.asarray(line.get_ydata(), dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def assert_limits_contain_data(fig: plt.Figure) -> None:
    """Every finite data point of every line inside its axes' limits."""
    fig.canvas.draw()  # limits as they are drawn
    for ax in fig.axes:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        assert np.all(np.isfinite([x0, x1, y0, y1])), title_of(ax)
        for line in data_lines(ax):
            x, y = finite_points(line)
            if ax.get_yscale() == "log":
                x, y = x[y > 0], y[y > 0]
            if not len(x):
                continue
            tol_x, tol_y = 1e-9 * max(abs(x0), abs(x1), 1e-300), 1e-9 * max(abs(y0), abs(y1))
            assert x.min() >= x0 - tol_x and x.max() <= x1 + tol_x, (title_of(ax), line)
            assert y.min() >= y0 - tol_y and y.max() <= y1 + tol_y, (title_of(ax), line)


def style(line: Line2D) -> tuple:
    return (
        matplotlib.colors.to_rgba(line.get_color()),
        str(line.get_linestyle()),
        str(line._unscaled_dash_pattern),
        round(float(line.get_linewidth()), 3),
        str(line.get_marker()),
        round(float(line.get_markersize()), 3),
    )


def assert_no_line_hidden_under_another(fig: plt.Figure) -> None:
    """No two visible lines of one axes with the same data and the same style: the one below
    would be invisible."""
    for ax in fig.axes:
        lines = [line for line in data_lines(ax) if len(line.get_xdata()) > 1]
        for i, a in enumerate(lines):
            for b in lines[i + 1 :]:
                same = np.array_equal(
                    np.asarray(a.get_xydata(), float), np.asarray(b.get_xydata(), float), True
                )
                assert not (same and style(a) == style(b)), (title_of(ax), a.get_label())


def legend_texts(fig: plt.Figure) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    return [t.get_text() for legend in legends if legend is not None for t in legend.get_texts()]


def title_of(ax: Any) -> str:
    """Every title of ``ax`` (left, centre, right), one a line."""
    return "\n".join(ax.get_title(loc) for loc in ("left", "center", "right"))


def titles(fig: plt.Figure) -> str:
    parts = [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")]
    if fig._suptitle is not None:
        parts.append(fig._suptitle.get_text())
    return "\n".join(parts)


def checked(fig: plt.Figure | None) -> plt.Figure:
    """The common checks of every figure; closes nothing (the caller does)."""
    assert fig is not None
    assert_limits_contain_data(fig)
    assert_no_line_hidden_under_another(fig)
    assert legend_texts(fig), "every figure has a legend"
    assert any(ax.get_xlabel() for ax in fig.axes) and any(ax.get_ylabel() for ax in fig.axes)
    assert titles(fig).strip(), "every figure has a title"
    return fig


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- small real runs, read back from their files ------------------------------------------


def run_files(name: str, out: Path, **overrides: Any) -> tuple[dict, dict, Any, Any]:
    scenario = netsim.load_scenario(ROOT / "scenarios" / f"{name}.toml")
    netsim.run(scenario.with_overrides(overrides), out=out, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    return (
        summary,
        read_metrics(out / "metrics.csv"),
        read_staleness(out / "staleness.csv"),
        read_messages(out / "messages.csv"),
    )


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    """ce_paper_fig2 for 180 rounds: CE reaches machine precision, the run without a filter
    stays near 1."""
    return run_files("ce_paper_fig2", tmp_path_factory.mktemp("paper"), **{"protocol.rounds": 180})


@pytest.fixture(scope="module")
def sync(tmp_path_factory):
    """cgc_sync for 40 rounds: two identical variants, one that diverges."""
    return run_files("cgc_sync", tmp_path_factory.mktemp("sync"), **{"protocol.rounds": 40})


@pytest.fixture(scope="module")
def asynchronous(tmp_path_factory):
    """cgc_async for 40 rounds: staleness, clipping, a straggler."""
    return run_files("cgc_async", tmp_path_factory.mktemp("async"), **{"protocol.rounds": 40})


@pytest.fixture(scope="module")
def drift(tmp_path_factory):
    """ce_deadline_drift for 20 rounds, 10 % of the messages lost: late and lost values."""
    return run_files(
        "ce_deadline_drift",
        tmp_path_factory.mktemp("drift"),
        **{"protocol.rounds": 20, "network.loss": 0.1},
    )


# --- distances (CE) ---------------------------------------------------------------------------


def test_each_distance_row_is_fitted_to_its_own_data(paper):
    summary, metrics, _, _ = paper
    fig = checked(draw_distances(summary, metrics))
    axes = np.array(fig.axes).reshape(-1, 2)
    precision_rows = []
    for (by_round, by_time), variant in zip(axes, summary["variants"]):
        distance = metrics["distance"][metrics["variant"] == variant].astype(float)
        distance = np.where(distance == 0, 1e-17, distance)
        low, high = by_round.get_ylim()
        assert by_time.get_ylim() == (low, high)  # both panels of a row: one range
        # fitted: within half a decade of the data at each end (not a shared 1e-17..10)
        assert np.log10(distance.min()) - np.log10(low) < 0.5 + 0.06 * np.ptp(np.log10(distance))
        assert np.log10(high) - np.log10(distance.max()) < 0.5 + 0.06 * np.ptp(np.log10(distance))
        precision_rows.append(MACHINE_EPSILON in horizontal_lines(by_round))
    # CE reaches machine precision (dashed line), the run without a filter never does
    assert precision_rows == [True, False]
    texts = legend_texts(fig)
    assert [t for t in texts if t.startswith("agent")] == [f"agent {a}" for a in range(1, 6)]
    assert any(t.startswith("machine precision") for t in texts)
    assert NON_FINITE_NOTE not in texts  # nothing is non-finite: no entry for it
    assert "ce_paper_fig2" in titles(fig)
    assert "round" in axes[-1, 0].get_xlabel() and "(s)" in axes[-1, 1].get_xlabel()
    assert "units" in axes[0, 0].get_ylabel()


def horizontal_lines(ax: Any) -> list[float]:
    """The levels of the axhline()s of ``ax``."""
    return [
        float(line.get_ydata()[0])
        for line in ax.get_lines()
        if line.get_transform() == ax.get_yaxis_transform()
    ]


def metrics_arrays(columns: dict[str, list]) -> dict[str, np.ndarray]:
    """metrics.csv's columns (as read_metrics returns them) from lists."""
    return {
        "variant": np.array(columns["variant"], dtype=object),
        "round": np.array(columns["round"]),
        "time": np.array(columns["time"], dtype=float),
        "agent": np.array(columns["agent"], dtype=object),
        "distance": np.array(columns["distance"], dtype=float),
    }


def diverging_metrics() -> tuple[dict, dict]:
    """Two variants, two agents: one converges to exact zeros, one overflows (1e307, then inf
    and NaN)."""
    rounds = np.arange(6)
    good = [1.0, 1e-3, 1e-9, 1e-16, 0.0, 0.0]
    bad = [1.0, 1e100, 1e250, 1.5e307, np.inf, np.nan]
    columns = {"variant": [], "round": [], "time": [], "agent": [], "distance": []}
    for variant, values in (("A", good), ("B", bad)):
        for agent in ("1", "2"):
            columns["variant"] += [variant] * 6
            columns["round"] += rounds.tolist()
            columns["time"] += (0.1 * rounds).tolist()
            columns["agent"] += [agent] * 6
            columns["distance"] += values
    metrics = metrics_arrays(columns)
    summary = tiny_summary(final_distance=0.0)
    info = summary["variants"]["A"]
    summary["scenario"] = "diverging"
    summary["variants"]["B"] = {**info, "final_distance": float("nan")}
    return summary, metrics


def test_a_diverging_run_plots_with_finite_limits_and_no_warning(tmp_path):
    summary, metrics = diverging_metrics()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = draw_distances(summary, metrics)
        fig.savefig(tmp_path / "diverging.png")  # ticks and limits computed here
        checked(fig)
    axes = np.array(fig.axes).reshape(-1, 2)
    low, high = axes[1, 0].get_ylim()
    assert np.isfinite(low) and np.isfinite(high) and high >= 1.5e307 and low <= 1.0
    assert axes[0, 0].get_ylim()[1] < 1e3  # the converging row keeps its own range
    # inf and NaN: triangles at the top edge, explained in the legend
    edge = [
        line
        for line in axes[1, 0].get_lines()
        if line.get_marker() == "^" and line.get_transform() != axes[1, 0].transData
    ]
    assert edge and all(np.all(np.asarray(line.get_ydata()) == 1.0) for line in edge)
    assert NON_FINITE_NOTE in legend_texts(fig)
    # the two agents have the same data: the second dashed over the first
    assert "identical curves" in axes[0, 0].get_title(loc="left")


def many_agents_metrics(agents: int = 12, rounds: int = 5) -> tuple[dict, dict]:
    """Agent k (1..agents) at distance k 10^-r in round r, which it completes at time
    0.1 r + 0.001 k; variant B: agent 3's distance is inf in round 2."""
    columns: dict[str, list] = {"variant": [], "round": [], "time": [], "agent": [], "distance": []}
    for variant in ("A", "B"):
        for k in range(1, agents + 1):
            for r in range(rounds):
                columns["variant"].append(variant)
                columns["round"].append(r)
                columns["time"].append(0.1 * r + 0.001 * k)
                columns["agent"].append(str(k))
                bad = variant == "B" and k == 3 and r == 2
                columns["distance"].append(np.inf if bad else k * 10.0**-r)
    metrics = metrics_arrays(columns)
    summary = tiny_summary(final_distance=agents * 10.0 ** -(rounds - 1))
    summary["variants"]["B"] = dict(summary["variants"]["A"])
    return summary, metrics


def test_many_agents_are_drawn_as_worst_median_and_band():
    """12 honest agents: per round the largest distance, the median and the band from the
    smallest to the largest, hand-computed (k 10^-r for k = 1..12: 12, 6.5 and 1 times
    10^-r), at the round's last completion time in the time panel; no legend entry per agent;
    a round with an infinite distance marked at the top edge."""
    summary, metrics = many_agents_metrics()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = checked(draw_distances(summary, metrics))
    rounds = np.arange(5)
    scale = 10.0**-rounds
    axes = np.array(fig.axes).reshape(-1, 2)
    for row, (by_round, by_time) in enumerate(axes):
        for ax, x in ((by_round, rounds), (by_time, 0.1 * rounds + 0.012)):
            lines = {line.get_label(): line for line in data_lines(ax)}
            worst, median = lines["largest (worst agent)"], lines["median"]
            assert np.allclose(worst.get_xdata(), x) and np.allclose(median.get_xdata(), x)
            assert np.allclose(worst.get_ydata(), 12 * scale, rtol=1e-12)
            expected = 6.5 * scale if row == 0 else np.where(rounds == 2, 7 * scale, 6.5 * scale)
            assert np.allclose(median.get_ydata(), expected, rtol=1e-12)
            band = [c for c in ax.collections if isinstance(c, PolyCollection)]
            (vertices,) = [path.vertices for path in band[0].get_paths()]
            assert np.isclose(vertices[:, 1].min(), 1e-4) and np.isclose(vertices[:, 1].max(), 12)
            edge = [line for line in ax.get_lines() if line.get_marker() == "^"]
            assert len(edge) == row and (not edge or np.allclose(edge[0].get_xdata(), x[2]))
    texts = legend_texts(fig)
    assert not [t for t in texts if t.startswith("agent")]
    assert {"largest (worst agent)", "median", "smallest to largest"} <= set(texts)
    assert NON_FINITE_NOTE in texts
    assert "12 honest agents" in titles(fig)


def test_the_readme_filter_aware_run_draws_without_warning(tmp_path):
    """`--set 'adversary={kind="filter_aware"}'`, shortened: the run without a filter
    diverges; drawn from its files into tmp_path, no warning."""
    out = tmp_path / "res"
    scenario = netsim.load_scenario(ROOT / "scenarios" / "ce_paper_fig2.toml").with_overrides(
        {"adversary": {"kind": "filter_aware"}, "protocol.rounds": 60}
    )
    netsim.run(scenario, out=out, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = plot_results_dir(out, tmp_path / "plots")
    assert all(p.is_file() for p in paths)


def test_log_limits_stay_below_the_largest_float():
    low, high = log_limits([1e-3, 1.7e308, np.inf, np.nan, 0.0, -1.0])
    assert low < 1e-3 and np.isfinite(high) and high >= 1.7e308
    assert log_limits([]) == (0.1, 10.0)
    low, high = log_limits([5.0, 5.0])  # a single value: a decade around it
    assert low < 5.0 < high


# --- the CGC server ---------------------------------------------------------------------------


def test_server_axis_and_legend_show_the_same_unsquared_distance(sync):
    summary, metrics, _, _ = sync
    fig = checked(draw_server(summary, metrics))
    ylabel = fig.axes[0].get_ylabel()
    assert "\\|w_t - w^*\\|" in ylabel and "^2" not in ylabel and "units" in ylabel
    lines = {line.get_label(): line for ax in fig.axes for line in data_lines(ax)}
    for variant, info in summary["variants"].items():
        (label,) = [k for k in lines if k.startswith(f"{variant} (final")]
        assert f"{info['final_distance']:.1e}" in label
        final = np.asarray(lines[label].get_ydata(), float)[-1]
        assert final == pytest.approx(info["final_distance"], rel=1e-9)  # the same quantity
    # "large norm" and "at the clipping threshold" agree to rounding: both stay visible
    big = lines[next(k for k in lines if k.startswith("CGC, large norm (final"))]
    edge = lines[next(k for k in lines if k.startswith("CGC, at the clipping threshold (final"))]
    assert np.allclose(big.get_ydata(), edge.get_ydata(), rtol=1e-9, atol=0)
    style = (big.get_linestyle(), big.get_linewidth())
    assert style != (edge.get_linestyle(), edge.get_linewidth())
    # a run that is exactly another one is said to be, and drawn over it
    twin = {k: np.asarray(v).copy() for k, v in metrics.items()}
    twin["variant"] = np.where(twin["variant"] == "CGC, random", "twin", "")
    keep = twin["variant"] == "twin"
    doubled = {k: np.concatenate([metrics[k], twin[k][keep]]) for k in metrics}
    with_twin = {**summary, "variants": {**summary["variants"]}}
    with_twin["variants"]["twin"] = summary["variants"]["CGC, random"]
    texts = legend_texts(checked(draw_server(with_twin, doubled)))
    assert any("identical to “CGC, random”" in t for t in texts)
    # the diverging run without a filter has a row of its own
    assert len(fig.axes) == 4
    assert "diverging" in title_of(fig.axes[2])
    assert fig.axes[0].get_ylim()[1] < 1e3 < fig.axes[2].get_ylim()[1]


def test_server_plot_of_inf_and_nan_has_finite_limits_and_no_warning(tmp_path):
    summary, metrics = diverging_metrics()
    metrics["agent"] = np.array(["server"] * len(metrics["agent"]), dtype=object)
    keep = np.concatenate([np.arange(6), np.arange(12, 18)])  # one node per variant
    metrics = {k: v[keep] for k, v in metrics.items()}
    for info in summary["variants"].values():
        info["protocol"] = "cgc"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = draw_server(summary, metrics)
        fig.savefig(tmp_path / "server.png")
        checked(fig)
    assert all(np.all(np.isfinite(ax.get_ylim())) for ax in fig.axes)
    assert NON_FINITE_NOTE in legend_texts(fig)


# --- staleness ----------------------------------------------------------------------------------


def test_staleness_bound_is_drawn_and_labelled_and_ticks_are_at_the_data(asynchronous):
    summary, _, staleness, _ = asynchronous
    fig = checked(draw_staleness(summary, staleness))
    histogram, over_time = fig.axes
    assert any(t.startswith("declared bound B = 10") for t in legend_texts(fig))
    assert any(t.get_text() == "B = 10" for t in histogram.texts)
    assert any(t.get_text() == "B = 10" for t in over_time.texts)
    # the staleness axes: a labelled tick at each integer up to 10
    ticks = [t for t in histogram.get_xticks() if 0 <= t <= 10]
    assert set(range(0, 11, 2)) <= {int(t) for t in ticks if float(t).is_integer()}
    # variants with the same staleness say so
    assert any("identical to" in t for t in legend_texts(fig))


def test_large_staleness_gets_symlog_with_every_integer_to_ten():
    summary = {
        "scenario": "stale",
        "seed": 0,
        "variants": {
            "A": {"mode": "async", "n": 2, "byzantine": [], "staleness_bound": 10},
        },
    }
    rounds = np.arange(300)
    staleness = {
        "variant": np.array(["A"] * 600, dtype=object),
        "round": np.concatenate([rounds, rounds]),
        "agent": np.array([0] * 300 + [1] * 300),
        "staleness": np.concatenate([rounds % 7, rounds]),  # up to 299
    }
    fig = checked(draw_staleness(summary, staleness))
    histogram = fig.axes[0]
    assert histogram.get_xscale() == "symlog"
    ticks = {int(t) for t in histogram.get_xticks()}
    assert set(range(11)) <= ticks and {20, 50, 100, 200} <= ticks
    assert histogram.get_xlim()[1] >= 299


# --- timing figures -----------------------------------------------------------------------------


def test_decisions_name_the_receiver_of_each_protocol(drift, asynchronous):
    summary, _, _, messages = drift
    fig = checked(draw_filter_decisions(summary, messages))
    text = titles(fig)
    assert "server" not in text and "honest receiver" in text and "eliminated" in text
    summary, _, _, messages = asynchronous
    fig = checked(draw_filter_decisions(summary, messages))
    text = titles(fig)
    assert "reached the server" in text and "honest receiver" not in text
    assert "Byzantine values clipped" in text


def test_decisions_show_clipping_when_the_title_promises_it():
    table = {
        "variant": np.array(["A"] * 6 + ["B"] * 6, dtype=object),
        "round": np.array([0, 0, 0, 0, 1, 1] * 2),
        "sender": np.array([-1, 0, 1, 3, 0, 3] * 2),
        "receiver": np.array([0, -1, -1, -1, -1, -1] * 2),
        "send_time": np.array([0.0, 0.2, 0.2, 0.2, 0.6, 0.6] * 2),
        "arrival_time": np.array([0.1, 0.3, 0.3, 0.3, 0.7, 0.9] * 2),
        "delivered": np.ones(12, dtype=bool),
        "byzantine": np.array([False, False, False, True, False, True] * 2),
        "decision": np.array(["kept", "clipped", "kept", "clipped", "kept", "clipped"] * 2),
    }
    info = {"protocol": "cgc", "filter": "cgc", "n": 4, "f": 1, "byzantine": [3]}
    summary = {"scenario": "clip", "seed": 0, "variants": {"A": info, "B": dict(info)}}
    fig = checked(draw_filter_decisions(summary, table))
    middle = fig.axes[1]
    assert "clipped" in title_of(middle)
    diamonds = [line for line in middle.get_lines() if line.get_marker() == "D"]
    assert len(diamonds) == 2 and all(len(line.get_xdata()) == 1 for line in diamonds)
    assert diamonds[0].get_markersize() != diamonds[1].get_markersize()  # both visible
    # A and B are identical: the legend says so for B
    assert any("identical to “A”" in t for t in legend_texts(fig))


def test_message_sequence_labels_rounds_in_the_legend_and_only_what_is_drawn(drift, asynchronous):
    summary, metrics, _, messages = drift
    fig = checked(draw_message_sequence(summary, messages, metrics=metrics))
    ax = fig.axes[0]
    assert not [t for t in ax.texts if t.get_text()]  # no round label over the arrows
    texts = legend_texts(fig)
    assert {"round 0 completed", "round 1 completed", "round 2 completed"} <= set(texts)
    assert "clipped by the server" not in texts  # CE: there is none
    assert "lost" in texts  # 10 % loss
    summary, metrics, _, messages = asynchronous
    fig = checked(draw_message_sequence(summary, messages, metrics=metrics))
    texts = legend_texts(fig)
    window = (messages["variant"] == next(iter(summary["variants"]))) & (messages["round"] < 3)
    dropped = window & (messages["receiver"] >= 0) & (messages["decision"] == "eliminated")
    assert ("request dropped by a busy agent" in texts) == bool(np.any(dropped))
    assert "eliminated by the receiver" not in texts  # CGC: receivers are named


def tiny_summary(**info: Any) -> dict:
    base = {
        "protocol": "ce",
        "filter": "ce",
        "n": 3,
        "f": 1,
        "byzantine": [0],
        "delay_model": "constant",
    }
    return {"scenario": "tiny", "seed": 0, "variants": {"A": {**base, **info}}}


def timeline_metrics(times: list[float]) -> dict:
    rounds = len(times)
    return {
        "variant": np.array(["A"] * (rounds + 1), dtype=object),
        "round": np.arange(rounds + 1),
        "time": np.array([0.0, *times]),
        "agent": np.array(["1"] * (rounds + 1), dtype=object),
        "distance": np.ones(rounds + 1),
    }


def test_timeline_labels_every_round_and_rounds_ending_together():
    # rounds 3 and 4 end at the same instant; round 5 is very short
    times = [1.0, 2.0, 3.0, 4.0, 4.0, 4.001, 5.0, 6.0]
    assert round_labels(np.array([[0, 1], [1, 2], [2, 2]], float)) == [
        (0.0, 1.0, "0"),
        (1.0, 2.0, "1,2"),
    ]
    fig = checked(draw_agent_timeline(tiny_summary(), timeline_metrics(times)))
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert "3,4" in labels and "5" in labels
    shown = {int(r) for text in labels for r in text.split(",")}
    assert shown == set(range(len(times)))  # every round numbered
    texts = legend_texts(fig)
    assert not any("compute" in t for t in texts)  # no compute time: no swatch for it
    assert "gap: idle" not in texts  # no gap drawn
    fig = checked(draw_agent_timeline(tiny_summary(compute_time=0.2), timeline_metrics(times)))
    assert any(t.startswith("computing: 200 ms") for t in legend_texts(fig))


def uniform_messages(low: float, high: float, count: int = 400, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    send = np.repeat(np.arange(count // 4) * 0.1, 4)
    sender = np.tile([1, 2, 0, 1], count // 4)
    receiver = np.tile([2, 1, 1, 0], count // 4)
    delay = rng.uniform(low, high, count)
    return {
        "variant": np.array(["A"] * count, dtype=object),
        "round": np.repeat(np.arange(count // 4), 4),
        "sender": sender,
        "receiver": receiver,
        "send_time": send,
        "arrival_time": send + delay,
        "delivered": np.ones(count, dtype=bool),
        "byzantine": sender == 0,
        "decision": np.array(["kept"] * count, dtype=object),
    }


def test_latency_axis_is_linear_for_bounded_delays_and_every_class_visible():
    messages = uniform_messages(0.0, 0.05)
    fig = checked(draw_latency_cdf(tiny_summary(), messages))
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and "linear" in ax.get_xlabel()
    steps = [line for line in data_lines(ax) if len(line.get_xdata()) > 2]
    assert len(steps) == 3  # honest -> honest, Byzantine -> honest, honest -> Byzantine
    assert len({line.get_linewidth() for line in steps}) == 3  # wide below, narrow on top
    assert len({line.get_zorder() for line in steps}) == 3
    assert delay_axis_is_log(np.random.default_rng(1).exponential(0.01, 5000))
    assert delay_axis_is_log(0.01 * (1 + np.random.default_rng(2).pareto(1.5, 5000)))
    assert not delay_axis_is_log(np.full(100, 0.02))


# --- sweeps -------------------------------------------------------------------------------------


def test_sweep_plot_with_one_seed_and_a_categorical_axis(tmp_path):
    raw = small_raw(protocol__rounds=8)
    raw["name"] = "tiny_sweep"
    raw["sweep"] = {
        "network.delay.mean": [0.005, 0.02],
        "protocol.filter": ["ce", "median"],
        "seeds": [0],
    }
    store = tmp_path / "some_folder" / "points.db"
    run_sweep(parse_sweep(raw), store, jobs=1, progress=False)
    path = plot_sweep(
        store, "protocol.filter", "final_distance", hue="network.delay.mean", plots=tmp_path
    )
    assert path.name.startswith("tiny_sweep_")  # the sweep's name, not the folder's
    _, rows = tidy(store)
    fig = _lines(rows, "protocol.filter", "final_distance", "network.delay.mean", "tiny_sweep")
    checked(fig)
    ax = fig.axes[0]
    assert "1 seed, no CI" in title_of(ax) and "95%" not in title_of(ax)
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no band
    for line in data_lines(ax):  # categories: markers, never a connecting line
        assert line.get_linestyle() in ("None", "none", "") or len(line.get_xdata()) == 1
    fig = _lines(rows, "network.delay.mean", "final_distance", "protocol.filter", "tiny_sweep")
    checked(fig)
    assert not [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]


# --- searches -----------------------------------------------------------------------------------


def search_result(values: list[float], library: dict, objective: str = "final_distance"):
    history = [{"value": v, "status": "done"} for v in values]
    done = [(v["value"], k) for k, v in library.items() if v["status"] == "done"]
    best = max(done) if done else None
    return SimpleNamespace(
        scenario="searched",
        history=history,
        best_value=float(np.nanmax(values)),
        library=library,
        library_best=(best[1], best[0]) if best else None,
        settings=SimpleNamespace(
            objective=objective,
            method="random",
            space="byzantine",
            seed=0,
            warm_start=False,
            polish=False,
        ),
    )


def test_search_progress_has_integer_ticks_a_fitted_range_and_one_as_written():
    result = search_result(
        [120.0, 95.0, 130.0],
        {
            "as written": {"status": "done", "value": 140.0},
            "attack x": {"status": "done", "value": 80.0},
        },
        objective="max_honest_staleness",
    )
    fig = checked(draw_progress(result))
    ax = fig.axes[0]
    fig.canvas.draw()
    visible = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert all(float(t).is_integer() for t in visible)
    low, high = ax.get_ylim()
    assert low > 50 and high < 200  # fitted to 95..140, not to 1e5
    texts = legend_texts(fig)
    assert sum("as written" in t for t in texts) == 1


def test_search_progress_marks_a_non_finite_evaluation_without_warning(tmp_path):
    result = search_result([1.0, np.inf, 1e307], {"as written": {"status": "done", "value": 2.0}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = draw_progress(result)
        fig.savefig(tmp_path / "progress.png")
    checked(fig)
    assert NON_FINITE_NOTE in legend_texts(fig)


@pytest.fixture(scope="module")
def search_dirs(tmp_path_factory):
    """Three short runs of search_cgc_async's base scenario standing for the worst case, the
    best hand-written case and the scenario as written (the last twice as long)."""
    root = tmp_path_factory.mktemp("search")
    scenario = netsim.load_scenario(ROOT / "scenarios" / "search_cgc_async.toml")
    dirs = {}
    for name, rounds, seed in (("worst", 20, 1), ("library", 20, 2), ("written", 60, 0)):
        sc = scenario.with_overrides({"protocol.rounds": rounds, "seed": seed})
        netsim.run(sc, out=root / name, progress=False)
        dirs[name] = root / name
    return dirs


def test_search_worst_draws_the_objective_and_fits_the_time_axis(search_dirs):
    library = {
        "as written": {"status": "done", "value": 3.0},
        "every delay = 0": {"status": "done", "value": 5.0},
    }
    result = search_result([4.0, 6.0], library, objective="max_honest_staleness")
    fig = checked(
        draw_worst(result, search_dirs["worst"], search_dirs["library"], search_dirs["written"])
    )
    _, by_time, objective = fig.axes
    assert "staleness" in objective.get_ylabel() and "max_honest_staleness" in title_of(objective)
    assert len(data_lines(objective)) >= 3  # the worst run, the library's, as written
    worst_time = read_metrics(search_dirs["worst"] / "metrics.csv")["time"].max()
    library_time = read_metrics(search_dirs["library"] / "metrics.csv")["time"].max()
    assert by_time.get_xlim()[1] <= 1.1 * max(worst_time, library_time)
    assert "beyond the right edge" in by_time.get_xlabel()
    assert sum("as written" in t for t in legend_texts(fig)) == 1


def test_search_worst_names_as_written_once_when_it_is_the_library_best(search_dirs):
    library = {"as written": {"status": "done", "value": 7.0}}
    result = search_result([4.0], library)
    fig = checked(
        draw_worst(result, search_dirs["worst"], search_dirs["written"], search_dirs["written"])
    )
    assert sum("as written" in t for t in legend_texts(fig)) == 1
    assert len(fig.axes) == 2  # final_distance: marked on the distance panel
