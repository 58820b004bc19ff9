"""Per-link delay and loss draws, many messages per call, equal to the reference's one by one.

The reference (:class:`netsim.engine.network.Link`) draws, for the k-th message on link a -> b
and from that link's own stream: the delay model's draw(s), then, when ``network.loss`` > 0,
one ``random()`` that decides loss (lost iff < loss). Every composite model (``matrix``,
``stragglers``, ``profile``) draws exactly what its innermost *leaf* model draws, once per
message, and transforms it with float operations that depend only on (sender, receiver, send
time). So the k-th message's delay is ``transform(leaf.sample(rng, 1)[0])``, and because
``leaf.sample(rng, K)`` gives the same numbers as K calls ``leaf.sample(rng, 1)`` (numpy draws a
size-K batch element by element with the same routine; tested per model in
tests/test_fast_engine.py), the K draws of a link can be taken in one call.

- :class:`DelayPlan` splits a model into its leaf and the transforms (same float operations, in
  the same order, as the models' ``delay`` methods; elementwise numpy gives the same IEEE
  results as Python floats).
- :class:`HonestLinkDraws`: the links of honest senders carry exactly one message per round
  (round k is the link's k-th message), so their draws do not depend on the simulation: they are
  drawn per sender in blocks of rounds, all n links of a sender through one reusable PCG64
  (:mod:`netsim.fast.seeding`). With loss the draws of a link alternate (delay, loss): unless
  the leaf draws nothing (``constant``), they are then taken message by message (exact, slower).
- :class:`LiveLinks`: links whose k-th message is not round k (Byzantine senders that may stay
  silent, the CGC agents' replies): one ``Generator`` per link, one message at a time, through
  the model's own ``delay`` method: the reference's code path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..delays import (
    Constant,
    DelayModel,
    Exponential,
    LogNormal,
    Matrix,
    Pareto,
    Profile,
    Stragglers,
    Uniform,
)
from ..rng import link_stream
from .seeding import PCGState, StreamSlot, pcg_states

LEAVES = (Constant, Uniform, Exponential, LogNormal, Pareto)
COMPOSITES = (Matrix, Profile, Stragglers)


def batchable(model: DelayModel) -> bool:
    """Whether :class:`DelayPlan` knows every layer of ``model`` (exact types only: a subclass
    may change the maths)."""
    while type(model) not in LEAVES:
        if not isinstance(model, COMPOSITES) or type(model).__name__ not in (
            "Matrix",
            "_Drawn",
            "Profile",
            "Stragglers",
        ):
            return False
        model = model.inner
    return True


class DelayPlan:
    """A delay model as its leaf draw plus the transforms of its composite layers."""

    def __init__(self, model: DelayModel):
        self.model = model
        layers = []
        while type(model) not in LEAVES:
            layers.append(model)
            model = model.inner
        self.leaf = model
        self.layers = tuple(layers)  # outermost first
        self.draws_nothing = type(model) is Constant

    def delays(
        self, leaf: np.ndarray, sender: int, receivers: np.ndarray, send_time: float
    ) -> np.ndarray:
        """The delays (simulated s) of messages sent at ``send_time`` by ``sender`` to each of
        ``receivers``, from their leaf draws; the innermost layer is applied first."""
        value = leaf
        for layer in reversed(self.layers):
            value = _apply(layer, value, sender, receivers, send_time)
        return value


def _apply(
    layer: DelayModel, inner: np.ndarray, sender: int, receivers: np.ndarray, send_time: float
) -> np.ndarray:
    if isinstance(layer, Matrix):  # latency + jitter (Matrix.delay)
        if sender < 0:
            base = np.asarray(layer.base)
            latency = np.full(len(receivers), float(base[~np.eye(len(base), dtype=bool)].mean()))
        else:
            row = np.asarray(layer.base[sender], dtype=np.float64)
            latency = np.empty(len(receivers))
            agents = receivers >= 0
            latency[agents] = row[receivers[agents]]
            if not agents.all():
                base = np.asarray(layer.base)
                latency[~agents] = float(base[~np.eye(len(base), dtype=bool)].mean())
        return latency + inner
    if isinstance(layer, Stragglers):  # drawn * factor on slow links (Stragglers.delay)
        slow = np.isin(receivers, layer.agents) | (sender in layer.agents)
        return np.where(slow, inner * layer.factor, inner)
    assert isinstance(layer, Profile)  # multiplier(send time) * base (Profile.delay)
    return layer.multiplier(send_time) * inner


class HonestLinkDraws:
    """Leaf draws and loss flags of the links of honest senders, round k = k-th message.

    For each sender the draws of ``block`` rounds for all its links are kept, (block, n); a
    link's stream state is saved at the end of a block and loaded again for the next one.
    """

    def __init__(
        self,
        plan: DelayPlan,
        seed: int,
        receivers: Sequence[int],
        rounds: int,
        loss: float,
        block: int,
    ):
        self.plan = plan
        self.seed = seed
        self.receivers = np.asarray(receivers)
        self.rounds = rounds
        self.loss = loss
        self.block = max(1, min(block, rounds))
        self._slot = StreamSlot()
        self._start: dict[int, int] = {}
        self._leaf: dict[int, np.ndarray] = {}
        self._lost: dict[int, np.ndarray | None] = {}
        self._states: dict[int, list[PCGState]] = {}

    def draws(self, sender: int, round: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(leaf draws, lost flags or None) of ``sender``'s round-``round`` message to every
        receiver (the entry of a receiver equal to the sender is meaningless)."""
        start = self._start.get(sender)
        if start is None or not start <= round < start + self.block:
            self._refill(sender, round)
            start = self._start[sender]
        lost = self._lost[sender]
        return self._leaf[sender][round - start], None if lost is None else lost[round - start]

    def _refill(self, sender: int, round: int) -> None:
        previous = self._start.get(sender)
        if previous is None:
            if round != 0:
                raise AssertionError("honest links are drawn from round 0 on")
            targets = [int(r) for r in self.receivers]
            states = pcg_states(self.seed, [sender] * len(targets), targets)
        else:
            if round != previous + self.block:
                raise AssertionError("honest links are drawn round after round")
            states = self._states[sender]
        count = min(self.block, self.rounds - round)
        leaf = np.zeros((count, len(self.receivers)))
        lost = np.zeros((count, len(self.receivers)), dtype=bool) if self.loss > 0 else None
        saved: list[PCGState] = []
        model = self.plan.leaf
        for column, (receiver, state) in enumerate(zip(self.receivers, states)):
            if receiver == sender:
                saved.append(state)
                continue
            rng = self._slot.load(state)
            if lost is None:
                leaf[:, column] = model.sample(rng, count)
            elif self.plan.draws_nothing:
                leaf[:, column] = model.sample(rng, count)
                lost[:, column] = rng.random(count) < self.loss
            else:  # (delay, loss) interleaved on the stream: message by message
                for k in range(count):
                    leaf[k, column] = model.sample(rng, 1)[0]
                    lost[k, column] = rng.random() < self.loss
            saved.append(self._slot.save() if round + count < self.rounds else state)
        self._start[sender] = round
        self._leaf[sender] = leaf
        self._lost[sender] = lost
        self._states[sender] = saved


class LiveLinks:
    """One generator per link, created on first use; one message at a time (the reference's
    :class:`netsim.engine.network.Link`)."""

    def __init__(self, model: DelayModel, seed: int, loss: float):
        self.model = model
        self.seed = seed
        self.loss = loss
        self._streams: dict[tuple[int, int], np.random.Generator] = {}

    def next(self, sender: int, receiver: int, send_time: float) -> tuple[float, bool]:
        """The link's next (delay, lost)."""
        key = (sender, receiver)
        rng = self._streams.get(key)
        if rng is None:
            rng = self._streams[key] = link_stream(self.seed, sender, receiver)
        delay = self.model.delay(rng, sender, receiver, send_time)
        lost = bool(rng.random() < self.loss) if self.loss > 0 else False
        return delay, lost
