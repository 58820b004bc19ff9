"""The message trace as columns: reading ``messages.csv`` (or ``.parquet``) back, and the
numbers the timing figures draw, as small pure functions over those columns.

- :func:`read_messages`, :func:`decision_names`: the file's columns, decisions by name;
- :func:`link_classes`, :func:`delays_by_class`, :func:`delay_groups`, :func:`ks_distance`,
  :func:`delays_differ`: link delays by class of link, and whether variants' delays differ;
- :func:`decision_shares`: per round, what the filters did with honest and Byzantine values;
- :func:`round_intervals`, :func:`message_arrows`, :func:`reply_intervals`: when each node
  waited, and the arrows of a message-sequence chart.

Rounds are numbered as in ``messages.csv`` (from 0): a message of round r is used for the update
that ``metrics.csv`` records as round r + 1.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SERVER = -1  # the CGC server's node id in messages.csv
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
DECISION_CODES = ("kept", "eliminated", "clipped", "late", "lost")  # netsim.engine.Decision


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
        return np.array([DECISION_CODES[int(d)] for d in decision], dtype=object)
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
