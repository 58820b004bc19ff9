"""CGC (spec/cgc.md, spec/engine.md "Rounds (CGC server)") on the fast engine, event by event.

The reference (:mod:`netsim.protocols.cgc`) runs a SimPy process for the server and one per
agent, and every message is an event. Here each event is one
:class:`netsim.engine.environment.Wakeup` (a callback, no process) on the engine's own
:class:`netsim.engine.OrderedEnvironment` (``engine.env``, whose ``now`` is the run's clock), in
the reference's order, by (simulated time, key, insertion), the keys of
:mod:`netsim.engine.environment`: a message's arrival (0, sender, receiver, round) -- a request
at an agent, or (asynchronous mode) a reply at the server --, the server's deadline check
(1, server, 0, 0) and round completion (2, server, 0, 0), an agent's end of computation
(3, Byzantine?, agent, 0) and the server's round start (3, 0, server, 0).

Synchronous mode: a reply is not an event. With every delay moving time forward (arrival >
send time; a zero delay raises :class:`netsim.fast.peer_engine.ZeroDelay` and the caller falls
back to the reference) a reply is in time iff its arrival <= the server's completion, and the
completion time is known as soon as the last awaited reply is sent:

    C_t = max(s_t, max_i A_i(t)) if every agent's reply of round t is delivered and that is
          not after s_t + deadline; else s_t + deadline.

Asynchronous mode (CGC paper, Section 5): every reply is an arrival event. The server completes
round t at the arrival that makes the replies of round t it has received number n (trigger
``deadline``) or n - f (trigger ``quorum``), or at s_t + deadline, whichever comes first; it then
steps with each agent's most recent finite reply (the one of the highest round that has arrived
by then, zero if none), whose round is s_i(t), and records the staleness t - s_i(t).

The mailbox rules are the reference's (:class:`netsim.engine.Mailbox`): an idle agent takes a
request on arrival; a busy one queues it (``latest``: only the highest round is kept, the
others are dropped and ``eliminated``; ``fifo``: all, in arrival order) and takes the next one
when it has sent its reply. (The reference hands a request over with an event keyed (2, agent)
at the same instant; nothing that happens in between reads the agent, so taking it at once is
the same run.) The filter, the step, the adversary's View and the staleness check are the
reference's functions (:mod:`netsim.filters`, :mod:`netsim.aggregators`,
:mod:`netsim.protocols.cgc`). The request links (server -> agent) carry one message per round,
drawn for all agents at once (:class:`netsim.fast.draws.LinkDraws`); the reply links, whose k-th
message is an agent's k-th reply, use the reference's links one message at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from ..adversaries import held_back
from ..config import Scenario
from ..engine.environment import OrderedEnvironment, Wakeup
from ..engine.network import BoundViolation
from ..engine.trace import Decision
from ..errors import SimulationStalled
from ..filters import GRADIENT_FILTERS
from ..preaggregation import pipeline
from ..protocols.cgc import check_staleness, honest_gradients, server_view
from ..protocols.common import AdversaryStreams, RunCounters
from ..rng import SERVER, filter_stream
from .draws import DelayPlan, LinkDraws, LiveLinks
from .peer_engine import ZeroDelay
from .rounds import UNDECIDED
from .trace import TraceSink, byzantine_mask

ARRIVAL, DEADLINE, COMPLETION, START = 0, 1, 2, 3


class ServerEngine:
    """One CGC run, event by event (module docstring). Use :meth:`run`, then read the
    attributes."""

    def __init__(
        self, scenario: Scenario, optimum: np.ndarray, on_round: Callable[[], None] | None = None
    ):
        net, proto = scenario.network, scenario.protocol
        self.scenario = scenario
        self.optimum = optimum
        self.on_round = on_round
        self.n, self.f, self.rounds, self.dim = net.n, net.f, proto.rounds, scenario.dim
        self.byzantine = set(net.byzantine)
        self.honest = tuple(net.honest)
        self.costs = scenario.costs.costs
        self.filter = GRADIENT_FILTERS.get(proto.filter)
        self.aggregator = None if self.filter is not None else pipeline(proto.filter)
        self.asynchronous = proto.mode == "async"
        quorum = self.asynchronous and proto.trigger == "quorum"
        self.needed = self.n - self.f if quorum else self.n  # replies that complete a round
        self.counters = RunCounters()
        self.capped = 0
        self.clipped_byzantine = 0
        self.terminated_at: int | None = None
        self.staleness = np.full((self.rounds, self.n), -1, dtype=np.int64)
        self.staleness_breaches: list[tuple[int, int, int]] = []
        self.times = np.zeros((self.rounds + 1, 1))
        self.estimates = np.zeros((self.rounds + 1, 1, self.dim))
        self.completed = 0
        self.w = np.array(proto.x0, dtype=np.float64)
        self.estimates[0, 0] = self.w
        self.plan = DelayPlan(net.delay)
        self.requests = LinkDraws(
            self.plan, scenario.seed, range(self.n), net.loss, self.rounds, senders=1
        )  # the server's links only
        self.live = LiveLinks(net.delay, scenario.seed, net.loss)
        self.adversary_rng = AdversaryStreams(scenario.seed)
        self.adversary_memory: dict = {}
        self.honest_sent: dict[int, dict[int, np.ndarray]] = {}
        self.trace = TraceSink(scenario.trace, net.asynchrony, byzantine_mask(net))
        # messages: one row each, in send order
        self.rows: dict[str, list] = {name: [] for name in ("round", "sender", "receiver")}
        self.rows.update({"send_time": [], "arrival_time": [], "delivered": [], "decision": []})
        self.values: list[np.ndarray | None] = []  # reply values (None for requests)
        # the agents: the request they compute (message index), and their queues
        self.busy = [False] * self.n
        self.queues: list[deque[int]] = [deque() for _ in range(self.n)]
        # the server's current round
        self.round = -1
        self.round_start = 0.0
        self.replies: dict[int, int] = {}  # sync: agent -> its reply this round (-1: none)
        self.received = 0  # async: replies of the current round received before completion
        self.latest: dict[int, int] = {}  # async: agent -> its most recent finite reply
        self.request_values: dict[int, np.ndarray] = {}  # round -> the w the server sent
        self.scheduled = False
        self.by_deadline = False
        self.finished = False
        self.env = OrderedEnvironment()  # the clock: env.now

    # --- the event loop --------------------------------------------------------------------

    def run(self) -> None:
        """Every event, in the reference's order, until none is left: ``env.now`` ends at the
        last one (the server's last completion, or an agent's or a reply's event after it)."""
        self._server_start_at(0.0, 0)
        self.env.run()
        if not self.finished:
            raise SimulationStalled(
                "protocol.deadline",
                f"the server waits forever in round {self.round} (an agent never replies and "
                "delays are unbounded); set a round deadline in simulated seconds",
                self.scenario.protocol.deadline,
                "a number > 0",
            )
        self._emit()

    # Each event is queued at its time with its key (kind, first, second, third); SimPy's
    # insertion counter then orders equal keys. The value is what its handler needs.

    def _server_start_at(self, time: float, t: int) -> None:
        self.env.call_at(time, (START, 0, SERVER, 0), self._on_server_start, t)

    def _completion_at(self, time: float, t: int) -> None:
        self.env.call_at(time, (COMPLETION, SERVER, 0, 0), self._on_completion, t)

    def _on_server_start(self, event: Wakeup) -> None:
        self._server_start(event.value, self.env.now)

    def _on_deadline(self, event: Wakeup) -> None:
        self._deadline(event.value, self.env.now)

    def _on_completion(self, event: Wakeup) -> None:
        self._server_completion(event.value, self.env.now)

    def _on_request(self, event: Wakeup) -> None:
        agent, index = event.value
        self._request_arrives(agent, index, self.env.now)

    def _on_reply(self, event: Wakeup) -> None:
        agent, index = event.value
        self._reply(agent, index, self.env.now)

    def _on_reply_arrival(self, event: Wakeup) -> None:
        agent, index = event.value
        self._reply_arrives(agent, index, self.env.now)

    def _record(
        self, round: int, sender: int, receiver: int, time: float, delay: float, lost: bool
    ) -> int:
        if not delay > 0 or time + delay <= time:
            raise ZeroDelay(f"a message {sender} -> {receiver} arrives at its send time {time!r}")
        rows = self.rows
        rows["round"].append(round)
        rows["sender"].append(sender)
        rows["receiver"].append(receiver)
        rows["send_time"].append(time)
        rows["arrival_time"].append(np.nan if lost else time + delay)
        rows["delivered"].append(not lost)
        rows["decision"].append(Decision.LOST if lost else UNDECIDED)
        self.values.append(None)
        return len(self.values) - 1

    def _bounded(self, time: float) -> bool:
        asynchrony = self.scenario.network.asynchrony
        return asynchrony is not None and time >= asynchrony.gst

    def _honest_bound(self, sender: int, receiver: int, time: float, delay: float) -> float:
        """After GST an honest delay above Delta is capped (or stops the run)."""
        asynchrony = self.scenario.network.asynchrony
        assert asynchrony is not None
        if delay > asynchrony.delta:
            if asynchrony.on_violation == "error":
                raise BoundViolation(
                    "network.asynchrony.delta",
                    f"link {sender} -> {receiver} drew a delay of {delay:.6g} s for a message "
                    f"sent at {time:.6g} s, after GST",
                    asynchrony.delta,
                    f'>= {delay:.6g}, or on_violation = "cap"',
                )
            self.capped += 1
            return asynchrony.delta
        return delay

    # --- the server --------------------------------------------------------------------------

    def _server_start(self, t: int, time: float) -> None:
        for old in [r for r in self.honest_sent if r < t - 1]:
            del self.honest_sent[old]
        self.round, self.round_start = t, time
        self.replies = {}
        self.received = 0
        self.scheduled = self.by_deadline = False
        leaf, lost = self.requests.draws(SERVER, t)
        delays = self.plan.delays(leaf, SERVER, np.arange(self.n), time)
        lost = np.zeros(self.n, dtype=bool) if lost is None else lost
        for i in range(self.n):
            delay, dropped = float(delays[i]), bool(lost[i])
            if self._bounded(time):
                delay, dropped = self._honest_bound(SERVER, i, time, delay), False
            index = self._record(t, SERVER, i, time, delay, dropped)
            if not dropped:
                key = (ARRIVAL, SERVER, i, t)
                self.env.call_at(time + delay, key, self._on_request, (i, index))
        self.request_values[t] = self.w
        deadline = self.scenario.protocol.deadline
        if deadline is not None:
            self.env.call_at(time + deadline, (DEADLINE, SERVER, 0, 0), self._on_deadline, t)

    def _check_complete(self) -> None:
        """Sync: queue the completion once every agent's reply of the round is known (rule
        (a))."""
        if self.scheduled or len(self.replies) < self.n:
            return
        if any(k < 0 or not self.rows["delivered"][k] for k in self.replies.values()):
            return  # a reply never comes: the deadline decides
        arrivals = [self.rows["arrival_time"][k] for k in self.replies.values()]
        time = max(self.round_start, max(arrivals))
        deadline = self.scenario.protocol.deadline
        if deadline is not None and time > self.round_start + deadline:
            return
        self.scheduled = True
        self._completion_at(time, self.round)

    def _reply_arrives(self, agent: int, index: int, time: float) -> None:
        """Async: a reply reaches the server (:class:`netsim.engine.RoundInbox` ``deliver``).
        A finite reply of a higher round than the agent's latest becomes its latest; a reply of
        the open round counts towards completing it."""
        round = self.rows["round"][index]
        previous = self.latest.get(agent)
        value = self.values[index]
        newer = previous is None or self.rows["round"][previous] < round
        if newer and np.all(np.isfinite(value)):
            self.latest[agent] = index
        if round == self.round and not self.scheduled and not self.finished:
            self.received += 1
            if self.received >= self.needed:
                self.scheduled = True
                self._completion_at(time, round)

    def _deadline(self, t: int, time: float) -> None:
        if t == self.round and not self.scheduled and not self.finished:
            self.scheduled = self.by_deadline = True
            self._completion_at(time, t)

    def _server_completion(self, t: int, time: float) -> None:
        self.counters.deadline_rounds += int(self.by_deadline)
        if self.asynchronous:
            gradients, used = self._latest_gradients(t)
        else:
            gradients, used = self._fresh_gradients(t, time)
        self._step(t, time, gradients, used)
        if self.finished:
            return
        if t + 1 < self.rounds:
            compute = self.scenario.protocol.server_compute_time
            self._server_start_at(time + compute, t + 1)
        else:
            self.finished = True

    def _fresh_gradients(self, t: int, time: float) -> tuple[np.ndarray, dict[int, int]]:
        """Sync: the replies of round t that arrived by ``time``; missing or non-finite ones
        are zero (the reference's ``_fresh_gradients``)."""
        arrival, delivered, decision = (
            self.rows["arrival_time"],
            self.rows["delivered"],
            self.rows["decision"],
        )
        arrived = {
            agent: index
            for agent, index in sorted(self.replies.items())
            if index >= 0 and delivered[index] and arrival[index] <= time
        }
        for index in self.replies.values():  # delivered after the completion: late
            if index >= 0 and delivered[index] and arrival[index] > time:
                decision[index] = Decision.LATE
        gradients = np.zeros((self.n, self.dim))
        used: dict[int, int] = {}
        for agent, index in arrived.items():
            value = self.values[index]
            assert value is not None
            if np.all(np.isfinite(value)):
                gradients[agent] = value
                used[agent] = index
        missing = [j for j in range(self.n) if j not in arrived]
        self.counters.absent_honest += sum(1 for j in missing if j not in self.byzantine)
        if len(missing) > self.f:
            self.counters.synchrony_violations += 1
        self.staleness[t] = [0 if j in used else -1 for j in range(self.n)]
        return gradients, used

    def _latest_gradients(self, t: int) -> tuple[np.ndarray, dict[int, int]]:
        """Async: each agent's most recent finite reply (its round is s_i(t)), else zero; the
        staleness t - s_i(t), checked against the declared bound."""
        gradients = np.zeros((self.n, self.dim))
        used: dict[int, int] = {}
        for j in range(self.n):
            index = self.latest.get(j)
            if index is None:
                continue
            gradients[j] = self.values[index]
            used[j] = index
            self.staleness[t, j] = t - self.rows["round"][index]
        check_staleness(self.scenario, self.staleness[t], t, self.honest, self.staleness_breaches)
        return gradients, used

    def _step(self, t: int, time: float, gradients: np.ndarray, used: dict[int, int]) -> None:
        """S2 at ``time``: the filter on the n gradients, the first-use decisions, the
        termination rule, then w_{t+1} = w_t - eta_t sum_j g_hat_j (CGC paper, Eq. 17)."""
        decision = self.rows["decision"]
        total, threshold, kept, clipped = self._aggregate(gradients, t)
        for agent, index in used.items():
            if decision[index] < 0:  # first use decides
                chosen = Decision.CLIPPED if clipped[agent] else Decision.KEPT
                decision[index] = chosen if kept[agent] else Decision.ELIMINATED
        self.clipped_byzantine += int(sum(clipped[b] for b in self.byzantine))
        self._advance(t, time, total, threshold, len(used))

    def _advance(
        self, t: int, time: float, total: np.ndarray, threshold: float | None, used: int
    ) -> None:
        """The termination rule (threshold 0 with at most f gradients absent) or the step."""
        if threshold == 0.0 and self.n - used <= self.f:
            self.terminated_at = t
            self.finished = True
            return
        with np.errstate(over="ignore", invalid="ignore"):
            new = self.w - self.scenario.protocol.step_size(t) * total
        if np.isfinite(new).all():
            self.w = new
        else:
            self.counters.non_finite_updates += 1
        self.times[t + 1, 0] = time
        self.estimates[t + 1, 0] = self.w
        self.completed = t + 1
        if self.on_round is not None:
            self.on_round()

    def _aggregate(
        self, gradients: np.ndarray, t: int
    ) -> tuple[np.ndarray, float | None, np.ndarray, np.ndarray]:
        """The reference's ``CGCProtocol._aggregate``: the same rule calls."""
        senders = np.arange(self.n)
        if self.filter is not None:
            result = self.filter(gradients, self.f, senders)
            return result.total, result.threshold, np.ones(self.n, dtype=bool), result.clipped
        assert self.aggregator is not None
        randomness = (
            filter_stream(self.scenario.seed, SERVER, t) if self.aggregator.random else None
        )
        aggregate = self.aggregator(gradients, self.f, senders=senders, randomness=randomness)
        scale = 1.0 if self.aggregator.is_sum else float(self.n)
        return scale * aggregate.value, None, aggregate.kept, aggregate.changed

    # --- the agents --------------------------------------------------------------------------

    def _request_arrives(self, agent: int, index: int, time: float) -> None:
        """The mailbox's ``put``: an idle agent takes the request, a busy one queues it."""
        if not self.busy[agent]:
            self._take(agent, index, time)
            return
        queue = self.queues[agent]
        queue.append(index)
        if self.scenario.protocol.agent_queue == "latest" and len(queue) > 1:
            rounds = self.rows["round"]
            newest = max(queue, key=lambda k: rounds[k])
            for dropped in queue:
                if dropped != newest:
                    self.rows["decision"][dropped] = Decision.ELIMINATED
            self.queues[agent] = deque([newest])

    def _take(self, agent: int, index: int, time: float) -> None:
        self.busy[agent] = True
        self.rows["decision"][index] = Decision.KEPT
        byzantine = int(agent in self.byzantine)
        compute = self.scenario.network.compute_time[agent]
        key = (START, byzantine, agent, 0)
        self.env.call_at(time + compute, key, self._on_reply, (agent, index))

    def _reply(self, agent: int, request: int, time: float) -> None:
        """The agent has computed: it replies to ``request`` and takes its next request."""
        round = self.rows["round"][request]
        w = self.request_values[round]
        lag = 0.0
        if agent in self.byzantine:
            reply, lag = self._byzantine_reply(agent, round, w, time)
        else:
            reply = self.costs[agent].gradient(w)
            if self.byzantine:
                self.honest_sent.setdefault(round, {})[agent] = reply
        if reply is not None:
            value = np.array(reply, dtype=np.float64)
            delay, lost = self.live.next(agent, SERVER, time)
            if lag:  # held back by the adversary (Network.send)
                delay = delay + lag
            if self._bounded(time):
                if agent in self.byzantine:
                    asynchrony = self.scenario.network.asynchrony
                    assert asynchrony is not None
                    if self.scenario.adversary_delivery == "last_moment":
                        delay = asynchrony.delta
                    else:
                        delay = min(delay, asynchrony.delta)
                else:
                    delay, lost = self._honest_bound(agent, SERVER, time, delay), False
            index = self._record(round, agent, SERVER, time, delay, lost)
            self.values[index] = value
            if not lost and not np.all(np.isfinite(value)):
                self.counters.non_finite_received += 1
                self.rows["decision"][index] = Decision.ELIMINATED
            if self.asynchronous:
                if not lost:
                    key = (ARRIVAL, agent, SERVER, round)
                    self.env.call_at(time + delay, key, self._on_reply_arrival, (agent, index))
            elif round == self.round and not self.finished and not self.scheduled:
                self.replies[agent] = index  # decided at the server's completion
                self._check_complete()
            elif not lost:
                self.rows["decision"][index] = Decision.LATE  # the server has moved on
        elif (
            not self.asynchronous
            and round == self.round
            and not self.finished
            and not self.scheduled
        ):
            self.replies[agent] = -1
        self.busy[agent] = False
        queue = self.queues[agent]
        if queue:
            self._take(agent, queue.popleft(), time)

    def _byzantine_reply(
        self, agent: int, round: int, w: np.ndarray, time: float
    ) -> tuple[np.ndarray | None, float]:
        """The adversary's reply to ``w`` and how long it holds it back (simulated s)."""
        view = server_view(
            self.scenario,
            round,
            time,
            w,
            self.honest_sent.get(round, {}),
            honest_gradients(self.costs, self.honest, w),
            self.optimum,
            self.adversary_memory,
        )
        adversary = self.scenario.adversary
        assert adversary is not None
        reply = adversary.value(agent, SERVER, round, view, self.adversary_rng(agent, SERVER))
        if reply is None:
            return None, 0.0
        return reply, held_back(adversary, agent, SERVER, round, view)

    # --- the trace -----------------------------------------------------------------------------

    def _emit(self) -> None:
        rows = self.rows
        decision = np.array(rows["decision"], dtype=np.int8)
        decision[decision == UNDECIDED] = Decision.LATE
        columns = {
            "round": np.array(rows["round"], dtype=np.int64),
            "sender": np.array(rows["sender"], dtype=np.int64),
            "receiver": np.array(rows["receiver"], dtype=np.int64),
            "send_time": np.array(rows["send_time"], dtype=np.float64),
            "arrival_time": np.array(rows["arrival_time"], dtype=np.float64),
            "delivered": np.array(rows["delivered"], dtype=bool),
            "decision": decision,
        }
        columns["byzantine"] = np.isin(columns["sender"], list(self.byzantine))
        index = np.arange(len(decision))
        order = np.lexsort((index, columns["sender"], columns["receiver"], columns["round"]))
        self.trace.add({name: value[order] for name, value in columns.items()}, index[order])
