"""Timing figures, drawn from results files only (never from live simulation objects).

- :func:`plot_message_sequence`: a message-sequence chart of the first rounds of one variant;
- :func:`plot_agent_timeline`: when each node waits for messages, computes, or is idle;
- :func:`plot_latency_cdf`: the empirical CDF of the link delays, per class of link;
- :func:`plot_filter_decisions`: per round, how many Byzantine values the filter stopped and how
  many honest values it eliminated.

The numbers behind the figures come from small pure functions (:func:`link_classes`,
:func:`delays_by_class`, :func:`delay_groups`, :func:`delays_differ`, :func:`decision_shares`,
:func:`round_intervals`, :func:`reply_intervals`, :func:`message_arrows`), tested on their own.

Inputs are the columns of ``metrics.csv`` (:func:`netsim.results.read_metrics`) and of
``messages.csv`` (:func:`read_messages`); ``summary`` is the dict of ``summary.json``. Rounds are
numbered as in each file: a message of round r (``messages.csv``, from 0) is used for the update
that ``metrics.csv`` records as round r + 1, completed at that row's ``time``.
"""

from __future__ import annotations

import csv
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

SERVER = -1  # the CGC server's node id in messages.csv
MAX_MSC_NODES = 12  # above this a message-sequence chart is unreadable: not drawn
IN_TIME = ("kept", "eliminated", "clipped")  # decisions of a value that arrived in time
FILTERED = ("eliminated", "clipped")
LINK_CLASSES = (
    "honest -> honest",
    "Byzantine -> honest",
    "honest -> Byzantine",
    "Byzantine -> Byzantine",
    "server -> agent",
    "agent -> server",
    "Byzantine -> server",
)
_DECISION_CODES = ("kept", "eliminated", "clipped", "late", "lost")  # netsim.engine.Decision
HONEST_COLOUR = "tab:blue"
BYZANTINE_COLOUR = "tab:red"


# --- reading ---------------------------------------------------------------------------------


def read_messages(path: str | Path) -> dict[str, np.ndarray] | None:
    """Read messages.csv (or messages.parquet, with pyarrow) back into columns (None if the run
    wrote none: trace off).

    ``round, sender, receiver`` are int64 (the CGC server is -1), ``send_time`` and
    ``arrival_time`` float64 simulated seconds (``arrival_time`` NaN for a lost message, written
    as ``nan`` or left empty), ``delivered`` and ``byzantine`` bool (``true``/``false``),
    ``variant`` and ``decision`` strings.
    """
    path = Path(path)
    if not path.exists():
        return None
    if path.suffix == ".parquet":
        return _read_parquet(path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "variant": np.array([row["variant"] for row in rows], dtype=object),
        "round": np.array([int(row["round"]) for row in rows], dtype=np.int64),
        "sender": np.array([int(row["sender"]) for row in rows], dtype=np.int64),
        "receiver": np.array([int(row["receiver"]) for row in rows], dtype=np.int64),
        "send_time": np.array([float(row["send_time"]) for row in rows], dtype=np.float64),
        "arrival_time": np.array(
            [float(row["arrival_time"] or "nan") for row in rows], dtype=np.float64
        ),
        "delivered": np.array([_bool(row["delivered"]) for row in rows], dtype=bool),
        "byzantine": np.array([_bool(row["byzantine"]) for row in rows], dtype=bool),
        "decision": np.array([row["decision"].strip().lower() for row in rows], dtype=object),
    }


