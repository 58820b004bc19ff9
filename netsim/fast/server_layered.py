"""Synchronous CGC round by round: the whole of round t in a few array operations.

:class:`netsim.fast.server_engine.ServerEngine` processes one event at a time. In synchronous
mode a round of the reference can be computed as a layer (spec/engine.md, "Rounds (CGC
server)"), from the server's start s_t:

1. the requests: A_i = s_t + delay of the link server -> i (its round-t message), lost or not;
2. every agent i that receives one computes until tau_i = A_i + c_i (c_i its compute time):
   an honest agent replies grad Q_i(w_t) (all of them stacked:
   :class:`netsim.fast.server_gradients.StackedGradients`); the Byzantine ones are asked in
   the order (tau_b, b), each with the View of its instant (the honest replies with
   tau_h <= tau_b, in the order (tau_h, h): at one instant honest computations end before
   Byzantine ones);
3. the replies, one array op: B_i = tau_i + delay, each link's next draw
   (:class:`netsim.fast.server_draws.ReplyDraws`);
4. the completion C_t = max(s_t, max_i B_i) if all n replies are delivered by s_t + deadline,
   else s_t + deadline; a reply is in time iff delivered and B_i <= C_t (zeros stand in for
   the others);
5. the CGC filter on the stacked (n, d) gradients, the decisions, the termination rule and
   the step (the event engine's ``_aggregate`` and ``_advance``), and s_{t+1} = C_t + the
   server's compute time.

This is the reference's run when every agent that computes in round t has finished before the
server starts round t + 1 (tau_i < s_{t+1}): then no agent is busy when a request arrives, the
adversary's calls come in the reference's order, and every message of round t is sent before
any of round t + 1 (the trace's send order). Without a deadline that always holds (the server
waits for every reply). The engine checks it round by round and raises :class:`NotLayered`
otherwise, and also where the event engine must say what happens: a zero delay, a stall, an
error (bound violation, invalid draw). The caller then runs the event engine, exact in general.

The clock: the engine's :class:`netsim.engine.OrderedEnvironment` (``engine.env``) processes
one event per round, round t's at the server's round start s_t, whose callback computes the
whole layer and queues round t + 1's at s_{t+1}; after the last round (or the one at which the
run terminates) one last event closes the run at that round's completion C_t. So ``env.now``
follows the server's rounds and ends at its last completion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..adversaries import held_back
from ..config import Scenario
from ..engine.environment import COMPLETION, ROUND_START, Wakeup
from ..errors import ScenarioError
from ..protocols.cgc import server_view
from ..rng import SERVER
from .rounds import CLIPPED, ELIMINATED, KEPT, LATE, LOST
from .server_draws import ReplyDraws, reply_delays
from .server_engine import ServerEngine
from .server_gradients import StackedGradients


class NotLayered(Exception):
    """This run needs the event-by-event order (module docstring)."""


class LayeredServerEngine(ServerEngine):
    """One synchronous CGC run, round by round (module docstring). Use :meth:`run`."""

    def __init__(
        self, scenario: Scenario, optimum: np.ndarray, on_round: Callable[[], None] | None = None
    ):
        super().__init__(scenario, optimum, on_round)
        net = scenario.network
        self.reply_draws = ReplyDraws(self.plan, scenario.seed, self.n, net.loss, self.rounds)
        self.agents = np.arange(self.n)
        self.is_byzantine = np.isin(self.agents, list(self.byzantine))
        self.honest_ids = np.array(self.honest, dtype=np.int64)
        self.compute = np.asarray(net.compute_time, dtype=np.float64)
        self.gradients = StackedGradients([self.costs[h] for h in self.honest], self.dim)
        self.sent = 0  # messages sent so far: the send order of the next one
        # the sender, receiver and Byzantine trace columns of a round in which all n agents
        # reply; a round with fewer replies takes their request parts (:meth:`_emit_round`;
        # the trace keeps them unchanged)
        server = np.full(self.n, SERVER, dtype=np.int64)
        agents = self.agents.astype(np.int64)
        self._all_senders = np.concatenate([agents, server])
        self._all_receivers = np.concatenate([server, agents])
        self._all_byzantine = np.concatenate([self.is_byzantine, np.zeros(self.n, dtype=bool)])
        self._request_order = np.arange(self.n)

    def run(self) -> None:
        self.env.call_at(0.0, (ROUND_START, 0, SERVER, 0), self._on_layer, 0)
        self.env.run()
        self.finished = True

    def _on_layer(self, event: Wakeup) -> None:
        """Round t's event at s_t (module docstring): the layer, then round t + 1's event, or
        the closing event at the last completion."""
        t = event.value
        try:
            completion, following = self._layer(t, self.env.now)
        except ScenarioError as err:  # the event engine raises it at its own point
            raise NotLayered(str(err)) from err
        if self.finished or t + 1 == self.rounds:
            self.env.call_at(completion, (COMPLETION, SERVER, 0, 0), None)
        else:
            self.env.call_at(following, (ROUND_START, 0, SERVER, 0), self._on_layer, t + 1)

    def _layer(self, t: int, start: float) -> tuple[float, float]:
        """Round t from its start s_t (module docstring, steps 1-5); returns (C_t, s_{t+1})."""
        self.round, self.round_start = t, start
        got, arrival, lost = self._requests(t, start)
        tau = arrival + self.compute
        self.lags = np.zeros(self.n)  # how long each reply is held back (an adversary's choice)
        values, replied = self._replies(t, start, got, tau)
        senders = np.flatnonzero(replied)
        reply_arrival, reply_lost = self._reply_messages(senders, tau[senders], self.lags[senders])
        completion, by_deadline = self._completion(start, replied, reply_arrival, reply_lost)
        delivered = ~reply_lost
        everyone = len(senders) == self.n  # senders is then 0, 1, ..., n - 1
        finite = np.isfinite(values if everyone else values[senders]).all(axis=1)
        self.counters.non_finite_received += int(np.count_nonzero(delivered & ~finite))
        in_time = delivered & (reply_arrival <= completion)
        arrived, used = senders[in_time], senders[in_time & finite]
        honest_missing = ~self.is_byzantine
        honest_missing[arrived] = False
        self.counters.absent_honest += int(np.count_nonzero(honest_missing))
        self.counters.synchrony_violations += int(self.n - len(arrived) > self.f)
        self.counters.deadline_rounds += int(by_deadline)
        self.staleness[t] = -1
        self.staleness[t, used] = 0
        if len(used) == self.n:  # every row used: the values themselves (not changed below)
            gradients = values
        else:
            gradients = np.zeros((self.n, self.dim))
            gradients[used] = values[used]
        total, threshold, kept, clipped = self._aggregate(gradients, t)
        # a non-finite reply is eliminated on arrival, unless it is late (the reference's
        # inbox then marks it late)
        decision = np.where(reply_lost, LOST, LATE).astype(np.int8)
        decision[in_time & ~finite] = ELIMINATED
        used_rows = in_time & finite
        chosen = np.where(clipped[used], CLIPPED, KEPT)
        decision[used_rows] = np.where(kept[used], chosen, ELIMINATED)
        self.clipped_byzantine += int(np.count_nonzero(clipped & self.is_byzantine))
        self._advance(t, completion, total, threshold, len(used))
        self._emit_round(t, start, arrival, lost, senders, tau[senders], reply_arrival, decision)
        following = completion + self.scenario.protocol.server_compute_time
        if not self.finished and t + 1 < self.rounds and ((tau >= following) & got).any():
            raise NotLayered("an agent still computes when the server starts the next round")
        return completion, following

    def _requests(self, t: int, start: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step 1: (received?, arrival time, lost?) of the n requests of round t."""
        leaf, lost = self.requests.draws(SERVER, t)
        delay = self.plan.delays(leaf, SERVER, self.agents, start)
        lost = np.zeros(self.n, dtype=bool) if lost is None else lost.copy()
        asynchrony = self.scenario.network.asynchrony
        if asynchrony is not None and start >= asynchrony.gst:
            over = delay > asynchrony.delta
            if over.any():
                if asynchrony.on_violation == "error":
                    raise NotLayered("a bound violation stops the run: the event engine says where")
                self.capped += int(over.sum())
                delay = np.where(over, asynchrony.delta, delay)
            lost[:] = False
        arrival = start + delay
        if not ((delay > 0) & (arrival > start)).all():  # (start is finite)
            raise NotLayered("a request arrives at its send time")
        return ~lost, arrival, lost

    def _replies(
        self, t: int, start: float, got: np.ndarray, tau: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Step 2: the reply values (n, d) and who replied."""
        w = self.w
        values = np.zeros((self.n, self.dim))
        replied = got.copy()
        gradients = self.gradients(w)  # every honest agent's, also those without a request
        values[self.honest_ids] = gradients
        byzantine = [b for b in sorted(self.byzantine) if got[b]]
        if not byzantine:
            return values, replied
        adversary = self.scenario.adversary
        assert adversary is not None
        honest = self.honest_ids[got[self.honest_ids]]
        honest = honest[np.lexsort((honest, tau[honest]))]  # the order they computed in
        shown = values[honest]  # a copy: the reference's honest_sent store of this round
        for b in sorted(byzantine, key=lambda b: (tau[b], b)):
            seen = int(np.searchsorted(tau[honest], tau[b], "right"))
            view = server_view(
                self.scenario,
                t,
                float(tau[b]),
                w,
                dict(zip(honest[:seen].tolist(), shown[:seen])),
                dict(zip(self.honest, gradients.copy())),
                self.optimum,
                self.adversary_memory,
            )
            reply = adversary.value(b, SERVER, t, view, self.adversary_rng(b, SERVER))
            if reply is None:
                replied[b] = False
            else:
                values[b] = np.array(reply, dtype=np.float64)
                self.lags[b] = held_back(adversary, b, SERVER, t, view)  # as Network.send
        return values, replied

    def _reply_messages(
        self, senders: np.ndarray, send_time: np.ndarray, lags: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Step 3: (arrival time, lost?) of the replies of ``senders`` sent at ``send_time``,
        each held back by its ``lags`` (simulated s; 0 but for an adversary's choice)."""
        leaf, lost = self.reply_draws.next(senders)
        delay = reply_delays(self.plan, leaf, senders, send_time)
        if lags.any():
            delay = np.where(lags > 0, delay + lags, delay)
        lost = np.zeros(len(senders), dtype=bool) if lost is None else lost
        asynchrony = self.scenario.network.asynchrony
        if asynchrony is not None:
            bounded = send_time >= asynchrony.gst
            byzantine = self.is_byzantine[senders]
            honest = bounded & ~byzantine
            over = honest & (delay > asynchrony.delta)
            if over.any():
                if asynchrony.on_violation == "error":
                    raise NotLayered("a bound violation stops the run: the event engine says where")
                self.capped += int(over.sum())
            if self.scenario.adversary_delivery == "last_moment":
                chosen = np.full(len(senders), asynchrony.delta)
            else:
                chosen = np.minimum(delay, asynchrony.delta)
            delay = np.where(over, asynchrony.delta, delay)
            delay = np.where(bounded & byzantine, chosen, delay)
            lost = lost & ~honest
        arrival = send_time + delay
        if not ((delay > 0) & (arrival > send_time)).all():  # (send times are finite)
            raise NotLayered("a reply arrives at its send time")
        return arrival, lost

    def _completion(
        self, start: float, replied: np.ndarray, arrival: np.ndarray, lost: np.ndarray
    ) -> tuple[float, bool]:
        """Step 4: C_t, and whether the deadline decided it."""
        deadline = self.scenario.protocol.deadline
        if replied.all() and not lost.any():
            time = max(start, float(arrival.max()))
            if deadline is None or time <= start + deadline:
                return time, False
        if deadline is None:
            raise NotLayered("the server waits forever: the event engine reports it")
        return start + deadline, True

    def _emit_round(
        self,
        t: int,
        start: float,
        arrival: np.ndarray,
        lost: np.ndarray,
        senders: np.ndarray,
        send_time: np.ndarray,
        reply_arrival: np.ndarray,
        reply_decision: np.ndarray,
    ) -> None:
        """Round t's messages to the trace, sorted by (receiver, sender): the replies (to the
        server, -1), then the requests; the send order is the requests' (agent order at s_t),
        then the replies' (tau_i, Byzantine?, i)."""
        n, k = self.n, len(senders)
        byzantine = self.is_byzantine[senders]
        rank = np.empty(k, dtype=np.int64)
        rank[np.lexsort((senders, byzantine, send_time))] = np.arange(k)
        request_decision = np.where(lost, LOST, KEPT).astype(np.int8)
        everyone = k == n  # every agent replied: senders is 0, 1, ..., n - 1
        columns = {
            "round": np.full(k + n, t, dtype=np.int64),
            # the replies' rows, then the requests' (the last n of the all-reply columns)
            "sender": self._all_senders
            if everyone
            else np.concatenate([senders, self._all_senders[n:]]),
            "receiver": self._all_receivers[n - k :],  # k times the server, then the agents
            "send_time": np.concatenate([send_time, np.full(n, start)]),
            "arrival_time": np.concatenate(
                [
                    np.where(reply_decision == LOST, np.nan, reply_arrival),
                    np.where(lost, np.nan, arrival),
                ]
            ),
            "delivered": np.concatenate([reply_decision != LOST, ~lost]),
            "decision": np.concatenate([reply_decision, request_decision]),
            "byzantine": self._all_byzantine
            if everyone
            else np.concatenate([byzantine, self._all_byzantine[n:]]),
        }
        order = self.sent + np.concatenate([n + rank, self._request_order])
        self.sent += n + k
        self.trace.add(columns, order)
