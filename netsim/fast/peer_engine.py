"""The CE protocol (spec/ce.md) on the fast engine: agent events in SimPy, messages in arrays.

The reference (:mod:`netsim.protocols.ce`) makes every message a SimPy event. Here only the
agents' events are: round starts, deadline checks and round completions, each one
:class:`netsim.engine.environment.Wakeup` (a callback, no process) on the engine's own
:class:`netsim.engine.OrderedEnvironment` (``engine.env``, whose ``now`` is the run's clock),
ordered as that environment orders the reference's events, by (simulated time, key, insertion)
with the keys of spec/engine.md: deadline (1, 0, agent) < completion (2, 0, agent) < round start
(3, Byzantine?, agent). A message is a row entry of a :class:`netsim.fast.rounds.RoundBook`, its
arrival time computed with numpy when its sender starts the round (a whole row of n links at
once, from the links' own streams, :mod:`netsim.fast.draws`).

Why that is the same run. With every delay moving time forward (arrival > send time), the
reference delivers a message before any agent event at or after its arrival time (a delivery
has the smallest key, and it is queued before that instant comes), and never before its send.
So "was it delivered when the agent looked" is "arrival <= the agent's event time", and the
agent events alone, in the reference's order, determine the run:

- an honest agent's round start only sends (its value is its current estimate);
- a completion (at the time rule (a) or (b) of :mod:`netsim.fast.rounds` gives, queued as soon
  as it is known; on the lock-step clock at the agent's round end, through a deadline check
  queued at its round start, as the reference's inbox does) uses the messages with
  arrival <= its time; its estimate update is deferred and computed in batches
  (:mod:`netsim.fast.peer_update`), in completion order, a batch being cut where an update
  needs another update of the same batch;
- a Byzantine round start reads the honest state of its instant (honest events at the same
  instant come first: their keys are smaller), so every pending update is computed before the
  adversary is asked, through the same :class:`netsim.adversaries.View` and streams as in the
  reference.

A zero delay (a message visible at its own sending instant, e.g. ``constant`` 0) breaks the
assumption; the engine then raises :class:`ZeroDelay` and the caller runs the reference engine
instead (netsim.fast.simulate_fast).

Most runs do not need this engine's generality: :mod:`netsim.fast.layered` computes them a round
at a time and hands over to this one (from the start) when it cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np

from ..adversaries import Receivers, View, batch_lags, batch_values
from ..config import Scenario
from ..costs import StackedProjection
from ..engine.environment import COMPLETION, DEADLINE, ROUND_START, OrderedEnvironment, Wakeup
from ..engine.network import BoundViolation
from ..engine.trace import Decision
from ..errors import SimulationStalled
from ..protocols.common import AdversaryStreams, RunCounters
from ..rng import Stream
from .draws import DelayPlan, LinkDraws
from .peer_update import peer_step
from .rounds import CLIPPED, ELIMINATED, KEPT, LATE, UNDECIDED, RoundBook
from .trace import TraceSink, byzantine_mask

BATCH_ELEMENTS = 1_000_000  # floats in one stacked (B, n, d) update (4 10^6: slower, +90 MiB)
EMIT_MESSAGES = 1 << 22  # messages handed to the trace in one call (n = 10^4: 10^8 a round)


class ZeroDelay(Exception):
    """A message arrived at its own send time: outside the fast engine's assumption."""


class EstimateRows(Mapping):
    """agent -> its estimate of a given round (a row of the run's estimates array): a View's
    ``honest_sent`` or ``honest_latest``, as the dict the reference builds, read on first use
    (an adversary that never looks costs nothing). A row of the array is written once, before
    any View that names it, so reading it later gives the same values."""

    def __init__(self, estimates: np.ndarray, agents: list[int], rounds: list[int]):
        self._estimates = estimates
        self._agents = agents
        self._rounds = rounds  # the round of each listed agent's row
        self._rows: dict[int, np.ndarray] | None = None

    def _dict(self) -> dict[int, np.ndarray]:
        if self._rows is None:
            pairs = zip(self._agents, self._rounds)
            self._rows = {agent: self._estimates[r, agent] for agent, r in pairs}
        return self._rows

    def __getitem__(self, agent: int) -> np.ndarray:
        return self._dict()[agent]

    def __iter__(self) -> Iterator[int]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._agents)


