"""One CE round's messages as (sender, receiver) arrays, and when each receiver completes it.

spec/engine.md, "Rounds (CE)": on the lock-step clock receiver j completes round r at its round
end (the engines schedule it; every message that arrived by then is in time). On the event
clock receiver j completes round r at the earlier of (a) the arrival
of the last of the messages it waits for (every other agent for an honest receiver, the honest
agents for a Byzantine one) and (b) its deadline S_j(r) + ``protocol.deadline``; a message
arriving exactly at the deadline counts (deliveries come before deadline checks at one instant).
If every awaited message arrived before j opened the round, j completes at its round start. So

    C_j(r) = max(S_j(r), max_{s awaited} A_{s->j}(r))   if that is <= the deadline,
    C_j(r) = S_j(r) + deadline                           otherwise (or a message never comes),

with A = send time + delay (simulated s). A message of round r is in time for j iff it was
delivered and A <= C_j(r); otherwise it is ``late``. The fast engine assumes every delay moves
time forward (A > send time), which makes "delivered before" the same as "arrival <= time":
a message sent at t can never be seen by another event at t (see netsim.fast.peer_engine).

A :class:`RoundBook` is filled sender by sender as their round starts are processed; as soon as
every awaited sender of an opened receiver has started, its completion time is known.
"""

from __future__ import annotations

import numpy as np

from ..engine.trace import Decision

UNDECIDED = -1
# the decisions as ints, for the code that runs every round (an IntEnum member lookup costs a
# few µs)
LOST, LATE, KEPT, CLIPPED, ELIMINATED = (
    int(Decision.LOST),
    int(Decision.LATE),
    int(Decision.KEPT),
    int(Decision.CLIPPED),
    int(Decision.ELIMINATED),
)


def _filled(shape: int | tuple[int, int], value: float, dtype: type) -> np.ndarray:
    """``np.full`` without its Python-level overhead (a book is made every round)."""
    array = np.empty(shape, dtype=dtype)
    array.fill(value)
    return array


class RoundBook:
    """The messages of one round, indexed [sender, receiver], and the receivers' progress."""

    def __init__(self, round: int, n: int, awaited: np.ndarray):
        self.round = round
        self.awaited = awaited  # (n, n) bool: receiver waits for sender (shared, read-only)
        self.started = np.zeros(n, dtype=bool)
        self.send_time = np.zeros(n)
        self.send_order = np.zeros(n, dtype=np.int64)  # processing order of the round starts
        self.sent = np.zeros((n, n), dtype=bool)
        self.lost = np.zeros((n, n), dtype=bool)
        self.arrival = _filled((n, n), np.inf, np.float64)
        self.decision = _filled((n, n), UNDECIDED, np.int8)
        # awaited senders that have not started yet
        self.missing = awaited.sum(axis=0)
        # latest arrival among the awaited delivered ones
        self.last = _filled(n, -np.inf, np.float64)
        self.broken = np.zeros(n, dtype=bool)  # an awaited message is lost or never sent
        self.opened = np.zeros(n, dtype=bool)
        self.start = np.zeros(n)
        self.scheduled = np.zeros(n, dtype=bool)  # completion time known and queued
        self.by_deadline = np.zeros(n, dtype=bool)
        # The awaited sender whose delivery triggers a completion by rule (a) after the round
        # start: of the messages arriving exactly then, only those delivered before it (lower
        # sender id, the delivery key) are in time for a receiver that does not await them.
        self.trigger = _filled(n, n, np.int64)
        self.completion = _filled(n, np.nan, np.float64)
        self.byzantine_values: dict[int, np.ndarray] = {}  # sender -> (n, d) per receiver
        self.updates_left = 0  # honest completions of this round not yet computed
        self.in_time_final: np.ndarray | None = None  # in_time_all(), once every time is final

    def record_sends(
        self,
        sender: int,
        time: float,
        order: int,
        sent: np.ndarray,
        lost: np.ndarray,
        arrival: np.ndarray,
    ) -> np.ndarray:
        """``sender`` starts the round at ``time``; returns the opened receivers whose
        completion time has just become known."""
        self.started[sender] = True
        self.send_time[sender] = time
        self.send_order[sender] = order
        self.sent[sender] = sent
        self.lost[sender] = lost & sent
        delivered = sent & ~lost
        self.arrival[sender] = np.where(delivered, arrival, np.inf)
        self.decision[sender, delivered] = UNDECIDED
        self.decision[sender, sent & lost] = Decision.LOST
        waits = self.awaited[sender]
        self.missing -= waits
        self.last = np.where(waits & delivered, np.maximum(self.last, arrival), self.last)
        self.broken |= waits & ~delivered
        return np.flatnonzero(waits & self.opened & ~self.scheduled & (self.missing == 0))

    def completion_time(self, receiver: int, deadline: float | None) -> float | None:
        """When ``receiver`` completes by rule (a), if every awaited sender has started and
        that is not after its deadline; else None (the deadline decides, or it waits)."""
        if self.missing[receiver] or self.broken[receiver]:
            return None
        time = max(self.start[receiver], self.last[receiver])
        if deadline is not None and time > self.start[receiver] + deadline:
            return None
        if time > self.start[receiver]:
            at_time = self.awaited[:, receiver] & (self.arrival[:, receiver] == time)
            self.trigger[receiver] = np.flatnonzero(at_time)[-1]
        return float(time)

    def arrived_all(self, receiver: int, time: float) -> bool:
        """Whether every awaited sender's message reached ``receiver`` by ``time``."""
        return not (self.missing[receiver] or self.broken[receiver]) and (
            self.last[receiver] <= time
        )

    def in_time(self, receiver: int) -> np.ndarray:
        """(n,) bool over senders: delivered to ``receiver`` by its completion."""
        arrival, completion = self.arrival[:, receiver], self.completion[receiver]
        senders = np.arange(len(arrival))
        return (arrival < completion) | (
            (arrival == completion) & (senders <= self.trigger[receiver])
        )

    def in_time_all(self) -> np.ndarray:
        """(n, n) bool [sender, receiver]: :meth:`in_time` of every receiver."""
        senders = np.arange(len(self.start))[:, None]
        completion = self.completion[None, :]
        at_completion = (self.arrival == completion) & (senders <= self.trigger[None, :])
        return (self.arrival < completion) | at_completion

    def complete(self) -> bool:
        return bool(self.started.all() and not np.isnan(self.completion).any())
