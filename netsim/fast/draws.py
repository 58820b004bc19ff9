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
- :class:`LinkDraws`: a link's k-th message uses its k-th draw whenever it is sent, so the
  draws do not depend on the simulation: they are drawn per sender in blocks of messages, all
  n links of a sender through one reusable PCG64 (:mod:`netsim.fast.seeding`). With loss the
  draws of a link alternate (delay, loss): unless the leaf draws nothing (``constant``), they
  are then taken message by message (exact, slower).
- :class:`LiveLinks`: one ``Generator`` per link, one message at a time, through the model's
  own ``delay`` method: the reference's code path (the CGC agents' replies).
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
from ..errors import ScenarioError
from ..rng import link_stream
from .seeding import StreamSlot, pcg_words

LEAVES = (Constant, Uniform, Exponential, LogNormal, Pareto)
SEED_GROUP = 32  # senders whose link states are seeded in one call
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

    def delay_rows(
        self,
        leaf: np.ndarray,
        senders: np.ndarray,
        receivers: np.ndarray,
        send_times: np.ndarray,
    ) -> np.ndarray:
        """:meth:`delays` for several senders at once: ``leaf`` (senders, receivers)."""
        if not self.layers:
            return leaf
        return np.vstack(
            [
                self.delays(leaf[k], int(sender), receivers, float(send_times[k]))
                for k, sender in enumerate(senders)
            ]
        )


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


