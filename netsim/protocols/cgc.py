"""The server-based algorithm with CGC (CGC paper, Section 4 and 5; spec/cgc.md).

Round t of the server: send w_t to every agent (one message per link, each with its own delay);
each agent answers, after its compute time, with a gradient at the w it received; then
  S2  clip the f largest gradients to the (f+1)-th largest norm (Eq. 16) and
      w_{t+1} = w_t - eta_t sum_j g_hat_j                                      (Eq. 17)
and start round t + 1 after the server's compute time. When the (f+1)-th largest norm is 0 the
server stops and outputs w_t (the paper's termination rule), provided at most f of the n
gradients were absent (a zero standing in for a missing reply proves nothing about w_t).

- Synchronous mode: the server waits for the n replies of round t or its deadline; a missing
  reply is the zero vector (the paper deems that agent faulty).
- Asynchronous mode (Section 5): every reply, whenever it arrives, becomes that agent's most
  recent gradient g_i (zero if the server never heard from it); the server steps at its deadline
  (``trigger = "deadline"``: the earlier of all n fresh replies and s_t + deadline) or as soon as
  n - f replies answering w_t have arrived (``trigger = "quorum"``). The staleness t - s_i(t) of
  every agent is recorded every round and checked against ``protocol.staleness_bound``.
- A reply with a NaN/inf entry is treated as missing (zero) and counted: only a faulty agent
  sends one, and the server state stays finite.

An agent computes one reply at a time, first come first served (:class:`Mailbox`). The filter
and the step are pure numpy (:mod:`netsim.filters`); this module moves messages and time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import simpy

from ..adversaries import View, held_back
from ..config import Scenario
from ..costs import Cost
from ..engine import Decision, Mailbox, Message, Network, OrderedEnvironment, RoundInbox
from ..engine.environment import ROUND_START
from ..errors import ScenarioError
from ..filters import GRADIENT_FILTERS
from ..preaggregation import pipeline
from ..rng import SERVER, filter_stream
from .common import RoundProtocol, RoundRecorder


class StalenessBoundExceeded(ScenarioError):
    """An honest agent's staleness went past the declared ``protocol.staleness_bound``."""


