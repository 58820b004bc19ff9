"""CE round by round: the whole of round r in a few array operations, when that is the same run.

:class:`netsim.fast.peer_engine.PeerEngine` processes one agent event at a time, in the
reference's order. For most runs that order only matters through facts that can be read off
the times, so a round can be computed as a layer (spec/engine.md, "Rounds (CE)"):

1. the round starts S(r) are known (S(0) = 0, S(r+1) = C(r) + compute time);
2. every honest sender's messages: A[s, j] = S_s(r) + delay, one (n_honest, n) array from the
   links' streams (a link's k-th message is round k);
3. each Byzantine sender's values, asked of the adversary with the View of its instant S_b(r):
   honest agent i shows x_i^k with k its rounds completed by S_b(r) (C_i(k-1) <= S_b(r): a
   completion comes before a Byzantine round start at one instant), its latest value sent
   (S_i(k) <= S_b(r)), and the honest values of round r sent by then, in send order;
4. completions, for every receiver at once: on the event clock C_j(r) = max(S_j(r),
   max_{s awaited} A[s, j]) if every awaited message is delivered by the deadline, else
   S_j(r) + deadline; on the lock-step clock C_j(r) is j's round end (:mod:`netsim.clocks`),
   and S_j(r + 1) = C_j(r) + compute is when j sends round r + 1 (round 0 at its clock's
   offset);
5. the honest updates of round r, stacked (:mod:`netsim.fast.peer_update`).

This is the reference's run when (a) no honest agent can complete round r before a Byzantine
agent starts it (so the View never needs an estimate beyond x^r: with a deadline, it suffices
that S_i(r) + deadline > S_b(r) for every honest i, on the lock-step clock that i's round end is
after S_b(r), without either it always holds), (b) the
Byzantine agents' round starts keep round order across agents (their adversary calls then come
in the reference's order), (c) ``absent`` is not ``stale`` (a stale value may come from a later
round) and (d) nothing stalls. The engine checks (a), (b) and (d) round by round and raises
:class:`NotLayered` otherwise; the caller then runs the event engine, which is exact in general.

The clock: the engine's :class:`netsim.engine.OrderedEnvironment` (``engine.env``) processes
one event per round, round r's at the earliest of its round starts, min_i S_i(r) (the
``horizon`` that round r - 1 leaves), whose callback computes the whole layer; one last event
closes the run at its last completion, the latest finite C_i(R - 1). So ``env.now`` never passes
an event of the run still to be computed, and ends where the event engine's clock ends when no
deadline check outlasts the last completion.
"""

from __future__ import annotations

import numpy as np

from ..adversaries import View
from ..engine.environment import COMPLETION, ROUND_START, Wakeup
from .peer_engine import BATCH_ELEMENTS, PeerEngine, ZeroDelay
from .rounds import LOST, RoundBook


class NotLayered(Exception):
    """This run needs the event-by-event order (module docstring, conditions (a)-(d))."""