class LinkDraws:
    """Leaf draws and loss flags of the links of some senders, by message index on each link.

    For each sender the draws of ``block`` consecutive message indices of all its links are
    kept, (block, n); a link's stream state is saved at the end of a block and loaded again for
    the next one. An honest CE sender's k-th message on every link is its round-k message; a
    Byzantine sender's links advance separately (``block`` = rounds: every index at once).

    The draws come from the leaf's ``_draw`` (what ``sample`` draws) and are checked per block
    with ``sample``'s rule; a block holding an invalid draw is checked again value by value as
    messages use it, so an invalid draw no message uses raises nothing, as in the reference.
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
        self.columns = np.arange(len(self.receivers))
        self.rounds = rounds
        self.loss = loss
        self.block = max(1, min(block, rounds))
        self._slot = StreamSlot()
        self._start: dict[int, int] = {}
        self._leaf: dict[int, np.ndarray] = {}
        self._lost: dict[int, np.ndarray | None] = {}
        self._states: dict[int, np.ndarray] = {}
        self._invalid: dict[int, bool] = {}
        self._seeded: dict[int, np.ndarray] = {}
        self._stacked: tuple | None = None

    def draws(self, sender: int, round: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(leaf draws, lost flags or None) of ``sender``'s message number ``round`` on every
        link (the entry of a receiver equal to the sender is meaningless)."""
        start = self._start.get(sender)
        if start is None or not start <= round < start + self.block:
            self._refill(sender, round)
            start = self._start[sender]
        lost = self._lost[sender]
        leaf = self._leaf[sender][round - start]
        if self._invalid[sender]:
            self._check(leaf[self.receivers != sender])
        return leaf, None if lost is None else lost[round - start]

    def rows(self, senders: np.ndarray, round: int) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`draws` of several senders that advance together (the honest senders of the
        round-by-round engine), stacked (senders, receivers). Their blocks are kept in one
        (senders, block, n) array, so a round is one slice."""
        key = tuple(senders.tolist())
        stacked = self._stacked
        if stacked is None or stacked[0] != key or not 0 <= round - stacked[1] < self.block:
            if not key:
                return np.zeros((0, len(self.receivers))), None
            previous = self._start.get(key[0])
            start = round if previous is None else previous + self.block
            self._stacked = stacked = None
            for sender in key:  # release the previous block before drawing the next one
                self._leaf.pop(sender, None)
                self._lost.pop(sender, None)
            count = min(self.block, self.rounds - start)
            leaf = np.zeros((len(key), count, len(self.receivers)))
            lost = np.zeros(leaf.shape, dtype=bool) if self.loss > 0 else None
            for k, sender in enumerate(key):  # each sender's block is drawn in place
                self._refill(sender, start, leaf[k], None if lost is None else lost[k])
            invalid = any(self._invalid[s] for s in key)
            stacked = self._stacked = (key, start, leaf, lost, invalid)
        _, start, leaf, lost, invalid = stacked
        rows = leaf[:, round - start, :]
        if invalid:
            self._check(rows[senders[:, None] != self.receivers[None, :]])
        return rows, None if lost is None else lost[:, round - start, :]

    def indexed(
        self, sender: int, index: np.ndarray, used: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Like :meth:`draws` with a message number per link (``block`` must cover them all);
        only the links in ``used`` are checked."""
        if sender not in self._start:
            self._refill(sender, 0)
        if int(index.max()) >= self._start[sender] + self.block:
            raise AssertionError("indexed draws need one block for every message")
        leaf = self._leaf[sender][index, self.columns]
        if self._invalid[sender]:
            self._check(leaf[used])
        lost = self._lost[sender]
        return leaf, None if lost is None else lost[index, self.columns]

    def _check(self, delays: np.ndarray) -> None:
        """``DelayModel.sample``'s check: a negative or non-finite delay is an error."""
        bad = ~(np.isfinite(delays) & (delays >= 0))
        if bad.any():
            raise ScenarioError(
                "network.delay",
                f"model {self.plan.leaf.name!r} drew an invalid delay",
                float(delays[bad][0]),
                ">= 0 and finite",
            )

    def _initial_states(self, sender: int) -> np.ndarray:
        """The initial states of ``sender``'s links, seeded in bulk for a group of senders
        (:func:`netsim.fast.seeding.pcg_words` costs little per link, much per call)."""
        if sender not in self._seeded:
            ids = range(sender, sender + SEED_GROUP) if sender >= 0 else [sender]
            known = set(self.receivers.tolist())
            group = [k for k in ids if k == sender or (k in known and k not in self._states)]
            count = len(self.receivers)
            words = pcg_words(
                self.seed, np.repeat(group, count), np.tile(self.receivers, len(group))
            )
            for k, member in enumerate(group):
                self._seeded[member] = words[k * count : (k + 1) * count]
        return self._seeded.pop(sender)

    def _refill(
        self,
        sender: int,
        round: int,
        out: np.ndarray | None = None,
        out_lost: np.ndarray | None = None,
    ) -> None:
        """Draw ``sender``'s next block of messages (into ``out``/``out_lost``, (count, n),
        when given)."""
        previous = self._start.get(sender)
        if previous is None:
            if round != 0:
                raise AssertionError("links are drawn from their first message on")
            states = self._initial_states(sender)
        else:
            if round != previous + self.block:
                raise AssertionError("links are drawn block after block")
            states = self._states[sender]
        count = min(self.block, self.rounds - round)
        # one row per link while drawing; used transposed, (count, n)
        leaf = np.zeros((len(self.receivers), count)) if out is None else out.T
        lost = None
        if self.loss > 0:
            lost = (
                np.zeros((len(self.receivers), count), dtype=bool)
                if out_lost is None
                else out_lost.T
            )
        draw = self.plan.leaf._draw  # what DelayModel.sample draws, before its check
        last_block = round + count >= self.rounds
        slot = self._slot
        base = states.ctypes.data
        for column, receiver in enumerate(self.receivers.tolist()):
            if receiver == sender:
                continue
            rng = (
                slot.load_address(base + 32 * column) if slot.direct else slot.load(states[column])
            )
            if lost is None:
                leaf[column] = draw(rng, count)
            elif self.plan.draws_nothing:
                leaf[column] = draw(rng, count)
                lost[column] = rng.random(count) < self.loss
            else:  # (delay, loss) interleaved on the stream: message by message
                for k in range(count):
                    leaf[column, k] = draw(rng, 1)[0]
                    lost[column, k] = rng.random() < self.loss
            if not last_block:
                slot.save(states[column])
        own = self.receivers == sender
        self._invalid[sender] = not bool(
            np.all(np.isfinite(leaf[~own])) and np.all(leaf[~own] >= 0)
        )
        self._start[sender] = round
        self._leaf[sender] = leaf.T
        self._lost[sender] = None if lost is None else lost.T
        self._states[sender] = states


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