class CGCProtocol(RoundProtocol):
    """The server and the n agents as SimPy processes on the network's star links."""

    def __init__(
        self,
        scenario: Scenario,
        env: OrderedEnvironment,
        network: Network,
        optimum: np.ndarray,
        on_round: Callable[[], None] | None = None,
    ):
        super().__init__(scenario, env, network, optimum, on_round)
        proto = scenario.protocol
        # CGC and none: the paper's clip-and-sum; any other rule: see _aggregate.
        self.filter = GRADIENT_FILTERS.get(proto.filter)
        self.aggregator = None if self.filter is not None else pipeline(proto.filter)
        self.asynchronous = proto.mode == "async"
        self.recorder = RoundRecorder((SERVER,), self.rounds, scenario.dim)
        self.staleness = np.full((self.rounds, self.n), -1, dtype=np.int64)
        self.staleness_breaches: list[tuple[int, int, int]] = []  # (round, agent, staleness)
        self.terminated_at: int | None = None
        self.clipped_byzantine = 0
        self.w = np.array(proto.x0, dtype=np.float64)
        self.inbox = RoundInbox(env, SERVER, network.trace, mark_late=not self.asynchronous)
        self.mailboxes = {
            i: Mailbox(
                env,
                i,
                proto.agent_queue,
                lambda m: network.trace.decide(m.index, Decision.ELIMINATED),
            )
            for i in range(self.n)
        }
        network.attach(SERVER, self._receive)
        self.recorder.record(SERVER, 0, 0.0, self.w)
        self.server = env.process(self._server())
        for i in range(self.n):
            network.attach(i, self.mailboxes[i].put)
            env.process(self._agent(i))

    # --- processes -----------------------------------------------------------------------------

    def _server(self) -> Generator[simpy.Event, object, None]:
        proto = self.scenario.protocol
        agents = frozenset(range(self.n))
        quorum = self.n - self.f if self.asynchronous and proto.trigger == "quorum" else None
        deadline = proto.deadline  # with a quorum: a safety net if the quorum never forms
        delay = 0.0
        for t in range(self.rounds):
            yield self.env.trigger_after(delay, (ROUND_START, 0, SERVER))
            for old in [r for r in self.honest_sent if r < t - 1]:
                del self.honest_sent[old]  # the view keeps the replies of the last two rounds
            for i in range(self.n):
                self.network.send(t, SERVER, i, self.w)
            reason = yield self.inbox.open(t, agents, deadline, quorum)
            if reason == "deadline":
                self.counters.deadline_rounds += 1
            arrived = self.inbox.take(t)
            gradients, used = (
                self._latest_gradients(t)
                if self.asynchronous
                else self._fresh_gradients(t, arrived)
            )
            total, threshold, kept, clipped = self._aggregate(gradients, t)
            for agent, index in used.items():
                if self.network.trace.decision[index] < 0:  # first use decides
                    decision = Decision.CLIPPED if clipped[agent] else Decision.KEPT
                    self.network.trace.decide(
                        index, decision if kept[agent] else Decision.ELIMINATED
                    )
            self.clipped_byzantine += int(sum(clipped[b] for b in self.scenario.network.byzantine))
            # Termination rule (CGC, S2): output w_t when the (f+1)-th largest norm is 0. Only
            # when at most f gradients are absent (zeros standing in for replies that did not
            # come): more absent zeros say nothing about w_t.
            if threshold == 0.0 and self.n - len(used) <= self.f:
                self.terminated_at = t
                break
            with np.errstate(over="ignore", invalid="ignore"):
                new = self.w - proto.step_size(t) * total
            if np.all(np.isfinite(new)):
                self.w = new
            else:
                self.counters.non_finite_updates += 1
            self.recorder.record(SERVER, t + 1, self.env.now, self.w)
            self._round_done()
            delay = proto.server_compute_time
        self.inbox.close()

    def _agent(self, i: int) -> Generator[simpy.Event, object, None]:
        """Answer every w the server sends, one at a time, after the agent's compute time."""
        byzantine = self.network.is_byzantine(i)
        compute = self.scenario.network.compute_time[i]
        mailbox = self.mailboxes[i]
        while True:
            request = yield mailbox.get()
            assert isinstance(request, Message)
            self.network.trace.decide(request.index, Decision.KEPT)
            yield self.env.trigger_after(compute, (ROUND_START, int(byzantine), i))
            lag = 0.0
            if byzantine:
                reply, lag = self._byzantine_reply(i, request)
            else:
                reply = self.costs[i].gradient(request.value)
                if self.scenario.network.byzantine:  # only an adversary reads these
                    self.honest_sent.setdefault(request.round, {})[i] = reply
            if reply is not None:
                value = np.array(reply, dtype=np.float64)
                self.network.send(request.round, i, SERVER, value, lag)

    def _byzantine_reply(self, b: int, request: Message) -> tuple[np.ndarray | None, float]:
        """The adversary's reply and how long it holds it back (simulated s)."""
        w = request.value
        view = server_view(
            self.scenario,
            request.round,
            self.env.now,
            w,
            self.honest_sent.get(request.round, {}),
            honest_gradients(self.costs, self.honest, w),
            self.optimum,
            self.adversary_memory,
        )
        adversary = self.scenario.adversary
        assert adversary is not None
        reply = adversary.value(b, SERVER, request.round, view, self._adversary_rng(b, SERVER))
        if reply is None:
            return None, 0.0
        return reply, held_back(adversary, b, SERVER, request.round, view)

    def _aggregate(
        self, gradients: np.ndarray, t: int
    ) -> tuple[np.ndarray, float | None, np.ndarray, np.ndarray]:
        """The step direction, the termination threshold (CGC and none only), and which
        gradients entered it (kept) and were changed (clipped).

        CGC and none: the sum of the (clipped) gradients, CGC paper Eq. 17. CGE: the sum of the
        n - f smallest. A mean-style rule (median, trimmed mean, Krum, ...) returns one
        gradient-like vector a; the server steps with n a, what the plain sum of n gradients
        would be if all equalled a.
        """
        senders = np.arange(self.n)
        if self.filter is not None:
            result = self.filter(gradients, self.f, senders)
            return result.total, result.threshold, np.ones(self.n, dtype=bool), result.clipped
        randomness = (
            filter_stream(self.scenario.seed, SERVER, t) if self.aggregator.random else None
        )
        aggregate = self.aggregator(gradients, self.f, senders=senders, randomness=randomness)
        scale = 1.0 if self.aggregator.is_sum else float(self.n)
        return scale * aggregate.value, None, aggregate.kept, aggregate.changed

    def _receive(self, message: Message) -> None:
        """A reply reaches the server. A non-finite one is counted and eliminated here, but still
        arrives (the synchronous server does not wait for it): it is used as a zero."""
        if not np.all(np.isfinite(message.value)):
            self.counters.non_finite_received += 1
            self.network.trace.decide(message.index, Decision.ELIMINATED)
        self.inbox.deliver(message)

    # --- what the server steps with --------------------------------------------------------------

    def _fresh_gradients(
        self, t: int, arrived: dict[int, Message]
    ) -> tuple[np.ndarray, dict[int, int]]:
        """Synchronous: the replies of round t; missing or non-finite ones are zero."""
        gradients = np.zeros((self.n, self.scenario.dim))
        used: dict[int, int] = {}
        for j, message in arrived.items():
            if np.all(np.isfinite(message.value)):  # else counted in _receive
                gradients[j] = message.value
                used[j] = message.index
        missing = [j for j in range(self.n) if j not in arrived]
        self.counters.absent_honest += sum(1 for j in missing if j in self.honest)
        if len(missing) > self.f:
            self.counters.synchrony_violations += 1
        self.staleness[t] = [0 if j in used else -1 for j in range(self.n)]
        return gradients, used

    def _latest_gradients(self, t: int) -> tuple[np.ndarray, dict[int, int]]:
        """Asynchronous: each agent's most recent finite reply (s_i(t) its round), else zero."""
        gradients = np.zeros((self.n, self.scenario.dim))
        used: dict[int, int] = {}
        for j in range(self.n):
            message = self.inbox.latest.get(j)
            if message is None:
                continue
            gradients[j] = message.value
            used[j] = message.index
            self.staleness[t, j] = t - message.round
        self._check_staleness(t)
        return gradients, used

    def _check_staleness(self, t: int) -> None:
        check_staleness(
            self.scenario, self.staleness[t], t, self.honest, self.staleness_breaches, stacklevel=3
        )