class LayeredPeerEngine(PeerEngine):
    """One CE run, round by round (module docstring). Use :meth:`run`."""

    def run(self) -> None:
        if self.stale:
            raise NotLayered("absent = stale")
        n, rounds = self.n, self.rounds
        honest = self.honest_ids
        self.starts = np.zeros((rounds + 1, n))  # S(r), every agent
        if self.clock is not None:  # lock-step: round 0 starts at each clock's offset
            self.starts[0] = self.clock.starts(0)
        self.completions = np.zeros((rounds, n))
        # the honest senders' messages go to every other agent
        self.honest_sent = honest[:, None] != self.receivers[None, :]
        self.no_loss = np.zeros(self.honest_sent.shape, dtype=bool)
        self.sender_column = np.arange(n)[:, None]
        self.byzantine_ids = np.flatnonzero(self.byzantine)
        self.compute_times = np.asarray(self.compute, dtype=np.float64)
        self.env.call_at(0.0, (ROUND_START,), self._on_layer, 0)
        self.env.run()
        self._retire(final=True)

    def _on_layer(self, event: Wakeup) -> None:
        """Round r's event (module docstring): the layer, then the next round's event at the
        horizon, or after the last round the closing event at the last completion."""
        r = event.value
        self._layer(r)
        if r + 1 < self.rounds:
            self.env.call_at(self.horizon, (ROUND_START,), self._on_layer, r + 1)
        else:
            last = self.completions[r]
            self.env.call_at(float(last[np.isfinite(last)].max()), (COMPLETION,), None)

    def _layer(self, r: int) -> None:
        """Round r, steps 1-5 of the module docstring."""
        honest, byzantine = self.honest_ids, self.byzantine_ids
        starts, completions = self.starts, self.completions
        start = starts[r]
        book = self._book(r)
        book.start[:] = start
        book.opened[:] = True
        book.started[:] = True
        book.send_time[:] = start
        self._honest_layer(book, honest, start)
        self.started_round[honest] = r
        self._byzantine_layer(book, byzantine, start, completions, starts, r)
        self.started_round[byzantine] = r
        completion = self._completions(book, start, r)
        completions[r] = completion
        book.completion[:] = completion
        self.completed[:] = r + 1
        self.times[r + 1, honest] = completion[honest]
        self.counters.deadline_rounds += int(np.count_nonzero(book.by_deadline[honest]))
        book.in_time_final = book.in_time_all()
        self._updates(book, honest)
        starts[r + 1] = completion + self.compute_times
        self.horizon = float(starts[r + 1].min())
        if len(byzantine) > 1 and r + 1 < self.rounds:
            now = max(zip(start[byzantine], byzantine))
            then = min(zip(starts[r + 1][byzantine], byzantine))
            if then < now:
                raise NotLayered("Byzantine round starts overtake each other")
        self._retire()

    def _honest_layer(self, book: RoundBook, honest: np.ndarray, start: np.ndarray) -> None:
        """Step 2: the honest messages of the round, (n_honest, n) at once."""
        r = book.round
        leaf, lost = self.link_draws.rows(honest, r)
        delay = self.plan.delay_rows(leaf, honest, self.receivers, start[honest])
        sent = self.honest_sent
        lost = self.no_loss if lost is None else lost & sent
        asynchrony = self.scenario.network.asynchrony
        if asynchrony is not None:
            bounded = (start[honest] >= asynchrony.gst)[:, None] & sent
            over = bounded & (delay > asynchrony.delta)
            if over.any():
                if asynchrony.on_violation == "error":
                    raise NotLayered("a bound violation stops the run: the event engine says where")
                self.capped += int(over.sum())
                delay = np.where(over, asynchrony.delta, delay)
            lost &= ~bounded
        send_time = start[honest][:, None]
        arrival = send_time + delay
        if (sent & (arrival <= send_time)).any():
            raise ZeroDelay("a message arrives at its send time")
        book.sent[honest] = sent
        if lost is self.no_loss:  # every message sent is delivered
            book.arrival[honest] = np.where(sent, arrival, np.inf)
            return
        delivered = sent & ~lost
        book.lost[honest] = lost
        book.arrival[honest] = np.where(delivered, arrival, np.inf)
        book.decision[honest] = np.where(sent & lost, LOST, book.decision[honest])

    def _byzantine_layer(
        self,
        book: RoundBook,
        byzantine: np.ndarray,
        start: np.ndarray,
        completions: np.ndarray,
        starts: np.ndarray,
        r: int,
    ) -> None:
        """Step 3: each Byzantine sender's values (its View at its round start) and messages."""
        honest = self.honest_ids
        if self.clock is not None:  # lock-step: an honest round ends at the agent's clock
            ends = self.clock.starts(r + 1)[honest]
        elif self.deadline is not None:
            ends = start[honest] + self.deadline
        else:
            ends = None  # an honest agent waits for every Byzantine start
        for b in sorted(byzantine.tolist(), key=lambda b: (start[b], b)):
            time = float(start[b])
            if ends is not None and (ends <= time).any():
                raise NotLayered("an honest agent may complete the round before a Byzantine start")
            # rounds completed / started by `time` (a completion comes before a Byzantine round
            # start at one instant): C(k - 1) <= time for k <= completed, S(k) <= time for
            # k <= latest; both are non-decreasing in k (C(k) >= S(k) = C(k - 1) + compute).
            # Round 0 counts too: on a skewed lock-step clock an honest agent may start it
            # after a Byzantine one (latest -1: it has sent nothing yet).
            self.completed[:] = _rounds_by(completions[:r], time)
            self.started_round[honest] = _rounds_by(starts[: r + 1], time)[honest] - 1
            view = self._layer_view(book, r, time, starts[r])
            sent, lost, delay = self._byzantine_sends(b, r, time, book, view)
            arrival = time + delay
            if (sent & (arrival <= time)).any():
                raise ZeroDelay(f"a message of agent {b} arrives at its send time {time!r}")
            delivered = sent & ~lost
            book.sent[b] = sent
            book.lost[b] = lost
            book.arrival[b] = np.where(delivered, arrival, np.inf)
            book.decision[b, sent & lost] = LOST

    def _layer_view(self, book: RoundBook, r: int, time: float, start: np.ndarray) -> View:
        """The View at ``time``: the honest agents that started round r by then, in the order
        of their round starts (start time, then id)."""
        honest = self.honest_ids[start[self.honest_ids] <= time]
        honest = honest[np.lexsort((honest, start[honest]))]
        return self._round_start_view(r, time, honest.tolist())

    def _completions(self, book: RoundBook, start: np.ndarray, r: int) -> np.ndarray:
        """Step 4 (:mod:`netsim.fast.rounds`), every receiver at once; on the lock-step clock
        every receiver completes at its round end S_j(r + 1), and every value that arrived by
        then is in time."""
        awaited = self.awaited
        # an undelivered message has arrival +inf: an awaited one makes `last` +inf
        last = np.where(awaited, book.arrival, -np.inf).max(axis=0)
        broken = last == np.inf
        book.scheduled[:] = True
        if self.clock is not None:
            completion = self.clock.starts(r + 1)
            book.by_deadline[:] = broken | (last > completion)
            book.trigger[:] = self.n  # all deliveries at the round end come before it
            return completion
        by_rule = np.maximum(start, last)
        deadline = np.inf if self.deadline is None else start + self.deadline
        early = ~broken & (by_rule <= deadline)
        completion = np.where(early, by_rule, deadline)
        if not np.isfinite(completion[self.honest_ids]).all():
            raise NotLayered("an honest agent waits forever: the event engine reports it")
        book.by_deadline[:] = ~early
        triggered = early & (by_rule > start)
        at_trigger = awaited & (book.arrival == by_rule) & triggered
        book.trigger[:] = np.where(
            triggered, np.where(at_trigger, self.sender_column, -1).max(axis=0), self.n
        )
        return completion

    def _updates(self, book: RoundBook, honest: np.ndarray) -> None:
        """Step 5, in chunks of at most ``BATCH_ELEMENTS`` stacked floats."""
        in_time = book.in_time_final
        chunk = max(1, BATCH_ELEMENTS // (self.n * self.dim))
        for first in range(0, len(honest), chunk):
            agents = honest[first : first + chunk]
            self._compute_round(book.round, agents, in_time[:, agents].T)


def _rounds_by(times: np.ndarray, time: float) -> np.ndarray:
    """Per agent, how many rows of ``times`` (non-decreasing down each column) are <= ``time``:
    the last two rows decide unless an agent is further behind (then every row counts)."""
    tail = times[-2:] <= time
    # the True entries of each column: ndarray.sum, np.count_nonzero's axis path without its wrapper
    count = tail.sum(axis=0) + (len(times) - len(tail))
    if len(times) > 2 and not tail[0].all():
        count = (times <= time).sum(axis=0)
    return count
