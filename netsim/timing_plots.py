"""Timing figures, drawn from results files only (never from live simulation objects).

- :func:`plot_message_sequence`: a message-sequence chart of the first rounds of one variant;
- :func:`plot_agent_timeline`: when each node waits for messages, computes, or is idle;
- :func:`plot_latency_cdf`: the empirical CDF of the link delays, per class of link;
- :func:`plot_filter_decisions`: per round, how many Byzantine values the filter stopped and how
  many honest values it eliminated.

The numbers behind the figures come from the pure functions of :mod:`netsim.message_trace`,
tested on their own.

Inputs are the columns of ``metrics.csv`` (:func:`netsim.results.read_metrics`) and of
``messages.csv`` (:func:`netsim.message_trace.read_messages`); ``summary`` is the dict of
``summary.json``. Rounds are
numbered as in each file: a message of round r (``messages.csv``, from 0) is used for the update
that ``metrics.csv`` records as round r + 1, completed at that row's ``time``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .figure_axes import (
    LINESTYLES,
    identical_groups,
    layered_style,
    quoted,
    save_figure,
)
from .message_trace import (
    DECISION_CODES,
    FILTERED,
    LINK_CLASSES,
    SERVER,
    decision_names,
    decision_shares,
    delay_groups,
    delays_by_class,
    delays_differ,
    message_arrows,
    reply_intervals,
    round_intervals,
)

MAX_MSC_NODES = 12  # above this a message-sequence chart is unreadable: not drawn
HONEST_COLOUR = "tab:blue"
BYZANTINE_COLOUR = "tab:red"


# --- figures -----------------------------------------------------------------------------------


def plot_message_sequence(
    summary: dict[str, Any],
    messages: dict[str, np.ndarray],
    path: Path,
    variant: str | None = None,
    rounds: int = 3,
    metrics: dict[str, np.ndarray] | None = None,
) -> Path | None:
    """Message-sequence chart of the first ``rounds`` rounds of one variant
    (:func:`draw_message_sequence`), saved as ``path``; None for more than 12 nodes
    (unreadable) or no message."""
    fig = draw_message_sequence(summary, messages, variant, rounds, metrics)
    return None if fig is None else save_figure(fig, path)


ROUND_COLOURS = ("black", "tab:green", "tab:purple", "tab:brown", "tab:olive", "tab:cyan")


def draw_message_sequence(
    summary: dict[str, Any],
    messages: dict[str, np.ndarray],
    variant: str | None = None,
    rounds: int = 3,
    metrics: dict[str, np.ndarray] | None = None,
) -> plt.Figure | None:
    """The figure of :func:`plot_message_sequence`, not saved: one lane per agent (and the CGC
    server), simulated time across. Each message is an arrow from its send to its arrival;
    honest and Byzantine senders in two colours, late messages dashed, lost ones a stub ending
    in an x; hollow markers where a receiver eliminated or clipped a value (or, CGC, a busy
    agent dropped a request). With ``metrics``, a coloured tick marks each lane's completion of
    each round, one colour per round (in the legend: no text over the arrows); rounds completed
    at the same instant get stacked ticks. The legend lists only what is drawn."""
    variant = _variant(summary, variant)
    info = summary["variants"][variant]
    server = info["protocol"] == "cgc"
    nodes = ([SERVER] if server else []) + list(range(info["n"]))
    if len(nodes) > MAX_MSC_NODES:
        return None
    rows = (messages["variant"] == variant) & (messages["round"] < rounds)
    if not np.any(rows):
        return None
    window = {name: np.asarray(column)[rows] for name, column in messages.items()}
    lane = {node: k for k, node in enumerate(nodes)}
    delivered = window["delivered"].astype(bool) & np.isfinite(window["arrival_time"])
    delays = window["arrival_time"][delivered] - window["send_time"][delivered]
    ends = np.concatenate((window["send_time"], window["arrival_time"][delivered]))
    span = max(float(ends.max() - ends.min()), 1e-9)
    stub = 0.35 * float(np.median(delays)) if len(delays) else 0.03 * span
    arrows = message_arrows(window, lane, max(stub, 0.01 * span))

    fig, ax = plt.subplots(figsize=(13, 1.6 + 0.55 * len(nodes)))
    for k in range(len(arrows["x0"])):
        colour = BYZANTINE_COLOUR if arrows["byzantine"][k] else HONEST_COLOUR
        ax.annotate(
            "",
            xy=(arrows["x1"][k], arrows["y1"][k]),
            xytext=(arrows["x0"][k], arrows["y0"][k]),
            arrowprops={
                "arrowstyle": "-" if arrows["lost"][k] else "-|>",
                "color": colour,
                "linewidth": 0.9,
                "linestyle": "--" if arrows["late"][k] else "-",
                "mutation_scale": 9,
                "shrinkA": 0,
                "shrinkB": 0,
                "alpha": 0.8,
            },
        )
        if arrows["lost"][k]:
            ax.plot(arrows["x1"][k], arrows["y1"][k], "x", color=colour, markersize=7, mew=1.6)
    names = decision_names(window)
    at_server = window["receiver"] == SERVER
    hollow = {"color": "grey", "linestyle": "None", "markerfacecolor": "none", "mew": 1.2}
    marks = []  # (mask, marker, size, legend label)
    if server:
        marks += [
            (at_server & (names == "eliminated"), "o", 30, "eliminated by the server"),
            (at_server & (names == "clipped"), "D", 22, "clipped by the server"),
            (
                ~at_server & (names == "eliminated"),
                "s",
                26,
                "request dropped by a busy agent",
            ),
        ]
    else:
        marks += [
            (names == "eliminated", "o", 30, "eliminated by the receiver"),
            (names == "clipped", "D", 22, "clipped by the receiver"),
        ]
    handles = []
    if np.any(~arrows["byzantine"]):
        handles.append(Line2D([], [], color=HONEST_COLOUR, label="honest sender"))
    if np.any(arrows["byzantine"]):
        handles.append(Line2D([], [], color=BYZANTINE_COLOUR, label="Byzantine sender"))
    for hit, marker, size, label in marks:
        if not np.any(hit):
            continue
        ax.scatter(
            arrows["x1"][hit],
            arrows["y1"][hit],
            s=size,
            marker=marker,
            facecolors="none",
            edgecolors=np.where(arrows["byzantine"][hit], BYZANTINE_COLOUR, HONEST_COLOUR),
            linewidths=1.2,
            zorder=3,
        )
        handles.append(
            Line2D([], [], marker=marker, markersize=np.sqrt(size), label=label, **hollow)
        )
    if np.any(arrows["late"]):
        handles.append(
            Line2D([], [], color="grey", linestyle="--", label="late (missed its round)")
        )
    if np.any(arrows["lost"]):
        handles.append(Line2D([], [], color="grey", marker="x", linestyle="-", label="lost"))
    completions = completion_marks(metrics, variant, rounds, lane) if metrics is not None else []
    stacked = False
    for x, y, done in completions:
        stacked |= len(done) > 1
        for j, r in enumerate(done):  # several rounds at one instant: stacked shorter ticks
            offset = (j - (len(done) - 1) / 2) * 0.5 / len(done)
            ax.plot(
                x,
                y + offset,
                "|",
                color=ROUND_COLOURS[r % len(ROUND_COLOURS)],
                markersize=14 / len(done),
                mew=2.2,
                zorder=4,
            )
    for r in sorted({r for _, _, done in completions for r in done}):
        handles.append(
            Line2D(
                [],
                [],
                color=ROUND_COLOURS[r % len(ROUND_COLOURS)],
                marker="|",
                markersize=10,
                mew=2.2,
                linestyle="None",
                label=f"round {r} completed",
            )
        )
    if stacked:
        handles.append(
            Patch(
                facecolor="none", edgecolor="none", label="stacked ticks: rounds completed at once"
            )
        )
    ax.set_yticks(range(len(nodes)))
    ax.set_yticklabels([_node_label(node, info["byzantine"]) for node in nodes])
    ax.set_ylim(len(nodes) - 0.5, -0.6)  # first lane on top
    ax.set_ylabel("node")
    right = float(np.nanmax(arrows["x1"]))
    if completions:
        right = max(right, max(x for x, _, _ in completions))
    ax.set_xlim(float(arrows["x0"].min()) - 0.01 * span, right + 0.03 * span)
    ax.set_xlabel("simulated time (s)")
    ax.grid(True, axis="x", alpha=0.3)
    for k in range(len(nodes)):
        ax.axhline(k, color="grey", linewidth=0.5, alpha=0.4, zorder=0)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8.5)
    counts = _decision_counts(window)
    ax.set_title(
        f"{summary['scenario']}, variant “{variant}”: message sequence, rounds 0-{rounds - 1}"
        f" ({len(arrows['x0'])} messages: {counts})\n{_context(summary, info)}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_agent_timeline(
    summary: dict[str, Any],
    metrics: dict[str, np.ndarray],
    path: Path,
    variant: str | None = None,
    compute_time: float | Sequence[float] | None = None,
    rounds: int = 20,
    messages: dict[str, np.ndarray] | None = None,
) -> Path | None:
    """What each node of one variant (default: the first) does in its first ``rounds`` rounds
    (:func:`draw_agent_timeline`), saved as ``path``; None when the variant has no completed
    round."""
    fig = draw_agent_timeline(summary, metrics, variant, compute_time, rounds, messages)
    return None if fig is None else save_figure(fig, path)


def round_labels(waiting: np.ndarray) -> list[tuple[float, float, str]]:
    """Labels of a lane's rounds (rows of ``waiting``: [start, end]): rounds that end at the
    same instant share one label ("3,4"), over the span from the first one's start to that
    end; as (start, end, text)."""
    labels: list[tuple[float, float, str]] = []
    r = 0
    while r < len(waiting):
        last = r
        while last + 1 < len(waiting) and waiting[last + 1, 1] == waiting[r, 1]:
            last += 1
        text = ",".join(str(k) for k in range(r, last + 1))
        labels.append((float(waiting[r, 0]), float(waiting[r, 1]), text))
        r = last + 1
    return labels


def draw_agent_timeline(
    summary: dict[str, Any],
    metrics: dict[str, np.ndarray],
    variant: str | None = None,
    compute_time: float | Sequence[float] | None = None,
    rounds: int = 20,
    messages: dict[str, np.ndarray] | None = None,
) -> plt.Figure | None:
    """The figure of :func:`plot_agent_timeline`, not saved: a Gantt chart in simulated time.
    From a round's start to its completion the node waits for messages (two shades,
    alternating by round), then computes for its compute time, and the next round starts
    (spec/engine.md); a gap is idle time. Every round is numbered: on its bar, or above it when
    the bar is too short; rounds that end at the same instant share a label ("3,4"). The
    legend lists only what is drawn.

    CE: one lane per honest agent (:func:`round_intervals` on its ``metrics.csv`` times). CGC:
    the server's lane and, given ``messages`` and agents that take time to answer, one lane per
    agent showing when it computes a gradient (:func:`reply_intervals`). ``compute_time``
    (simulated s) is that of the ``metrics.csv`` nodes: a number, or a list indexed by agent id
    (CE); default the summary's ``compute_time`` (CE) or ``server_compute_time`` (CGC), else 0.
    None when the variant has no completed round.
    """
    variant = _variant(summary, variant)
    info = summary["variants"][variant]
    rows = metrics["variant"] == variant
    agents = sorted({str(a) for a in metrics["agent"][rows]}, key=_agent_key)
    if not agents:
        return None
    lanes: list[tuple[str, np.ndarray, np.ndarray]] = []  # (label, waiting, computing)
    for agent in agents:
        mine = rows & (metrics["agent"].astype(str) == agent)
        order = np.argsort(metrics["round"][mine], kind="stable")
        completion = metrics["time"][mine][order][1:]  # rounds 0, 1, ... (row 0 is the start)
        compute = _compute_time(info, agent, compute_time)
        waiting, computing = round_intervals(completion[:rounds], compute)
        lanes.append(("server" if agent == "server" else f"agent {agent}", waiting, computing))
    if not any(len(waiting) for _, waiting, _ in lanes):
        return None
    end = max(float(c[-1, 1]) for _, _, c in lanes if len(c))
    agents_compute = False  # CGC: lanes for the agents, when they take time to answer
    if info["protocol"] == "cgc" and messages is not None:
        busy = [reply_intervals(messages, variant, agent) for agent in range(info["n"])]
        agents_compute = any(np.any(b[:, 1] > b[:, 0]) for b in busy)
    if agents_compute:
        for agent, intervals in enumerate(busy):
            label = _node_label(agent, info.get("byzantine", []))
            if len(intervals) == 0:
                label += "\n(sent no reply)"
            lanes.append((label, np.empty((0, 2)), intervals[intervals[:, 0] < end]))
    end = end if end > 0 else 1.0  # every round took no time: any scale will do

    fig, ax = plt.subplots(figsize=(13, 2.0 + 0.62 * len(lanes)))
    shades = ("#9cc1e3", "#3d7ab8")
    bar = {"edgecolor": "white", "linewidth": 0.6}  # a round of zero length shows as a line
    # the event clock: a round cut by the deadline lasts exactly the deadline (else it ends at
    # an arrival); on the lock-step clock every round lasts D, so nothing is singled out
    lockstep = info.get("clock") == "lockstep"
    deadline = 0.0 if lockstep else info.get("deadline") or 0.0  # s after a round's start
    hatched = computed = 0
    parities: set[int] = set()
    idle = False
    for k, (_, waiting, computing) in enumerate(lanes):
        for parity in (0, 1):
            spans = waiting[parity::2]
            if len(spans):
                parities.add(parity)
            ax.broken_barh(
                list(zip(spans[:, 0], np.maximum(spans[:, 1] - spans[:, 0], 0.0))),
                (k - 0.35, 0.7),
                facecolors=shades[parity],
                **bar,
            )
        if deadline:
            spans = waiting[np.isclose(waiting[:, 1] - waiting[:, 0], deadline, rtol=1e-9)]
            hatched += len(spans)
            ax.broken_barh(
                list(zip(spans[:, 0], spans[:, 1] - spans[:, 0])),
                (k - 0.35, 0.7),
                facecolors="none",
                hatch="///",
                edgecolor="white",
                linewidth=0.0,
            )
        spans = computing[computing[:, 1] > computing[:, 0]]
        computed += len(spans)
        ax.broken_barh(
            list(zip(spans[:, 0], spans[:, 1] - spans[:, 0])),
            (k - 0.35, 0.7),
            facecolors="tab:orange",
            **bar,
        )
        busy_spans = np.concatenate((waiting, spans)) if len(waiting) else spans
        busy_spans = busy_spans[np.argsort(busy_spans[:, 0], kind="stable")]
        if len(busy_spans):
            reach = np.maximum.accumulate(busy_spans[:, 1])
            idle |= bool(np.any(busy_spans[1:, 0] > reach[:-1] + 1e-9 * end))
            idle |= bool(busy_spans[0, 0] > 1e-9 * end)
        narrow = 0  # short bars: labels above and below them in turn
        for a, b, text in round_labels(waiting):
            if b - a > 0.0065 * end * (len(text) + 1.5):
                ax.text((a + b) / 2, k, text, ha="center", va="center", fontsize=7)
                continue
            above = narrow % 2 == 0
            narrow += 1
            ax.text(
                (a + b) / 2,
                k - 0.37 if above else k + 0.37,
                text,
                ha="center",
                va="bottom" if above else "top",
                fontsize=6.5,
            )
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([label for label, _, _ in lanes], fontsize=9)
    ax.set_ylabel("node")
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    ax.set_xlim(0, end * 1.01)
    ax.set_xlabel("simulated time (s)")
    ax.grid(True, axis="x", alpha=0.3)
    computes = sorted({_compute_time(info, a, compute_time) for a in agents})
    if agents_compute:
        own = [c for c in computes if c > 0]
        compute_label = "computing" + (
            f" (server: {', '.join(_seconds(c) for c in own)}; agents: a gradient)"
            if own
            else " a gradient (agents)"
        )
    else:
        compute_label = "computing: " + ", ".join(_seconds(c) for c in computes if c > 0)
    handles = [
        Patch(facecolor=shades[p], label=f"waiting for messages ({('even', 'odd')[p]} round)")
        for p in sorted(parities)
    ]
    if hatched:
        handles.append(
            Patch(
                facecolor=shades[1],
                hatch="///",
                edgecolor="white",
                label=f"ended by the deadline ({_seconds(deadline)})",
            )
        )
    if computed:
        handles.append(Patch(facecolor="tab:orange", label=compute_label))
    if idle:
        handles.append(Patch(facecolor="white", edgecolor="grey", label="gap: idle"))
    shown = max(len(w) for _, w, _ in lanes)
    notes = []
    if lockstep:
        notes.append(
            f"lock-step: every round ends at (r + 1) D, D = {_seconds(info['round_length'])}"
        )
    if not computed:
        notes.append("no compute time")
    ax.set_title(
        f"{summary['scenario']}, variant “{variant}”: what each node does in rounds "
        f"0-{shown - 1} (numbers: round)\n{_context(summary, info)}"
        + (f"\n{'; '.join(notes)}" if notes else ""),
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))  # room for the legend
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8.5, frameon=False)
    return fig


def plot_latency_cdf(
    summary: dict[str, Any], messages: dict[str, np.ndarray], path: Path
) -> Path | None:
    """Empirical CDF of the link delays (:func:`draw_latency_cdf`), saved as ``path``; None
    when no message was delivered."""
    fig = draw_latency_cdf(summary, messages)
    return None if fig is None else save_figure(fig, path)


def delay_axis_is_log(delays: np.ndarray) -> bool:
    """Whether link delays (simulated s) need a log axis: when the largest positive delay is
    more than 100 times the 5th percentile of the positive ones (a heavy tail, or delays over
    several decades). Bounded delays such as uniform on [0, 50 ms] stay linear: on a log axis
    their few tiny draws would take half the width."""
    positive = np.asarray(delays, dtype=np.float64)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    if positive.size < 2:
        return False
    return float(positive.max()) > 100 * float(np.percentile(positive, 5))


def draw_latency_cdf(summary: dict[str, Any], messages: dict[str, np.ndarray]) -> plt.Figure | None:
    """The figure of :func:`plot_latency_cdf`, not saved: the empirical CDF of the link delay
    (arrival - send, simulated s) of delivered messages, one line per link class, the median
    marked with a dot. The x axis is linear, or log when the delays span decades
    (:func:`delay_axis_is_log`). Link classes whose curves coincide stay visible: each class
    has its own line width (wider first, underneath) and the later ones are drawn on top.

    The first variant is drawn; another variant is drawn too (dashed, then dash-dotted,
    dotted: at most four) only when its delays differ from the first's (:func:`delays_differ`);
    a note names the variants with identical or indistinguishable delays. None when no message
    was delivered."""
    groups = delay_groups(summary, messages)
    variants = summary["variants"]

    def delays_of(names: list[str]) -> dict[str, np.ndarray]:
        return delays_by_class(messages, names[0], variants[names[0]].get("byzantine", []))

    base = delays_of(groups[0])
    drawn, similar = [(groups[0], base)], []
    for names in groups[1:]:
        delays = delays_of(names)
        if delays_differ(base, delays):
            drawn.append((names, delays))
        else:
            similar.extend(names)
    hidden = drawn[4:]
    drawn = drawn[:4]
    every = [d for _, delays in drawn for d in delays.values()]
    if not any(len(d) for d in every):
        return None
    pooled = np.concatenate(every)
    log = delay_axis_is_log(pooled)
    positive = pooled[pooled > 0]
    floor = float(positive.min()) / 2 if len(positive) else 1e-6
    colours = {c: plt.get_cmap("tab10")(k) for k, c in enumerate(LINK_CLASSES)}
    classes = [c for c in LINK_CLASSES if any(c in delays for _, delays in drawn)]
    widths = {c: 3.2 - 2.0 * k / max(len(classes) - 1, 1) for k, c in enumerate(classes)}
    fig, ax = plt.subplots(figsize=(11, 6.5))
    zero_delays = 0
    for style, (names, delays) in zip(LINESTYLES, drawn):
        for link, delay in delays.items():
            zero_delays += int(np.sum(delay <= 0)) if log else 0
            x = np.maximum(delay, floor) if log else delay
            y = np.arange(1, len(x) + 1) / len(x)
            median = float(np.median(delay))
            which = f" [{_names(names)}]" if len(drawn) > 1 else ""
            ax.step(
                np.concatenate(([x[0]], x)),
                np.concatenate(([0.0], y)),
                where="post",
                color=colours[link],
                linestyle=style,
                linewidth=widths[link],
                zorder=2 + 0.1 * classes.index(link),
                label=f"{link}{which}: {_count(len(x), 'message')}, median {_seconds(median)}",
            )
            ax.plot(
                max(median, floor) if log else median,
                0.5,
                "o",
                color=colours[link],
                markersize=3 + 2 * widths[link],
                markeredgecolor="white",
                markeredgewidth=0.6,
                zorder=3 + 0.1 * classes.index(link),
            )
    ax.plot([], [], "o", color="grey", label="median (dot at share 0.5)")
    ax.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
    if log:
        ax.set_xscale("log")
    else:
        top = float(pooled.max())
        ax.set_xlim(min(0.0, float(pooled.min())), top * 1.02 if top > 0 else 1.0)
    ax.set_ylim(0, 1.02)
    zero_note = f"; {zero_delays} delays of 0 s drawn at {_seconds(floor)}" if zero_delays else ""
    scale = "log scale" if log else "linear scale"
    ax.set_xlabel(f"link delay = arrival - send (simulated s, {scale}){zero_note}")
    ax.set_ylabel("share of delivered messages with delay ≤ x")
    ax.grid(True, which="both" if log else "major", alpha=0.25)
    notes = []
    if len(groups[0]) > 1:
        notes.append("identical delays: " + quoted(groups[0]))
    if similar:
        notes.append(
            "delays not distinguishable from these (two-sample KS test, 1\u00a0%): "
            + quoted(similar)
        )
    if hidden:
        notes.append("not drawn (at most 4 groups): " + ", ".join(n[0] for n, _ in hidden))
    if len(classes) > 1:
        notes.append("link classes drawn from wide (below) to narrow (on top)")
    ax.legend(
        loc="upper left" if log else "lower right",
        fontsize=8.5,
        title="\n".join(textwrap.fill(note, 60) for note in notes) or None,
        title_fontsize=8,
        alignment="left",
    )
    scope = (
        f"variant “{groups[0][0]}”"
        if len(drawn) == 1
        else f"{len(drawn)} variants with different delays (one line style each)"
    )
    first = variants[groups[0][0]]
    ax.set_title(
        f"{summary['scenario']}: link delays, {scope}\n{_context(summary, first, clock=False)}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_filter_decisions(
    summary: dict[str, Any], messages: dict[str, np.ndarray], path: Path
) -> Path | None:
    """Per round and per variant, what the filter did with the values that reached their
    receivers in time (:func:`draw_filter_decisions`), saved as ``path``; None when no value
    was sent to an honest node."""
    fig = draw_filter_decisions(summary, messages)
    return None if fig is None else save_figure(fig, path)


def draw_filter_decisions(
    summary: dict[str, Any], messages: dict[str, np.ndarray]
) -> plt.Figure | None:
    """The figure of :func:`plot_filter_decisions`, not saved.

    Per round and per variant (:func:`decision_shares`): top, the share of Byzantine values
    the filter stopped (eliminated by a CE receiver, clipped or eliminated by the CGC server:
    the words follow the protocols and decisions present); middle, the share of honest values
    eliminated (wrongly), and hollow diamonds at the rounds in which honest values were
    clipped (CGC), with their share; when honest values missed their round (late or lost) in
    some variant, a bottom panel shows that share: each one uses up an elimination under
    ``absent = "eliminated"``. Series that coincide stay visible: earlier variants wide and
    solid underneath, later ones narrower, dashed or dotted on top, and a series identical to
    an earlier one says so in the legend. None when no value was sent to an honest node."""
    shares = {
        name: decision_shares(messages, name, info.get("byzantine", []))
        for name, info in summary["variants"].items()
    }
    if not any(s["byzantine_values"].sum() + s["honest_sent"].sum() for s in shares.values()):
        return None
    protocols = {info["protocol"] for info in summary["variants"].values()}
    receiver = {
        frozenset({"ce"}): "an honest receiver",
        frozenset({"cgc"}): "the server",
    }.get(frozenset(protocols), "an honest receiver or the server")
    names = decision_names(messages)
    byzantine = np.asarray(messages["byzantine"], dtype=bool)
    stopped = [d for d in FILTERED if np.any(byzantine & (names == d))]
    if not stopped:  # nothing stopped: name what the filter would do
        stopped = ["clipped"] if protocols == {"cgc"} else ["eliminated"]
    missed = any(s["honest_missed"].sum() for s in shares.values())
    clipped = any(s["honest_clipped"].sum() for s in shares.values())
    panels = 3 if missed else 2
    fig, axes = plt.subplots(panels, 1, figsize=(13, 1.4 + 3.0 * panels), sharex=True)
    top, middle = axes[0], axes[1]
    clocks = _clock_names(summary)
    mixed = len(set(clocks.values())) > 1  # then every variant's legend entry names its clock
    variants = list(shares)
    colours = {name: plt.get_cmap("tab10")(k % 10) for k, name in enumerate(variants)}

    def draw(ax: Any, key: str, labels: dict[str, str]) -> None:
        """One line per variant, layered; a variant identical to an earlier one says so."""
        same = {
            b: a
            for a, bs in identical_groups(
                {n: (shares[n]["round"], shares[n][key]) for n in variants}
            ).items()
            for b in bs
        }
        for k, name in enumerate(variants):
            label = labels[name]
            if name in same:
                label += f" (identical to “{same[name]}”, drawn over it)"
            ax.plot(
                shares[name]["round"],
                shares[name][key],
                color=colours[name],
                label=textwrap.fill(label, 64, subsequent_indent="  "),
                **layered_style(k, len(variants), widest=3.0, narrowest=1.2),
            )

    top_labels = {}
    for name, share in shares.items():
        total = int(share["byzantine_values"].sum())
        top_labels[name] = (
            f"{name} (filter {summary['variants'][name]['filter']}"
            + (f", {clocks[name]}" if mixed else "")
            + "): "
            + (
                f"{int(share['byzantine_filtered'].sum())} of {total}"
                if total
                else "no Byzantine value arrived in time"
            )
        )
    draw(top, "byzantine_share", top_labels)
    middle_labels = {
        name: f"{name}: {int(share['honest_eliminated'].sum())} of "
        f"{int(share['honest_values'].sum())} eliminated"
        for name, share in shares.items()
    }
    draw(middle, "honest_share", middle_labels)
    if clipped:
        for k, (name, share) in enumerate(shares.items()):
            hit = share["honest_clipped"] > 0
            if not np.any(hit):
                continue
            middle.plot(
                share["round"][hit],
                share["honest_clipped_share"][hit],
                linestyle="None",
                marker="D",
                markersize=max(8.0 - 1.5 * k, 4.0),
                markerfacecolor="none",
                markeredgecolor=colours[name],
                markeredgewidth=1.6,
                zorder=4,
                label=textwrap.fill(
                    f"{name}: {int(share['honest_clipped'].sum())} clipped (◇: the share "
                    "clipped that round)",
                    64,
                    subsequent_indent="  ",
                ),
            )
    if missed:
        draw(
            axes[2],
            "honest_missed_share",
            {
                name: f"{name}: {int(share['honest_missed'].sum())} of "
                f"{int(share['honest_sent'].sum())}"
                for name, share in shares.items()
            },
        )
    in_time = f"of those that reached {receiver} in time"
    top.set_title(f"Byzantine values {' or '.join(stopped)} ({in_time})", loc="left", fontsize=10)
    middle.set_title(
        "honest values eliminated (wrongly, lines)"
        + (", and clipped (◇, rounds with any)" if clipped else "")
        + f" ({in_time})",
        loc="left",
        fontsize=10,
    )
    if missed:
        axes[2].set_title(
            f"honest values that missed their round (late or lost), of those sent to {receiver}",
            loc="left",
            fontsize=10,
        )
    axes[-1].set_xlabel("round (as in messages.csv, from 0)")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        ax.set_ylabel("share of values (0 to 1)")
        ax.set_ylim(-0.04, 1.04)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8.5)
    first = next(iter(summary["variants"].values()))
    shared = next(iter(clocks.values()))
    who = {"ce": "each CE agent's filter", "cgc": "the CGC server's filter"}.get(
        next(iter(protocols)) if len(protocols) == 1 else "", "the filter"
    )
    fig.suptitle(
        f"{summary['scenario']}: what {who} did with each round's values, per variant\n"
        f"{_context(summary, first, clock=False)}"
        + (f"; {shared}" if shared and not mixed else ""),
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def draw_timing_plots(
    summary: dict[str, Any],
    metrics: dict[str, np.ndarray],
    messages: dict[str, np.ndarray] | None,
    plots_dir: Path,
) -> list[Path]:
    """Every timing figure that applies, as ``plots_dir/<scenario>_msc.png``, ``_timeline.png``,
    ``_latency.png`` and ``_decisions.png``; without a message trace, only the timeline."""
    plots_dir = Path(plots_dir)
    name = summary["scenario"]
    timeline = plots_dir / f"{name}_timeline.png"
    if messages is None:
        paths = [plot_agent_timeline(summary, metrics, timeline)]
    else:
        paths = [
            plot_message_sequence(
                summary, messages, plots_dir / f"{name}_msc.png", metrics=metrics
            ),
            plot_agent_timeline(summary, metrics, timeline, messages=messages),
            plot_latency_cdf(summary, messages, plots_dir / f"{name}_latency.png"),
            plot_filter_decisions(summary, messages, plots_dir / f"{name}_decisions.png"),
        ]
    return [p for p in paths if p is not None]


# --- small parts -----------------------------------------------------------------------------


def clock_label(info: dict[str, Any]) -> str:
    """Which round clock a CE variant ran on, and what it cost (netsim.clocks): e.g.
    "lock-step rounds of 50 ms, 0 honest values late"; empty for the CGC server and for
    summaries written before clocks existed."""
    clock = info.get("clock")
    if clock not in ("lockstep", "event"):
        return ""
    if clock == "lockstep":
        text = f"lock-step rounds of {info['round_length'] * 1e3:.4g} ms"
    elif info.get("deadline") is None:  # the two clocks agree: every round waits for all
        text = "every round waits for all its values (no deadline)"
    else:
        text = "event clock"
    late = info.get("late_honest")
    if late is not None:
        text += f", {late} honest value{'' if late == 1 else 's'} late"
        if info.get("gst") and "late_honest_after_gst" in info:
            text += f" ({info['late_honest_after_gst']} sent after GST)"
    return text


def _variant(summary: dict[str, Any], variant: str | None) -> str:
    if variant is None:
        return next(iter(summary["variants"]))
    if variant not in summary["variants"]:
        raise KeyError(f"variant {variant!r} not in the summary ({', '.join(summary['variants'])})")
    return variant


def _context(summary: dict[str, Any], info: dict[str, Any], clock: bool = True) -> str:
    """One variant's setting; with ``clock``, its round clock (:func:`clock_label`)."""
    byzantine = ", ".join(str(b) for b in info.get("byzantine", [])) or "none"
    clock = clock_label(info) if clock else ""
    return (
        f"{info['protocol'].upper()}, n = {info['n']}, f = {info['f']}, Byzantine: {byzantine}, "
        f"{info.get('delay_model', '?')} link delays, seed {summary['seed']}"
        + (f"; {clock}" if clock else "")
    )


