"""The reply links agent -> server: many agents' next delay draws in one call.

Agent i's k-th reply is the k-th message on its link i -> server: its delay comes from the first
uniform of that link's counter k (:mod:`netsim.rng`, KIND 0) through the delay model's leaf,
its loss decision, when ``network.loss`` > 0, from the second (lost iff < loss). Each agent's
link keeps its count of messages, so the next reply of any set of agents is one vectorized
draw; only the draws that messages use are computed and checked, as the reference checks each
draw.
"""

from __future__ import annotations

import numpy as np

from ..delays import Matrix, Stragglers, check_drawn
from ..philox import uniforms
from ..rng import LINK, SERVER
from .draws import DelayPlan

WINDOW_FLOATS = 1 << 22  # draws kept ahead, over all n reply links (32 MiB)


class ReplyDraws:
    """Leaf draws and loss flags of the n links agent -> server, by message number. The next
    messages of every link are computed a window at a time (a draw is a pure function of its
    counter, so computing ahead changes nothing), at most :data:`WINDOW_FLOATS` draws in all."""

    def __init__(self, plan: DelayPlan, seed: int, n: int, loss: float, horizon: int):
        self.plan = plan
        self.seed = seed
        self.loss = loss
        # message numbers per link window: no more than a link will carry (``horizon``)
        self.width = max(1, min(WINDOW_FLOATS // max(n, 1), horizon))
        self.next_window = np.zeros(n, dtype=np.int64)  # where each link's next window starts
        self.position = np.full(n, self.width)  # the next unread column (width: none left)
        self.leaf = np.zeros((n, self.width))
        self.lost = np.zeros((n, self.width), dtype=bool) if loss > 0 else None

    def next(self, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(leaf draw, lost flag or None) of the next message on the link of each of
        ``agents`` (distinct agent ids)."""
        empty = agents[self.position[agents] >= self.width]
        if len(empty):
            self._refill(empty)
        column = self.position[agents]
        leaf = self.leaf[agents, column]
        self.position[agents] += 1
        check_drawn(self.plan.leaf.name, leaf)
        return leaf, None if self.lost is None else self.lost[agents, column]

    def _refill(self, agents: np.ndarray) -> None:
        """The next window of each of ``agents``' links, in one call."""
        index = self.next_window[agents][:, None] + np.arange(self.width)[None, :]
        self.next_window[agents] += self.width
        self.position[agents] = 0
        if self.plan.draws_nothing and self.loss <= 0:
            self.leaf[agents] = float(self.plan.leaf.value)
            return
        delay_u, loss_u = uniforms(self.seed, LINK, agents[:, None], SERVER, index)
        self.leaf[agents] = self.plan.leaf.from_uniforms(delay_u)
        if self.lost is not None:
            self.lost[agents] = loss_u < self.loss


def reply_delays(
    plan: DelayPlan, leaf: np.ndarray, senders: np.ndarray, send_times: np.ndarray
) -> np.ndarray:
    """The delays (simulated s) of replies sender -> server sent at ``send_times``, from their
    leaf draws: the float operations of the models' ``delay`` methods, innermost layer first
    (``Matrix``: the mean latency between agents plus the jitter; ``Stragglers``: times the
    factor if the sender is slow; ``Profile``: times the multiplier of the send time)."""
    value = leaf
    for layer in reversed(plan.layers):
        if isinstance(layer, Matrix):
            base = np.asarray(layer.base)
            value = float(base[~np.eye(len(base), dtype=bool)].mean()) + value
        elif isinstance(layer, Stragglers):
            value = np.where(np.isin(senders, layer.agents), value * layer.factor, value)
        else:  # Profile: multipliers[k] for times[k-1] <= s < times[k] (bisect_right)
            steps = np.searchsorted(np.asarray(layer.times, dtype=np.float64), send_times, "right")
            value = np.asarray(layer.multipliers, dtype=np.float64)[steps] * value
    return value