def _read_parquet(path: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq  # optional: netsim[parquet]

    table = pq.read_table(path).to_pydict()
    arrival = [np.nan if a is None else a for a in table["arrival_time"]]
    return {
        "variant": np.array(table["variant"], dtype=object),
        "round": np.array(table["round"], dtype=np.int64),
        "sender": np.array(table["sender"], dtype=np.int64),
        "receiver": np.array(table["receiver"], dtype=np.int64),
        "send_time": np.array(table["send_time"], dtype=np.float64),
        "arrival_time": np.array(arrival, dtype=np.float64),
        "delivered": np.array(table["delivered"], dtype=bool),
        "byzantine": np.array(table["byzantine"], dtype=bool),
        "decision": np.array([str(d).lower() for d in table["decision"]], dtype=object),
    }


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueError(f"messages.csv: expected true or false, got {text!r}")


def decision_names(messages: dict[str, np.ndarray]) -> np.ndarray:
    """The decision column as lower-case names, whether read from messages.csv (names) or taken
    from ``RunResult.messages`` (integer codes of :class:`netsim.engine.Decision`)."""
    decision = np.asarray(messages["decision"])
    if decision.dtype.kind in "iu":
        return np.array([_DECISION_CODES[int(d)] for d in decision], dtype=object)
    return decision.astype(object)


# --- the numbers behind the figures (pure) ----------------------------------------------------


def link_classes(
    sender: np.ndarray, receiver: np.ndarray, sender_byzantine: np.ndarray, byzantine: Sequence[int]
) -> np.ndarray:
    """The class of each message's link, one of :data:`LINK_CLASSES`.

    A sender is Byzantine when its trace flag says so, a receiver when its id is in
    ``byzantine`` (the variant's Byzantine agents); the CGC server (id -1) is honest.
    """
    sender = np.asarray(sender)
    receiver = np.asarray(receiver)
    from_byzantine = np.asarray(sender_byzantine, dtype=bool)
    to_byzantine = np.isin(receiver, list(byzantine)) & (receiver != SERVER)
    kind = np.where(from_byzantine, "Byzantine", "honest").astype(object)
    target = np.where(to_byzantine, "Byzantine", "honest").astype(object)
    classes = kind + " -> " + target
    classes[sender == SERVER] = "server -> agent"
    classes[(receiver == SERVER) & ~from_byzantine] = "agent -> server"
    classes[(receiver == SERVER) & from_byzantine] = "Byzantine -> server"
    return classes


def delays_by_class(
    messages: dict[str, np.ndarray], variant: str, byzantine: Sequence[int]
) -> dict[str, np.ndarray]:
    """Sorted link delays (arrival - send, simulated seconds) of one variant's delivered
    messages, per link class, in the order of :data:`LINK_CLASSES` (only classes present)."""
    rows = (messages["variant"] == variant) & np.asarray(messages["delivered"], dtype=bool)
    rows &= np.isfinite(messages["arrival_time"])
    delay = messages["arrival_time"][rows] - messages["send_time"][rows]
    classes = link_classes(
        messages["sender"][rows], messages["receiver"][rows], messages["byzantine"][rows], byzantine
    )
    return {c: np.sort(delay[classes == c]) for c in LINK_CLASSES if np.any(classes == c)}


def delay_groups(summary: dict[str, Any], messages: dict[str, np.ndarray]) -> list[list[str]]:
    """The variants grouped by identical delays: two variants share a group when every link
    class holds the same multiset of delays (the same seed and the same traffic give the same
    draws), up to the rounding of arrival - send (relative 1e-9, absolute 1e-15 s: the same
    delay added to another send time). Groups in the order of their first variant."""
    groups: list[tuple[dict[str, np.ndarray], list[str]]] = []
    for variant, info in summary["variants"].items():
        delays = delays_by_class(messages, variant, info.get("byzantine", []))
        for seen, names in groups:
            if seen.keys() == delays.keys() and all(
                len(seen[c]) == len(delays[c])
                and np.allclose(seen[c], delays[c], rtol=1e-9, atol=1e-15)
                for c in seen
            ):
                names.append(variant)
                break
        else:
            groups.append((delays, [variant]))
    return [names for _, names in groups]


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs of
    ``a`` and ``b`` (both non-empty)."""
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate((a, b))
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def delays_differ(
    first: dict[str, np.ndarray], other: dict[str, np.ndarray], level: float = 0.01
) -> bool:
    """Whether ``other``'s delays (:func:`delays_by_class`) tell something ``first``'s do not:
    a link class ``first`` lacks, or a shared class whose two samples the two-sample KS test
    tells apart at ``level`` (D > c(level) sqrt((n + m) / (n m)), c = sqrt(-ln(level / 2) / 2),
    the asymptotic critical value). A class only ``first`` has (say, a silent Byzantine agent's)
    is no difference."""
    if not other.keys() <= first.keys():
        return True
    c = np.sqrt(-np.log(level / 2) / 2)
    for link, b in other.items():
        a = first[link]
        if ks_distance(a, b) > c * np.sqrt((len(a) + len(b)) / (len(a) * len(b))):
            return True
    return False


def decision_shares(
    messages: dict[str, np.ndarray], variant: str, byzantine: Sequence[int]
) -> dict[str, np.ndarray]:
    """Per round r (0..last round of ``messages.csv``): what the honest receivers and the
    server did with the values that reached them in time (decision kept, eliminated or
    clipped; late and lost values are not counted).

    ``byzantine_values`` counts those from Byzantine senders, ``byzantine_filtered`` those
    eliminated or clipped, ``byzantine_share`` = filtered / values; ``honest_values``,
    ``honest_eliminated`` and ``honest_share`` the same for honest agents' values and the
    elimination of them (``honest_clipped``, ``honest_clipped_share``: CGC's clipping of them).
    ``honest_sent`` counts every honest value sent to an honest receiver or the server,
    ``honest_missed`` those late or lost, ``honest_missed_share`` = missed / sent. A share is NaN
    in a round without such values. The server's requests (sender -1) are not values.
    """
    rows = messages["variant"] == variant
    sender = messages["sender"][rows]
    receiver = messages["receiver"][rows]
    round_ = messages["round"][rows]
    decision = decision_names(messages)[rows]
    from_byzantine = np.asarray(messages["byzantine"][rows], dtype=bool)
    to_honest = (receiver == SERVER) | ((receiver >= 0) & ~np.isin(receiver, list(byzantine)))
    counted = to_honest & np.isin(decision, IN_TIME)
    byzantine_value = counted & from_byzantine
    honest_sent = to_honest & ~from_byzantine & (sender >= 0)
    honest_value = counted & honest_sent
    rounds = int(round_.max()) + 1 if len(round_) else 0

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(round_[mask], minlength=rounds)

    shares = {
        "round": np.arange(rounds),
        "byzantine_values": count(byzantine_value),
        "byzantine_filtered": count(byzantine_value & np.isin(decision, FILTERED)),
        "honest_values": count(honest_value),
        "honest_eliminated": count(honest_value & (decision == "eliminated")),
        "honest_clipped": count(honest_value & (decision == "clipped")),
        "honest_sent": count(honest_sent),
        "honest_missed": count(honest_sent & np.isin(decision, ("late", "lost"))),
    }
    shares["byzantine_share"] = _ratio(shares["byzantine_filtered"], shares["byzantine_values"])
    shares["honest_share"] = _ratio(shares["honest_eliminated"], shares["honest_values"])
    shares["honest_clipped_share"] = _ratio(shares["honest_clipped"], shares["honest_values"])
    shares["honest_missed_share"] = _ratio(shares["honest_missed"], shares["honest_sent"])
    return shares


def _ratio(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    share = np.full(len(whole), np.nan)
    np.divide(part, whole, out=share, where=whole > 0)
    return share


def round_intervals(
    completion: np.ndarray, compute_time: float, start: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """A node's rounds as [start, end] intervals (simulated seconds), from its completion times.

    Round k (k = 0, 1, ...) waits for messages from its start to its completion
    ``completion[k]`` and then computes for ``compute_time``; the next round starts when the
    computation ends (spec/engine.md: start(r + 1) = completion(r) + c). Round 0 starts at
    ``start``. Returns ``(waiting, computing)``, each of shape (rounds, 2).
    """
    completion = np.asarray(completion, dtype=np.float64)
    starts = np.concatenate(([start], completion[:-1] + compute_time))[: len(completion)]
    waiting = np.column_stack((starts, completion))
    computing = np.column_stack((completion, completion + compute_time))
    return waiting, computing


def message_arrows(
    messages: dict[str, np.ndarray], lane: dict[int, int], stub: float
) -> dict[str, np.ndarray]:
    """Geometry of a message-sequence chart: each message an arrow from (send_time, sender
    lane) to (arrival_time, receiver lane). A lost message (not delivered, or arrival NaN) is a
    stub of duration ``stub`` (simulated s) that goes 35 % of the way to the receiver's lane
    and ends there (``lost`` is True). ``late`` marks messages that missed their round."""
    y0 = np.array([lane[int(s)] for s in messages["sender"]], dtype=np.float64)
    y1 = np.array([lane[int(r)] for r in messages["receiver"]], dtype=np.float64)
    x0 = np.asarray(messages["send_time"], dtype=np.float64)
    arrival = np.asarray(messages["arrival_time"], dtype=np.float64)
    lost = ~np.asarray(messages["delivered"], dtype=bool) | ~np.isfinite(arrival)
    x1 = np.where(lost, x0 + stub, arrival)
    y1 = np.where(lost, y0 + 0.35 * (y1 - y0), y1)
    return {
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "lost": lost,
        "late": decision_names(messages) == "late",
        "byzantine": np.asarray(messages["byzantine"], dtype=bool),
    }


def reply_intervals(messages: dict[str, np.ndarray], variant: str, agent: int) -> np.ndarray:
    """CGC: when an agent computes, as [start, end] rows (simulated s), one per reply it sent.

    An agent takes a request when it is free and replies after its compute time, so the work
    on the reply of round t starts at the later of the arrival of the server's round-t request
    and the agent's previous reply, and ends when the reply is sent."""
    rows = messages["variant"] == variant
    requests = rows & (messages["sender"] == SERVER) & (messages["receiver"] == agent)
    arrival = dict(zip(messages["round"][requests].tolist(), messages["arrival_time"][requests]))
    replies = rows & (messages["sender"] == agent) & (messages["receiver"] == SERVER)
    order = np.argsort(messages["send_time"][replies], kind="stable")
    sent = messages["send_time"][replies][order]
    rounds = messages["round"][replies][order]
    busy = np.empty((len(sent), 2))
    free = -np.inf
    for k, (round_, send) in enumerate(zip(rounds.tolist(), sent.tolist())):
        start = arrival.get(round_, np.nan)
        start = free if not np.isfinite(start) else max(start, free)
        busy[k] = (start if np.isfinite(start) else send, send)
        free = send
    return busy


# --- figures -----------------------------------------------------------------------------------


def plot_message_sequence(
    summary: dict[str, Any],
    messages: dict[str, np.ndarray],
    path: Path,
    variant: str | None = None,
    rounds: int = 3,
    metrics: dict[str, np.ndarray] | None = None,
) -> Path | None:
    """Message-sequence chart of the first ``rounds`` rounds of one variant (default: the
    first): one lane per agent (and the CGC server), simulated time across. Each message is an
    arrow from its send to its arrival; honest and Byzantine senders in two colours, late
    messages dashed, lost ones a stub ending in an x. With ``metrics``, small ticks mark each
    lane's round completions. None for more than 12 nodes (unreadable)."""
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
    for decision, marker in (("eliminated", "o"), ("clipped", "D")):
        hit = names == decision
        ax.scatter(
            arrows["x1"][hit],
            arrows["y1"][hit],
            s=30 if marker == "o" else 22,
            marker=marker,
            facecolors="none",
            edgecolors=np.where(arrows["byzantine"][hit], BYZANTINE_COLOUR, HONEST_COLOUR),
            linewidths=1.2,
            zorder=3,
        )
    ticks = _completion_ticks(metrics, variant, rounds, lane) if metrics is not None else None
    if ticks is not None:
        ax.plot(ticks[0], ticks[1], "|", color="black", markersize=14, mew=2.0)
        for x, y, label in zip(*ticks):
            ax.annotate(
                label,
                (x, y),
                xytext=(2, 6),
                textcoords="offset points",
                fontsize=7,
                color="black",
            )
    ax.set_yticks(range(len(nodes)))
    ax.set_yticklabels([_node_label(node, info["byzantine"]) for node in nodes])
    ax.set_ylim(len(nodes) - 0.5, -0.7)  # first lane on top
    right = float(np.nanmax(arrows["x1"]))
    if ticks is not None and len(ticks[0]):
        right = max(right, float(np.max(ticks[0])))
    ax.set_xlim(float(arrows["x0"].min()) - 0.01 * span, right + 0.04 * span)
    ax.set_xlabel("simulated time (s)")
    ax.grid(True, axis="x", alpha=0.3)
    for k in range(len(nodes)):
        ax.axhline(k, color="grey", linewidth=0.5, alpha=0.4, zorder=0)
    hollow = {"color": "grey", "linestyle": "None", "markerfacecolor": "none", "mew": 1.2}
    handles = [
        Line2D([], [], color=HONEST_COLOUR, label="honest sender"),
        Line2D([], [], color=BYZANTINE_COLOUR, label="Byzantine sender"),
        Line2D([], [], marker="o", label="eliminated by the receiver", **hollow),
        Line2D([], [], marker="D", markersize=5, label="clipped by the server", **hollow),
        Line2D([], [], color="grey", linestyle="--", label="late (missed its round)"),
        Line2D([], [], color="grey", marker="x", linestyle="-", label="lost"),
    ]
    if ticks is not None:
        tick = {"color": "black", "marker": "|", "markersize": 10, "mew": 2, "linestyle": "None"}
        handles.append(Line2D([], [], label="round completion (r = round completed)", **tick))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8.5)
    counts = _decision_counts(window)
    ax.set_title(
        f"{summary['scenario']}, variant “{variant}”: message sequence, rounds 0-{rounds - 1}"
        f" ({len(arrows['x0'])} messages: {counts})\n{_context(summary, info)}",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)


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
    (a Gantt chart in simulated time): from a round's start to its completion the node waits
    for messages (two shades, alternating by round), then computes for its compute time, and
    the next round starts (spec/engine.md); a gap is idle time.

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

    fig, ax = plt.subplots(figsize=(13, 1.9 + 0.55 * len(lanes)))
    shades = ("#9cc1e3", "#3d7ab8")
    bar = {"edgecolor": "white", "linewidth": 0.6}  # a round of zero length shows as a line
    # the event clock: a round cut by the deadline lasts exactly the deadline (else it ends at
    # an arrival); on the lock-step clock every round lasts D, so nothing is singled out
    lockstep = info.get("clock") == "lockstep"
    deadline = 0.0 if lockstep else info.get("deadline") or 0.0  # s after a round's start
    hatched = 0
    for k, (_, waiting, computing) in enumerate(lanes):
        for parity in (0, 1):
            spans = waiting[parity::2]
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
        ax.broken_barh(
            list(zip(spans[:, 0], spans[:, 1] - spans[:, 0])),
            (k - 0.35, 0.7),
            facecolors="tab:orange",
            **bar,
        )
        for r, (a, b) in enumerate(waiting):  # round numbers where the bar can hold them
            if b - a > 0.022 * end:
                ax.text((a + b) / 2, k, str(r), ha="center", va="center", fontsize=7)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([label for label, _, _ in lanes], fontsize=9)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlim(0, end * 1.01)
    ax.set_xlabel("simulated time (s)")
    ax.grid(True, axis="x", alpha=0.3)
    computes = sorted({_compute_time(info, a, compute_time) for a in agents})
    compute_label = "compute per round: " + ", ".join(_seconds(c) for c in computes)
    if agents_compute:
        compute_label = f"compute (server: {_seconds(computes[0])}; agents: a gradient)"
    elif computes == [0.0]:
        compute_label += " (none drawn)"
    handles = [
        Patch(facecolor=shades[0], label="waiting for messages (even round)"),
        Patch(facecolor=shades[1], label="waiting for messages (odd round)"),
        Patch(facecolor="tab:orange", label=compute_label),
        Patch(facecolor="white", edgecolor="grey", label="gap: idle"),
    ]
    if hatched:
        handles.insert(
            2,
            Patch(
                facecolor=shades[1],
                hatch="///",
                edgecolor="white",
                label=f"ended by the deadline ({_seconds(deadline)})",
            ),
        )
    if lockstep:
        handles.insert(
            2,
            Patch(
                facecolor="none",
                edgecolor="none",
                label=f"lock-step: every round ends at (r + 1) D, D = "
                f"{_seconds(info['round_length'])}",
            ),
        )
    shown = max(len(w) for _, w, _ in lanes)
    ax.set_title(
        f"{summary['scenario']}, variant “{variant}”: what each node does in rounds "
        f"0-{shown - 1} (numbers: round)\n{_context(summary, info)}",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))  # room for the legend
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8.5, frameon=False)
    return _save(fig, path)


