"""Peer-to-peer Algorithm 1 with the CE filter (CE paper, Section II; spec/ce.md).

Each round r of honest agent i:
  S1  send x_i^r on every outgoing link (each message its own event, per-link delay);
  S2  wait until the n - 1 round-r estimates have arrived or the deadline passes, then filter;
  S3  x_i^{r+1} = [ x_i^r + eta_r sum_{j in F_i^r} (x_j^r - x_i^r) ]_{X_i}       (Eq. 7)
and start round r + 1 after the agent's compute time. The filter and the update are pure numpy
(:mod:`netsim.filters`, :mod:`netsim.costs`); this module only moves messages and time.

The round clock (:mod:`netsim.clocks`): on the lock-step clock every agent's round r ends at
S_i(r + 1) on its own clock, and the next round's value goes out a compute time later; on the
event clock a round ends at the last awaited arrival or the deadline counted from the agent's
own round start, and the next one starts a compute time later.

Missing values (spec/ce.md): a value that has not arrived by the deadline, or that is not finite
(NaN, +-inf), is *absent*; with ``absent = "eliminated"`` each absent sender uses up one of the f
eliminations, with ``absent = "stale"`` the sender's most recent finite value stands in for it.
If m > f values are absent the round proceeds with what it has and the run counts a synchrony
violation.

Any other filter of :mod:`netsim.aggregators` (median, trimmed mean, Krum, multi-Krum, geometric
median, centered clipping) gives an aggregate a_i of the received values, and the step treats it
as standing for the n - 1 - f values CE would keep:
  x_i^{r+1} = [ x_i^r + eta_r (n - 1 - f) (a_i - x_i^r) ]_{X_i},
which with eta = 1/(n - f) is the average of x_i and n - 1 - f copies of a_i. A round with too
few values for the rule's n/f condition leaves x_i unchanged and is counted.

Should an update still come out non-finite (possible only when a filter lets values
of order 1e308 through), the agent keeps its estimate and the run counts it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator

import numpy as np
import simpy

from ..adversaries import View, held_back
from ..config import Scenario
from ..engine import Decision, Message, Network, OrderedEnvironment, RoundInbox
from ..engine.environment import ROUND_START
from ..filters import PEER_FILTERS
from ..portable import ordered_sum
from ..preaggregation import pipeline
from ..rng import filter_stream
from .common import RoundProtocol, RoundRecorder


class CEProtocol(RoundProtocol):
    """Wires n agents (honest and Byzantine) onto the network as SimPy processes."""

    def __init__(
        self,
        scenario: Scenario,
        env: OrderedEnvironment,
        network: Network,
        optimum: np.ndarray,
        on_round: Callable[[], None] | None = None,
    ):
        super().__init__(scenario, env, network, optimum, on_round)
        net, proto = scenario.network, scenario.protocol
        # CE and none: the paper's mask-and-step rule; any other rule: an aggregate (see above).
        self.filter = PEER_FILTERS.get(proto.filter)
        self.aggregator = None if self.filter is not None else pipeline(proto.filter)
        self.recorder = RoundRecorder(self.honest, self.rounds, scenario.dim)
        self.inboxes = {i: RoundInbox(env, i, network.trace) for i in range(self.n)}
        self.x: dict[int, np.ndarray] = {}
        self.honest_latest: dict[int, np.ndarray] = {}  # sender -> most recent value sent
        self._byzantine_round = {b: -1 for b in net.byzantine}  # the round each one is in
        self.processes: dict[int, simpy.Process] = {}
        for i in range(self.n):
            network.attach(i, self.inboxes[i].deliver)
            if network.is_byzantine(i):
                self.processes[i] = env.process(self._byzantine(i))
            else:
                x0 = (
                    self.costs[i].minimizer()
                    if proto.x0 is None
                    else self.costs[i].project(proto.x0[i])
                )
                self.x[i] = x0
                self.recorder.record(i, 0, 0.0, x0)
                self.processes[i] = env.process(self._honest(i))

    # --- processes -----------------------------------------------------------------------------

    def _round_start(self, agent: int, delay: float) -> simpy.Event:
        key = (ROUND_START, int(self.network.is_byzantine(agent)), agent)
        return self.env.trigger_after(delay, key)

    def _honest(self, i: int) -> Generator[simpy.Event, object, None]:
        compute = self.scenario.network.compute_time[i]
        deadline = self.scenario.protocol.deadline
        clock = self.scenario.protocol.round_clock  # None: the event clock
        others = frozenset(j for j in range(self.n) if j != i)
        inbox = self.inboxes[i]
        delay = 0.0 if clock is None else clock.start(i, 0)
        for r in range(self.rounds):
            yield self._round_start(i, delay)
            x = self.x[i]
            if self._byzantine_round:  # only an adversary reads these
                self.honest_sent.setdefault(r, {})[i] = x
                self.honest_latest[i] = x
            for j in self.network.neighbours(i):
                self.network.send(r, i, j, x)
            until = None if clock is None else clock.start(i, r + 1)
            reason = yield inbox.open(r, others, deadline, until=until)
            if reason == "deadline":
                self.counters.deadline_rounds += 1
            self.x[i] = self._update(i, r, inbox.take(r))
            self.recorder.record(i, r + 1, self.env.now, self.x[i])
            self._round_done()
            delay = compute
        inbox.close()

    def _byzantine(self, b: int) -> Generator[simpy.Event, object, None]:
        """Same round clock as an honest agent; the adversary picks what goes on each link.
        A Byzantine agent waits only for honest senders (it shares state with its colluders)."""
        compute = self.scenario.network.compute_time[b]
        deadline = self.scenario.protocol.deadline
        clock = self.scenario.protocol.round_clock  # None: the event clock
        adversary = self.scenario.adversary
        honest = frozenset(self.honest)
        inbox = self.inboxes[b]
        delay = 0.0 if clock is None else clock.start(b, 0)
        for r in range(self.rounds):
            yield self._round_start(b, delay)
            view = View(
                round=r,
                now=self.env.now,
                dim=self.scenario.dim,
                honest_sent=dict(self.honest_sent.get(r, {})),
                honest_latest={i: self.honest_latest[i] for i in sorted(self.honest_latest)},
                optimum=self.optimum,
                f=self.f,
                filter=self.scenario.protocol.filter,
                memory=self.adversary_memory,
            )
            for j in self.network.neighbours(b):
                to_j = dataclasses.replace(view, target=self.x.get(j))
                value = adversary.value(b, j, r, to_j, self._adversary_rng(b, j))
                if value is not None:
                    lag = held_back(adversary, b, j, r, to_j)
                    self.network.send(r, b, j, np.array(value, dtype=np.float64), lag)
            until = None if clock is None else clock.start(b, r + 1)
            yield inbox.open(r, honest, deadline, until=until)
            for message in inbox.take(r).values():
                self.network.trace.decide(message.index, Decision.KEPT)
            self._byzantine_round[b] = r
            self._forget_rounds_before(min(self._byzantine_round.values()))
            delay = compute
        inbox.close()

    def _forget_rounds_before(self, oldest: int) -> None:
        for r in [r for r in self.honest_sent if r < oldest]:
            del self.honest_sent[r]

    # --- the maths of one round ------------------------------------------------------------------

    def _update(self, i: int, r: int, arrived: dict[int, Message]) -> np.ndarray:
        """Filter and step (Eq. 7) for honest agent i in round r, from what arrived in time."""
        x = self.x[i]
        senders: list[int] = []
        values: list[np.ndarray] = []
        for j in sorted(arrived):
            message = arrived[j]
            if not np.all(np.isfinite(message.value)):
                self.counters.non_finite_received += 1
                self.network.trace.decide(message.index, Decision.ELIMINATED)
                continue
            senders.append(j)
            values.append(message.value)
        trace_index = [arrived[j].index for j in senders]
        late = [j for j in range(self.n) if j != i and j not in arrived]
        self.counters.absent_honest += sum(1 for j in late if j in self.x)
        if self.scenario.protocol.absent == "stale":
            latest = self.inboxes[i].latest  # finite values only
            for j in [j for j in range(self.n) if j != i and j not in senders]:
                if j in latest:
                    senders.append(j)
                    values.append(latest[j].value)
                    trace_index.append(-1)  # not this round's message: no decision to record
        absent = (self.n - 1) - len(senders)
        if absent > self.f:
            self.counters.synchrony_violations += 1
        received = np.array(values) if values else np.empty((0, x.shape[0]))
        f_left = max(0, self.f - absent)
        eta = self.scenario.protocol.step_size(r)
        changed = np.zeros(len(received), dtype=bool)
        with np.errstate(over="ignore", invalid="ignore"):
            if self.aggregator is None:  # CE or none: the paper's rule (Eq. 7)
                kept = self.filter(x, received, f_left, np.array(senders))
                aggregate = x + eta * ordered_sum(received[kept] - x, axis=0)
            elif self.aggregator.condition_holds(len(received), f_left):
                randomness = (
                    filter_stream(self.scenario.seed, i, r) if self.aggregator.random else None
                )
                result = self.aggregator(
                    received, f_left, own=x, senders=np.array(senders), randomness=randomness
                )
                kept, changed = result.kept, result.changed
                # The aggregate stands for the n - 1 - f values CE would keep (module docstring).
                aggregate = x + eta * (self.n - 1 - self.f) * (result.value - x)
            else:  # too few values for the rule's n/f condition: no update this round
                self.counters.filter_skipped += 1
                kept = np.zeros(len(received), dtype=bool)
                aggregate = x
            new = self.costs[i].project(aggregate)
        for index, keep, change in zip(trace_index, kept, changed):
            if index >= 0:
                decision = Decision.CLIPPED if change else Decision.KEPT
                self.network.trace.decide(index, decision if keep else Decision.ELIMINATED)
        if not np.all(np.isfinite(new)):
            self.counters.non_finite_updates += 1
            return x
        return new
