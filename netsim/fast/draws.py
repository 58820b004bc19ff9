"""Per-link delay and loss draws, many messages per call, equal to the reference's one by one.

The reference (:class:`netsim.engine.network.Link`) takes the k-th message on link a -> b's
delay from the first uniform of that link's counter k (:mod:`netsim.rng`, KIND 0) through the
delay model, and, when ``network.loss`` > 0, its loss decision from the second uniform (lost
iff < loss). Every composite model (``matrix``, ``stragglers``, ``profile``) transforms what its
innermost *leaf* model draws, once per message, with float operations that depend only on
(sender, receiver, send time). So the k-th message's delay is ``transform(leaf(u_k))``, and
since u_k is a pure function of (seed, a, b, k) (:func:`netsim.philox.uniforms`), the draws of
any set of links and messages -- a whole round of a CE network -- are one vectorized call;
nothing has to be drawn in order, and what is computed ahead (a window of rounds, bounded) is
only a cache.

- :class:`DelayPlan` splits a model into its leaf and the transforms (same float operations, in
  the same order, as the models' ``delay`` methods; elementwise numpy gives the same IEEE
  results as Python floats).
- :class:`LinkDraws`: the leaf draws and loss flags of the links of a sender (or of several) for
  given message numbers.
- :class:`LiveLinks`: the reference's own code path, one message at a time through the model's
  ``delay`` method (the CGC agents' replies on the event engine).
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
    check_drawn,
    drawn_valid,
)
from ..engine.network import Link
from ..philox import uniform_part, uniforms
from ..rng import LINK
from .background import worker

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


WINDOW_FLOATS = 1 << 20  # draws kept ahead, over all the links of a LinkDraws (8 MiB)
PREFETCH_DRAWS = 1 << 18  # rows(): a window this big has the next one computed in background


class LinkDraws:
    """Leaf draws and loss flags of links ``sender -> receivers``, by message number: message k
    on a link uses counter k of the link (module docstring). An honest CE sender's k-th message
    on every link is its round-k message; a Byzantine sender's links advance separately
    (:meth:`indexed`).

    A draw is a pure function of its counter, so the draws of the next few message numbers are
    computed in one call and kept (a *window*, at most :data:`WINDOW_FLOATS` draws in all):
    one call serves many rounds of a small network, and memory stays bounded whatever the
    number of rounds. Only the draws a message uses are checked, with ``DelayModel.sample``'s
    rule, so an invalid draw no message uses raises nothing, as in the reference; a window
    whose draws are all valid (the common case, found once when it is computed) needs no
    check at all."""

    def __init__(
        self,
        plan: DelayPlan,
        seed: int,
        receivers: Sequence[int],
        loss: float,
        horizon: int,
        senders: int | None = None,
    ):
        """``senders``: how many senders hold a window at a time (they share
        :data:`WINDOW_FLOATS`); default one per receiver, as in CE (the CGC server's requests:
        one)."""
        self.plan = plan
        self.seed = seed
        self.horizon = max(1, horizon)  # no link carries more messages (a window stops there)
        self.receivers = np.asarray(receivers, dtype=np.int64)
        self.senders = len(self.receivers) if senders is None else max(1, senders)
        self.columns = np.arange(len(self.receivers))
        self.loss = loss
        # per sender: (first message number, leaf (count, receivers), lost or None, whether
        # every draw of the window is valid: then no use of it needs checking)
        self._windows: dict[int, tuple[int, np.ndarray, np.ndarray | None, bool]] = {}
        self._stacked: tuple | None = None  # rows(): (senders, first, leaf, lost, valid)
        self._ahead: tuple | None = None  # rows(): (senders, first, future of the next window)

    def _compute(
        self, senders: np.ndarray | int, index: np.ndarray | int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(leaf draws, lost flags or None) of links ``senders`` -> ``self.receivers`` at message
        numbers ``index`` (broadcast against the receivers on the last axis)."""
        shape = np.broadcast_shapes(np.shape(senders), self.receivers.shape, np.shape(index))
        if self.plan.draws_nothing and self.loss <= 0:
            return np.full(shape, float(self.plan.leaf.value)), None
        if self.loss <= 0:  # the delays only: the second uniform of each counter is not read
            delay_u = uniform_part(self.seed, LINK, senders, self.receivers, index, 0, 0)
            return self.plan.leaf.from_uniforms(delay_u), None
        delay_u, loss_u = uniforms(self.seed, LINK, senders, self.receivers, index)
        return self.plan.leaf.from_uniforms(delay_u), loss_u < self.loss

    def _window(
        self, sender: int, low: int, high: int
    ) -> tuple[int, np.ndarray, np.ndarray | None, bool]:
        """``sender``'s window, covering message numbers ``low`` to ``high``."""
        window = self._windows.get(sender)
        if window is None or not window[0] <= low <= high < window[0] + len(window[1]):
            ahead = min(
                WINDOW_FLOATS // max(1, self.senders * len(self.receivers)), self.horizon - low
            )
            count = max(high - low + 1, ahead)
            leaf, lost = self._compute(sender, np.arange(low, low + count)[:, None])
            window = self._windows[sender] = (low, leaf, lost, drawn_valid(leaf))
        return window

    def draws(self, sender: int, round: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(leaf draws, lost flags or None) of ``sender``'s message number ``round`` on every
        link (the entry of a receiver equal to the sender is meaningless)."""
        first, leaf, lost, valid = self._window(sender, round, round)
        row = leaf[round - first]
        if not valid:
            self._check(row[self.receivers != sender])
        return row, None if lost is None else lost[round - first]

    def rows(self, senders: np.ndarray, round: int) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`draws` of several senders that advance together (the honest senders of the
        round-by-round engine), stacked (senders, receivers). A big window has the next one
        computed on the background worker (:mod:`netsim.fast.background`) while its rounds
        run: at most two windows are held."""
        if not len(senders):
            return np.zeros((0, len(self.receivers))), None
        key = tuple(senders.tolist())
        stacked = self._stacked
        if stacked is None or stacked[0] != key or not 0 <= round - stacked[1] < len(stacked[2]):
            self._stacked = None  # release the old window first
            ahead, self._ahead = self._ahead, None
            if ahead is not None and ahead[:2] == (key, round):
                stacked = ahead[2].result()
            else:
                if ahead is not None:
                    ahead[2].result()  # not the one needed: wait for it, then drop it
                stacked = self._stack(key, round)
            self._stacked = stacked
            following = round + len(stacked[2])
            if following < self.horizon and stacked[2].size >= PREFETCH_DRAWS:
                future = worker().submit(self._stack, key, following)
                self._ahead = (key, following, future)
        _, first, leaf, lost, valid = stacked
        rows = leaf[round - first]
        if not valid:
            self._check(rows[senders[:, None] != self.receivers[None, :]])
        return rows, None if lost is None else lost[round - first]

    def _stack(self, key: tuple[int, ...], round: int) -> tuple:
        """The window of senders ``key`` from message number ``round``: as many message numbers
        as fit in :data:`WINDOW_FLOATS` draws, up to the horizon."""
        ahead = WINDOW_FLOATS // (len(key) * len(self.receivers))
        count = max(1, min(ahead, self.horizon - round))
        index = np.arange(round, round + count)[:, None, None]
        leaf, lost = self._compute(np.array(key, dtype=np.int64)[None, :, None], index)
        return (key, round, leaf, lost, drawn_valid(leaf))

    def indexed(
        self, sender: int, index: np.ndarray, used: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Like :meth:`draws` with a message number per link; only the links in ``used`` are
        checked."""
        index = np.asarray(index, dtype=np.int64)
        low, high = int(index.min()), int(index.max())
        if high - low >= max(1, WINDOW_FLOATS // max(1, len(self.receivers) ** 2)):
            leaf, lost = self._compute(sender, index)  # links far apart: these draws only
            self._check(leaf[used])
            return leaf, lost
        first, window, window_lost, valid = self._window(sender, low, high)
        picked = window[index - first, self.columns]
        if not valid:
            self._check(picked[used])
        return picked, None if window_lost is None else window_lost[index - first, self.columns]

    def _check(self, delays: np.ndarray) -> None:
        check_drawn(self.plan.leaf.name, delays)


class LiveLinks:
    """The reference's :class:`netsim.engine.network.Link`, one per link, created on first use;
    one message at a time."""

    def __init__(self, model: DelayModel, seed: int, loss: float):
        self.model = model
        self.seed = seed
        self.loss = loss
        self._links: dict[tuple[int, int], Link] = {}

    def next(self, sender: int, receiver: int, send_time: float) -> tuple[float, bool]:
        """The link's next (delay, lost)."""
        key = (sender, receiver)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = Link(self.model, self.seed, sender, receiver)
        delay = link.next_delay(send_time)
        lost = link.next_lost(self.loss) if self.loss > 0 else False
        return delay, lost