def honest_gradients(
    costs: Sequence[Cost], honest: Iterable[int], w: np.ndarray
) -> dict[int, np.ndarray]:
    """grad Q_h(w) of every honest agent h, in agent order (what the omniscient adversary
    knows about the server's w_t)."""
    return {h: costs[h].gradient(w) for h in honest}


def server_view(
    scenario: Scenario,
    round: int,
    now: float,
    target: np.ndarray,
    honest_sent: Mapping[int, np.ndarray],
    gradients: Mapping[int, np.ndarray],
    optimum: np.ndarray,
    memory: dict[str, Any],
) -> View:
    """What a Byzantine agent sees when it answers the server's ``target`` = w_t of round
    ``round`` at simulated time ``now``: the honest replies of that round already sent (in
    send order), every honest gradient at w_t, w* and the run's adversary memory. Both engines
    build it here, so an adversary sees the same thing on either."""
    return View(
        round=round,
        now=now,
        dim=scenario.dim,
        honest_sent=dict(honest_sent),
        honest_latest={},
        target=target,
        optimum=optimum,
        honest_gradients=dict(gradients),
        server=True,
        f=scenario.network.f,
        filter=scenario.protocol.filter,
        memory=memory,
    )


def check_staleness(
    scenario: Scenario,
    staleness: np.ndarray,
    t: int,
    honest: Iterable[int],
    breaches: list[tuple[int, int, int]],
    stacklevel: int = 2,
) -> None:
    """Hold the staleness t - s_i(t) of every honest agent at step t (``staleness``: one row,
    -1 for an agent never heard from, which counts as t + 1) against the declared
    ``protocol.staleness_bound`` B. A breach is appended to ``breaches`` (round, agent,
    staleness); ``on_staleness = "error"`` raises :class:`StalenessBoundExceeded` at the first,
    ``"warn"`` warns once per run (the first breach) and counts the rest."""
    bound = scenario.protocol.staleness_bound
    if bound is None:
        return
    for j in honest:
        value = int(staleness[j]) if staleness[j] >= 0 else t + 1
        if value > bound:
            breaches.append((t, j, value))
            message = (
                f"honest agent {j} has staleness {value} at round {t}, above the "
                f"declared bound {bound}"
            )
            if scenario.protocol.on_staleness == "error":
                raise StalenessBoundExceeded(
                    "protocol.staleness_bound",
                    message,
                    bound,
                    f'>= {value}, or on_staleness = "warn"',
                )
            if len(breaches) == 1:
                warnings.warn(
                    f"protocol.staleness_bound: {message} (further breaches are "
                    "counted in summary.json)",
                    stacklevel=stacklevel,
                )