class PeerEngine:
    """One CE run (module docstring). Use :meth:`run`, then read the attributes."""

    def __init__(
        self,
        scenario: Scenario,
        optimum: np.ndarray,
        on_round: Callable[[], None] | None = None,
    ):
        net, proto = scenario.network, scenario.protocol
        self.scenario = scenario
        self.optimum = optimum
        self.on_round = on_round
        self.n, self.f, self.rounds, self.dim = net.n, net.f, proto.rounds, scenario.dim
        self.byzantine = np.zeros(self.n, dtype=bool)
        self.byzantine[list(net.byzantine)] = True
        self.honest = tuple(net.honest)
        self.honest_ids = np.array(self.honest, dtype=np.int64)
        self.deadline = proto.deadline
        self.clock = proto.round_clock  # lock-step round ends; None: the event clock
        self.stale = proto.absent == "stale"
        self.compute = net.compute_time
        self.costs = scenario.costs.costs
        self.projection = StackedProjection(self.costs)
        self.counters = RunCounters()
        self.capped = 0
        # awaited[s, j]: an honest receiver waits for every other agent, a Byzantine one for
        # the honest agents only.
        others = ~np.eye(self.n, dtype=bool)
        self.awaited = others & (~self.byzantine[None, :] | ~self.byzantine[:, None])
        self.plan = DelayPlan(net.delay)
        self.link_draws = LinkDraws(self.plan, scenario.seed, range(self.n), net.loss, self.rounds)
        self.messages_on = {b: np.zeros(self.n, dtype=np.int64) for b in net.byzantine}
        self.adversary_rng = AdversaryStreams(scenario.seed)
        self.adversary_memory: dict = {}
        self.peer_streams: dict[int, tuple[np.ndarray, list[Stream]]] = {}
        self.trace = TraceSink(scenario.trace, net.asynchrony, byzantine_mask(net))
        # estimates[r, i]: x_i^r (honest rows); times[r, i]: when i completed round r
        self.estimates = np.zeros((self.rounds + 1, self.n, self.dim))
        self.times = np.zeros((self.rounds + 1, self.n))
        for i in self.honest:
            cost = self.costs[i]
            self.estimates[0, i] = (
                cost.minimizer() if proto.x0 is None else cost.project(proto.x0[i])
            )
        self.started_round = np.full(self.n, -1)  # last round each agent started
        self.completed = np.zeros(self.n, dtype=np.int64)  # rounds completed (events processed)
        self.updated = np.zeros(self.n, dtype=np.int64)  # rounds whose estimate is computed
        self.books: dict[int, RoundBook] = {}
        self.retired = 0  # rounds handed to the trace
        self.pending: list[tuple[int, int]] = []  # (agent, round) completions to compute
        self.env = OrderedEnvironment()  # the clock: env.now
        self.handlers: dict[int, Callable[[Wakeup], None]] = {
            ROUND_START: self._on_round_start,
            COMPLETION: self._on_completion,
            DEADLINE: self._on_deadline,
        }
        self.order = 0  # round starts processed (the reference's send order)
        self.receivers = np.arange(self.n)
        if self.stale:
            self.latest_round = np.full((self.n, self.n), -1)  # [receiver, sender]
            self.latest_value = np.zeros((self.n, self.n, self.dim))  # Byzantine rows only
        self.stale_books: list[RoundBook] = []  # retired rounds whose messages may be latest
        self.horizon = 0.0  # no round start still to be processed comes before this time

    # --- the event loop --------------------------------------------------------------------

    def run(self) -> None:
        """Every agent event, in the reference's order, until none is left: ``env.now`` ends
        at the last one (a completion, or a deadline check that finds its round completed)."""
        for agent in range(self.n):
            start = 0.0 if self.clock is None else self.clock.start(agent, 0)
            self._at(start, ROUND_START, int(self.byzantine[agent]), agent, 0)
        self.env.run()
        self._flush()
        for i in self.honest:
            if self.completed[i] < self.rounds:
                raise SimulationStalled(
                    "protocol.deadline",
                    f"honest agent {i} waits forever in round {self.started_round[i]} (a sender "
                    "stays silent and delays are unbounded); set a round deadline in simulated "
                    "seconds",
                    self.deadline,
                    "a number > 0",
                )
        self._retire(final=True)

    def _at(self, time: float, kind: int, byzantine: int, agent: int, round: int) -> None:
        """Queue ``agent``'s event of ``kind`` for ``round`` at ``time``, keyed (kind,
        Byzantine?, agent): SimPy's insertion counter then orders equal keys."""
        self.env.call_at(time, (kind, byzantine, agent), self.handlers[kind], (agent, round))

    def _on_round_start(self, event: Wakeup) -> None:
        agent, round = event.value
        self.horizon = time = self.env.now  # events come in time order
        self._round_start(agent, round, time)

    def _on_completion(self, event: Wakeup) -> None:
        agent, round = event.value
        self.horizon = time = self.env.now
        self._completion(agent, round, time)

    def _on_deadline(self, event: Wakeup) -> None:
        agent, round = event.value
        self.horizon = time = self.env.now
        self._deadline(agent, round, time)

    def _book(self, round: int) -> RoundBook:
        book = self.books.get(round)
        if book is None:
            book = self.books[round] = RoundBook(round, self.n, self.awaited)
            book.updates_left = len(self.honest)
        return book

    # --- events --------------------------------------------------------------------------------

    def _round_start(self, agent: int, round: int, time: float) -> None:
        book = self._book(round)
        self.started_round[agent] = round
        if self.byzantine[agent]:
            sent, lost, delay = self._byzantine_sends(agent, round, time, book)
        else:
            sent, lost, delay = self._honest_sends(agent, round, time)
        arrival = time + delay
        if np.any(sent & (arrival <= time)):
            raise ZeroDelay(f"a message of agent {agent} arrives at its send time {time!r}")
        ready = book.record_sends(agent, time, self.order, sent, lost, arrival)
        self.order += 1
        for receiver in ready:
            self._schedule(book, int(receiver))
        book.opened[agent] = True
        book.start[agent] = time
        if self.clock is not None:  # lock-step: the round ends on the agent's clock
            self._at(self.clock.start(agent, round + 1), DEADLINE, 0, agent, round)
        elif not self._schedule(book, agent) and self.deadline is not None:
            self._at(time + self.deadline, DEADLINE, 0, agent, round)

    def _schedule(self, book: RoundBook, receiver: int) -> bool:
        """Queue ``receiver``'s completion if rule (a) already gives its time (never on the
        lock-step clock: a round ends at its end)."""
        if self.clock is not None:
            return False
        time = book.completion_time(receiver, self.deadline)
        if time is None:
            return False
        book.scheduled[receiver] = True
        self._at(time, COMPLETION, 0, receiver, book.round)
        return True

    def _deadline(self, agent: int, round: int, time: float) -> None:
        book = self.books.get(round)
        if book is not None and not book.scheduled[agent]:  # else: a no-op check
            book.scheduled[agent] = True
            # lock-step: "by the deadline" unless every awaited value is in by the round's end
            book.by_deadline[agent] = self.clock is None or not book.arrived_all(agent, time)
            self._at(time, COMPLETION, 0, agent, round)

    def _completion(self, agent: int, round: int, time: float) -> None:
        book = self.books[round]
        book.completion[agent] = time
        self.completed[agent] = round + 1
        if not self.byzantine[agent]:
            self.times[round + 1, agent] = time
            self.counters.deadline_rounds += int(book.by_deadline[agent])
            self.pending.append((agent, round))
            if len(self.pending) * self.n * self.dim >= BATCH_ELEMENTS:
                self._flush()
        if round + 1 < self.rounds:
            self._at(
                time + self.compute[agent],
                ROUND_START,
                int(self.byzantine[agent]),
                agent,
                round + 1,
            )
        self._retire()

    # --- sending -----------------------------------------------------------------------------

    def _honest_sends(
        self, agent: int, round: int, time: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        leaf, lost = self.link_draws.draws(agent, round)
        delay = self.plan.delays(leaf, agent, self.receivers, time)
        sent = self.receivers != agent
        lost = np.zeros(self.n, dtype=bool) if lost is None else lost
        asynchrony = self.scenario.network.asynchrony
        if asynchrony is not None and time >= asynchrony.gst:
            over = sent & (delay > asynchrony.delta)
            if over.any():
                if asynchrony.on_violation == "error":
                    receiver = int(np.flatnonzero(over)[0])
                    raise BoundViolation(
                        "network.asynchrony.delta",
                        f"link {agent} -> {receiver} drew a delay of {delay[receiver]:.6g} s for "
                        f"a message sent at {time:.6g} s, after GST",
                        asynchrony.delta,
                        f'>= {delay[receiver]:.6g}, or on_violation = "cap"',
                    )
                self.capped += int(over.sum())
                delay = np.where(over, asynchrony.delta, delay)
            lost = np.zeros(self.n, dtype=bool)
        return sent, lost, delay

    def _byzantine_sends(
        self, agent: int, round: int, time: float, book: RoundBook, view: View | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The adversary's value for every receiver (the reference's ``_byzantine``), and the
        delays of the messages it sends, each link's next draw. ``view``: the View of this
        instant (default: computed from the events processed so far)."""
        if view is None:
            self._flush()
            view = self._view(round, time)
        ids, rngs = self._peer_streams(agent)
        receivers = Receivers(
            ids=ids,
            target=self.estimates[self.completed[ids], ids],
            has_target=~self.byzantine[ids],
            rngs=rngs,
        )
        adversary = self.scenario.adversary
        chosen, chosen_sent = batch_values(adversary, agent, round, view, receivers)
        values = np.zeros((self.n, self.dim))
        sent = np.zeros(self.n, dtype=bool)
        values[ids] = chosen
        sent[ids] = chosen_sent
        count = self.messages_on[agent]
        leaf, lost = self.link_draws.indexed(agent, count, sent)
        delay = self.plan.delays(leaf, agent, self.receivers, time)
        lags = batch_lags(adversary, agent, round, view, receivers)
        if lags is not None:  # held back (Network.send adds the lag to the link's draw)
            delay = delay.copy()
            delay[ids] = delay[ids] + lags
        count[sent] += 1
        lost = np.zeros(self.n, dtype=bool) if lost is None else lost & sent
        asynchrony = self.scenario.network.asynchrony
        if asynchrony is not None and time >= asynchrony.gst:
            if self.scenario.adversary_delivery == "last_moment":
                delay = np.full(self.n, asynchrony.delta)
            else:
                delay = np.minimum(delay, asynchrony.delta)
        book.byzantine_values[agent] = values
        return sent, lost, delay

    def _peer_streams(self, agent: int) -> tuple[np.ndarray, list[Stream]]:
        """Byzantine ``agent``'s receivers (every other agent, by id) and their streams."""
        streams = self.peer_streams.get(agent)
        if streams is None:
            ids = np.flatnonzero(self.receivers != agent)
            rngs = [self.adversary_rng(agent, j) for j in ids.tolist()]
            streams = self.peer_streams[agent] = (ids, rngs)
        return streams

    def _view(self, round: int, time: float) -> View:
        """What the reference shows an adversary at a Byzantine round start (all honest events
        up to this instant are processed and their updates computed)."""
        book = self.books[round]
        started = [i for i in self.honest if book.started[i]]
        started.sort(key=lambda i: book.send_order[i])
        return self._round_start_view(round, time, started)

    def _round_start_view(self, round: int, time: float, senders: list[int]) -> View:
        """The adversary's view at a round start: the round's honest values already sent by
        ``senders`` (in send order) and every honest agent's latest estimate."""
        latest = self.started_round.tolist()
        started = [i for i in self.honest if latest[i] >= 0]
        return View(
            round=round,
            now=time,
            dim=self.dim,
            honest_sent=EstimateRows(self.estimates, senders, [round] * len(senders)),
            honest_latest=EstimateRows(self.estimates, started, [latest[i] for i in started]),
            optimum=self.optimum,
            f=self.f,
            filter=self.scenario.protocol.filter,
            memory=self.adversary_memory,
        )

    # --- estimates -----------------------------------------------------------------------------

    def _flush(self) -> None:
        """Compute every pending update, in completion order, in dependency-free batches."""
        batch: list[tuple[int, int, np.ndarray, tuple | None]] = []
        for agent, round in self.pending:
            in_time, stale_rows, needed_agents, needed_rounds = self._inputs(agent, round)
            if batch and np.any(self.updated[needed_agents] < needed_rounds):
                self._compute(batch)
                batch = []
            batch.append((agent, round, in_time, stale_rows))
        if batch:
            self._compute(batch)
        self.pending = []
        self._retire()
        if self.stale:
            self._fold_arrived()

    def _inputs(self, agent: int, round: int) -> tuple:
        """What receiver ``agent`` uses in ``round``: its in-time mask, (round, value) of each
        sender's latest message (stale policy, else None), and the (agents, rounds) whose
        estimates it reads."""
        book = self.books[round]
        in_time = book.in_time(agent)
        needed_agents = np.append(np.flatnonzero(in_time & ~self.byzantine), agent)
        needed_rounds = np.full(len(needed_agents), round)
        stale_rows = None
        if self.stale:
            stale_rows = self._latest(agent, book.completion[agent])
            senders = np.flatnonzero((stale_rows[0] >= 0) & ~self.byzantine)
            needed_agents = np.append(needed_agents, senders)
            needed_rounds = np.append(needed_rounds, stale_rows[0][senders])
        return in_time, stale_rows, needed_agents, needed_rounds

    def _latest(self, receiver: int, time: float) -> tuple[np.ndarray, np.ndarray]:
        """(round, value) of each sender's most recent finite message delivered to
        ``receiver`` by ``time`` (round -1: none), as ``RoundInbox.latest``; honest values are
        read at compute time (their estimate may not be computed yet)."""
        rounds = self.latest_round[receiver].copy()
        values = self.latest_value[receiver].copy()
        for book in [*self.stale_books, *self.books.values()]:
            arrived = book.arrival[:, receiver] <= time
            if not arrived.any():
                continue
            newer = arrived & self._finite_sent(book, receiver) & (book.round > rounds)
            rounds[newer] = book.round
            for sender in np.flatnonzero(newer & self.byzantine):
                values[sender] = book.byzantine_values[sender][receiver]
        return rounds, values

    def _fold_arrived(self) -> None:
        """Fold retired rounds whose messages have all arrived by now into the latest values:
        every later completion happens at or after now."""
        keep = []
        for book in self.stale_books:
            if np.any(np.isfinite(book.arrival) & (book.arrival > self.env.now)):
                keep.append(book)
                continue
            for receiver in range(self.n):
                delivered = np.isfinite(book.arrival[:, receiver])
                newer = delivered & self._finite_sent(book, receiver)
                newer &= book.round > self.latest_round[receiver]
                if newer.any():
                    self.latest_round[receiver, newer] = book.round
                    for sender in np.flatnonzero(newer & self.byzantine):
                        self.latest_value[receiver, sender] = book.byzantine_values[sender][
                            receiver
                        ]
        self.stale_books = keep

    def _finite_sent(self, book: RoundBook, receiver: int) -> np.ndarray:
        finite = ~self.byzantine.copy()
        for sender, rows in book.byzantine_values.items():
            finite[sender] = bool(np.all(np.isfinite(rows[receiver])))
        return finite

    def _compute(self, batch: list) -> None:
        """The updates of a batch of (receiver, round) pairs that do not depend on each other
        (the reference's ``CEProtocol._update``, for all of them at once)."""
        if not self.stale and all(item[1] == batch[0][1] for item in batch):
            agents = np.array([item[0] for item in batch])
            self._compute_round(batch[0][1], agents, np.array([item[2] for item in batch]))
            return
        size, n = len(batch), self.n
        agents = np.array([item[0] for item in batch])
        rounds = np.array([item[1] for item in batch])
        in_time = np.array([item[2] for item in batch])
        own = self.estimates[rounds, agents]
        values = self.estimates[rounds]  # honest rows: x_s^r; Byzantine rows filled below
        groups = {r: np.flatnonzero(rounds == r) for r in np.unique(rounds).tolist()}
        for r, rows in groups.items():
            for sender, sent in self.books[r].byzantine_values.items():
                values[rows, sender] = sent[agents[rows]]
        finite = np.isfinite(values).all(axis=2)
        usable = in_time & finite
        honest = ~self.byzantine
        self.counters.non_finite_received += int(np.sum(in_time & ~finite))
        self.counters.absent_honest += int(np.sum(~in_time & honest)) - size  # not oneself
        present = usable.copy()
        stale = np.zeros((size, n), dtype=bool)
        if self.stale:
            for u, (agent, _, _, (latest_round, latest_value)) in enumerate(batch):
                fill = ~usable[u] & (latest_round >= 0)
                fill[agent] = False
                for sender in np.flatnonzero(fill):
                    values[u, sender] = (
                        latest_value[sender]
                        if self.byzantine[sender]
                        else self.estimates[latest_round[sender], sender]
                    )
                stale[u] = fill
            present |= stale
        self.counters.synchrony_violations += int(np.sum((n - 1) - present.sum(axis=1) > self.f))
        step_size = self.scenario.protocol.step_size
        etas = {r: step_size(r) for r in groups}
        eta = [etas[r] for r in rounds.tolist()]
        step = peer_step(
            self.scenario.protocol.filter,
            own,
            values,
            present,
            stale,
            eta,
            n,
            self.f,
            receivers=agents,
            rounds=rounds,
            seed=self.scenario.seed,
        )
        self.counters.filter_skipped += int(step.skipped.sum())
        decision = np.where(
            step.kept,
            np.where(step.changed, Decision.CLIPPED, Decision.KEPT),
            Decision.ELIMINATED,
        ).astype(np.int8)
        decision[in_time & ~finite] = Decision.ELIMINATED
        for r, rows in groups.items():
            book = self.books[r]
            columns = book.decision[:, agents[rows]]
            mask = in_time[rows].T
            columns[mask] = decision[rows].T[mask]
            book.decision[:, agents[rows]] = columns
            book.updates_left -= len(rows)
        self._store(rounds, agents, own, step.aggregate)

    def _compute_round(self, round: int, agents: np.ndarray, in_time: np.ndarray) -> None:
        """:meth:`_compute` for receivers of one round and no stale values (the round-by-round
        engine's every batch): the same counters, decisions and estimates, in fewer array
        operations. ``in_time`` (B, n): the senders each receiver's message arrived in time."""
        book = self.books[round]
        size, n = len(agents), self.n
        estimates = self.estimates[round]  # honest rows: x_s^r; Byzantine rows filled below
        values = np.empty((size, n, self.dim))
        values[:] = estimates
        finite = np.empty((size, n), dtype=bool)
        finite[:] = np.isfinite(estimates).all(axis=1)
        for sender, sent in book.byzantine_values.items():
            rows = sent[agents]
            values[:, sender] = rows
            finite[:, sender] = np.isfinite(rows).all(axis=1)
        usable = in_time & finite
        counters = self.counters
        counters.non_finite_received += int(np.count_nonzero(in_time) - np.count_nonzero(usable))
        absent_honest = np.count_nonzero(~in_time[:, self.honest_ids])
        counters.absent_honest += int(absent_honest) - size  # not oneself
        absent = (n - 1) - usable.sum(axis=1)
        counters.synchrony_violations += int(np.count_nonzero(absent > self.f))
        eta = np.full(size, self.scenario.protocol.step_size(round))
        own = estimates[agents]
        rule = self.scenario.protocol.filter
        step = peer_step(
            rule,
            own,
            values,
            usable,
            None,
            eta,
            n,
            self.f,
            receivers=agents,
            rounds=np.full(size, round),
            seed=self.scenario.seed,
        )
        counters.filter_skipped += int(np.count_nonzero(step.skipped))
        # kept ⊆ usable: a value in time but not finite is eliminated, as in _compute
        decision = np.where(step.kept, KEPT, ELIMINATED).astype(np.int8)
        if step.changed.any():
            decision[step.kept & step.changed] = CLIPPED
        columns = book.decision[:, agents]
        book.decision[:, agents] = np.where(in_time.T, decision.T, columns)
        book.updates_left -= size
        self._store(round, agents, own, step.aggregate)

    def _store(
        self,
        round: int | np.ndarray,
        agents: np.ndarray,
        own: np.ndarray,
        aggregate: np.ndarray,
    ) -> None:
        """x_u^{r+1} = [aggregate_u]_{X_u} for each receiver u = ``agents[k]`` (round r: one for
        all or one each), or x_u^r if that is not finite."""
        with np.errstate(over="ignore", invalid="ignore"):
            new = self.projection(aggregate, agents)
        broken = ~np.isfinite(new).all(axis=1)
        if broken.any():
            self.counters.non_finite_updates += int(broken.sum())
            new[broken] = own[broken]
        self.estimates[round + 1, agents] = new
        self.updated[agents] = round + 1
        if self.on_round is not None:
            for _ in range(len(agents)):
                self.on_round()

    # --- the trace -----------------------------------------------------------------------------

    def _retire(self, final: bool = False) -> None:
        """Hand finished rounds to the trace, in round order (their decisions are final)."""
        while self.retired in self.books:
            book = self.books[self.retired]
            if not final and not (book.complete() and book.updates_left == 0):
                return
            self._emit(book)
            if self.stale:
                self.stale_books.append(book)
            del self.books[self.retired]
            self.retired += 1

    def _emit(self, book: RoundBook) -> None:
        delivered = book.sent & ~book.lost
        in_time = book.in_time_all() if book.in_time_final is None else book.in_time_final
        decision = book.decision.copy()
        decision[delivered & in_time & self.byzantine] = KEPT  # Byzantine receivers
        decision[delivered & (decision == UNDECIDED)] = LATE
        # canonical order: receiver, then sender -> the transposed [sender, receiver] arrays
        # read in C order, in blocks of receivers of at most EMIT_MESSAGES messages (the hash
        # and the digests stream: the blocks give the bits of one call)
        block = max(1, EMIT_MESSAGES // self.n)
        for first in range(0, self.n, block):
            receivers = slice(first, first + block)
            sent = book.sent.T[receivers]
            receiver, sender = np.nonzero(sent)
            delivered_t = delivered.T[receivers][sent]
            arrival = np.where(delivered_t, book.arrival.T[receivers][sent], np.nan)
            columns = {
                "round": np.full(len(sender), book.round, dtype=np.int64),
                "sender": sender.astype(np.int64, copy=False),  # nonzero's intp: no copy
                "receiver": receiver.astype(np.int64, copy=False) + first,
                "send_time": book.send_time[sender],
                "arrival_time": arrival,
                "delivered": delivered_t,
                "byzantine": self.byzantine[sender],
                "decision": decision.T[receivers][sent],
            }
            last = first + block >= self.n and self.trace.keep  # the columns alone need it
            self.trace.add(columns, watermark=self._send_watermark(book.round) if last else None)

    def _send_watermark(self, round: int) -> float:
        """A lower bound on the send time of every message of the rounds after ``round``: the
        round starts still to come (>= ``horizon``) and those already processed."""
        starts = [
            b.start[b.opened].min() for r, b in self.books.items() if r > round and b.opened.any()
        ]
        return float(min([self.horizon, *starts]))


def tracked(engine: PeerEngine) -> tuple[np.ndarray, np.ndarray]:
    """(times, estimates) of the honest agents, rounds 0..R, as the reference records them."""
    honest = list(engine.honest)
    return engine.times[:, honest], engine.estimates[:, honest]