def _clock_names(summary: dict[str, Any]) -> dict[str, str]:
    """variant -> "lock-step" | "event clock" ("" for the CGC server and old summaries)."""
    names = {"lockstep": "lock-step", "event": "event clock"}
    return {v: names.get(info.get("clock", ""), "") for v, info in summary["variants"].items()}


def _node_label(node: int, byzantine: Sequence[int]) -> str:
    if node == SERVER:
        return "server"
    return f"agent {node} (Byzantine)" if node in byzantine else f"agent {node}"


def _agent_key(agent: str) -> tuple[int, str]:
    return (0, f"{int(agent):09d}") if agent.lstrip("-").isdigit() else (1, agent)


def _compute_time(info: dict[str, Any], agent: str, given: float | Sequence[float] | None) -> float:
    if given is None:
        given = info.get("server_compute_time" if agent == "server" else "compute_time", 0.0)
    if np.ndim(given) == 0:
        return float(given or 0.0)
    values = list(given)  # per agent id; the server has none of its own
    return float(values[int(agent)]) if agent != "server" else 0.0


def completion_marks(
    metrics: dict[str, np.ndarray], variant: str, rounds: int, lane: dict[int, int]
) -> list[tuple[float, float, list[int]]]:
    """Where each lane completed message rounds 0..rounds-1 (= metrics rounds 1..rounds), as
    (simulated time, lane, [rounds completed at that instant]) in time order."""
    rows = (metrics["variant"] == variant) & (metrics["round"] >= 1)
    rows &= metrics["round"] <= rounds
    agents = metrics["agent"][rows].astype(str)
    nodes = np.array([SERVER if a == "server" else int(a) for a in agents])
    keep = np.isin(nodes, list(lane))
    x = metrics["time"][rows][keep].astype(np.float64)
    y = np.array([lane[int(n)] for n in nodes[keep]], dtype=np.float64)
    done: dict[tuple[float, float], list[int]] = {}
    for xy, r in zip(zip(x.tolist(), y.tolist()), metrics["round"][rows][keep].tolist()):
        done.setdefault(xy, []).append(int(r) - 1)
    return [(px, py, sorted(r)) for (px, py), r in sorted(done.items())]


def _decision_counts(window: dict[str, np.ndarray]) -> str:
    names = decision_names(window)
    parts = [f"{int(np.sum(names == d))} {d}" for d in DECISION_CODES if np.any(names == d)]
    return ", ".join(parts)


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} + {len(names) - 1} more"


def _seconds(value: float) -> str:
    """A duration in simulated seconds, in ms below 1 s."""
    if value == 0:
        return "0 s"
    if abs(value) < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