def plot_latency_cdf(
    summary: dict[str, Any], messages: dict[str, np.ndarray], path: Path
) -> Path | None:
    """Empirical CDF of the link delay (arrival - send, simulated s, log scale) of delivered
    messages, one line per link class, the median marked with a dot.

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
    positive = np.concatenate(every)
    positive = positive[positive > 0]
    floor = float(positive.min()) / 2 if len(positive) else 1e-6
    colours = {c: plt.get_cmap("tab10")(k) for k, c in enumerate(LINK_CLASSES)}
    fig, ax = plt.subplots(figsize=(11, 6.5))
    zero_delays = 0
    for style, (names, delays) in zip(("-", "--", "-.", ":"), drawn):
        for link, delay in delays.items():
            zero_delays += int(np.sum(delay <= 0))
            x = np.maximum(delay, floor)
            y = np.arange(1, len(x) + 1) / len(x)
            median = float(np.median(delay))
            which = f" [{_names(names)}]" if len(drawn) > 1 else ""
            ax.step(
                np.concatenate(([x[0]], x)),
                np.concatenate(([0.0], y)),
                where="post",
                color=colours[link],
                linestyle=style,
                linewidth=1.6,
                label=f"{link}{which}: {_count(len(x), 'message')}, median {_seconds(median)}",
            )
            ax.plot(max(median, floor), 0.5, "o", color=colours[link], markersize=6)
    ax.plot([], [], "o", color="grey", label="median (dot at share 0.5)")
    ax.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    zero_note = f"; {zero_delays} delays of 0 s drawn at {_seconds(floor)}" if zero_delays else ""
    ax.set_xlabel(f"link delay = arrival - send (simulated s, log scale){zero_note}")
    ax.set_ylabel("share of delivered messages with delay ≤ x")
    ax.grid(True, which="both", alpha=0.25)
    notes = []
    if len(groups[0]) > 1:
        notes.append("identical delays: " + ", ".join(f"“{v}”" for v in groups[0]))
    if similar:
        notes.append(
            "delays not distinguishable from these (two-sample KS test, 1\u00a0%): "
            + ", ".join(f"“{v}”" for v in similar)
        )
    if hidden:
        notes.append("not drawn (at most 4 groups): " + ", ".join(n[0] for n, _ in hidden))
    ax.legend(
        loc="upper left",
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
    return _save(fig, path)


def plot_filter_decisions(
    summary: dict[str, Any], messages: dict[str, np.ndarray], path: Path
) -> Path | None:
    """Per round and per variant, what the filter did with the values that reached honest
    receivers (or the server) in time (:func:`decision_shares`): top, the share of Byzantine
    values eliminated or clipped; middle, the share of honest values eliminated (wrongly) and,
    dashed, clipped (CGC). When honest values missed their round (late or lost) in some
    variant, a bottom panel shows that share: each one uses up an elimination under
    ``absent = "eliminated"``. None when no value was sent to an honest node."""
    shares = {
        name: decision_shares(messages, name, info.get("byzantine", []))
        for name, info in summary["variants"].items()
    }
    if not any(s["byzantine_values"].sum() + s["honest_sent"].sum() for s in shares.values()):
        return None
    missed = any(s["honest_missed"].sum() for s in shares.values())
    clipped = any(s["honest_clipped"].sum() for s in shares.values())
    panels = 3 if missed else 2
    fig, axes = plt.subplots(panels, 1, figsize=(13, 1.4 + 3.0 * panels), sharex=True)
    top, middle = axes[0], axes[1]
    clocks = _clock_names(summary)
    mixed = len(set(clocks.values())) > 1  # then every variant's legend entry names its clock
    for k, (name, share) in enumerate(shares.items()):
        colour = plt.get_cmap("tab10")(k % 10)
        width = max(5.0 - 1.2 * k, 1.0)  # earlier variants wider: coinciding lines stay visible
        style = {"color": colour, "linewidth": width, "marker": "o", "markersize": 3.5}
        byzantine_total = int(share["byzantine_values"].sum())
        filtered = int(share["byzantine_filtered"].sum())
        top.plot(
            share["round"],
            share["byzantine_share"],
            label=f"{name} (filter {summary['variants'][name]['filter']}"
            + (f", {clocks[name]}" if mixed else "")
            + "): "
            + (
                f"{filtered} of {byzantine_total}"
                if byzantine_total
                else "no Byzantine value arrived in time"
            ),
            **style,
        )
        honest_total = int(share["honest_values"].sum())
        label = f"{name}: {int(share['honest_eliminated'].sum())} of {honest_total} eliminated"
        if share["honest_clipped"].sum():
            label += f", {int(share['honest_clipped'].sum())} clipped"
        middle.plot(share["round"], share["honest_share"], label=label, **style)
        if share["honest_clipped"].sum():
            middle.plot(
                share["round"], share["honest_clipped_share"], **{**style, "linestyle": "--"}
            )
        if missed:
            axes[2].plot(
                share["round"],
                share["honest_missed_share"],
                label=f"{name}: {int(share['honest_missed'].sum())} of "
                f"{int(share['honest_sent'].sum())}",
                **style,
            )
    in_time = "of those that reached an honest receiver or the server in time"
    top.set_title(f"Byzantine values eliminated or clipped ({in_time})", loc="left", fontsize=10)
    middle.set_title(
        f"honest values eliminated (wrongly){', and clipped (dashed)' if clipped else ''} "
        f"({in_time})",
        loc="left",
        fontsize=10,
    )
    if missed:
        axes[2].set_title(
            "honest values that missed their round (late or lost), of those sent to an honest "
            "receiver or the server",
            loc="left",
            fontsize=10,
        )
    axes[-1].set_xlabel("round (as in messages.csv, from 0)")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        ax.set_ylabel("share of values")
        ax.set_ylim(-0.04, 1.04)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8.5)
    first = next(iter(summary["variants"].values()))
    shared = next(iter(clocks.values()))
    fig.suptitle(
        f"{summary['scenario']}: what the filter did with each round's values, per variant\n"
        f"{_context(summary, first, clock=False)}"
        + (f"; {shared}" if shared and not mixed else ""),
        fontsize=11,
    )
    fig.tight_layout()
    return _save(fig, path)


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


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


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


def _completion_ticks(
    metrics: dict[str, np.ndarray], variant: str, rounds: int, lane: dict[int, int]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Completion of message rounds 0..rounds-1 = metrics rounds 1..rounds, per lane."""
    rows = (metrics["variant"] == variant) & (metrics["round"] >= 1)
    rows &= metrics["round"] <= rounds
    agents = metrics["agent"][rows].astype(str)
    nodes = np.array([SERVER if a == "server" else int(a) for a in agents])
    keep = np.isin(nodes, list(lane))
    x = metrics["time"][rows][keep]
    y = np.array([lane[int(n)] for n in nodes[keep]], dtype=np.float64)
    done: dict[tuple[float, float], list[str]] = {}  # rounds completed at one instant: one label
    for xy, r in zip(zip(x.tolist(), y.tolist()), metrics["round"][rows][keep].tolist()):
        done.setdefault(xy, []).append(str(r - 1))
    points = np.array(list(done), dtype=np.float64).reshape(-1, 2)
    return points[:, 0], points[:, 1], ["r" + ",".join(r) for r in done.values()]


def _decision_counts(window: dict[str, np.ndarray]) -> str:
    names = decision_names(window)
    parts = [f"{int(np.sum(names == d))} {d}" for d in _DECISION_CODES if np.any(names == d)]
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
