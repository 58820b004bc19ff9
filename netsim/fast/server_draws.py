"""The reply links agent -> server: many agents' next delay draws in one call.

Agent i's k-th reply uses the k-th message of its link i -> server, whose stream is
``SeedSequence(seed, spawn_key=(0, i, server))`` (spec/engine.md): from it, per message, the
delay model's leaf draw(s), then, when ``network.loss`` > 0, one ``random()`` (lost iff < loss).
Each link's draws are taken ``block`` messages at a time into one (n, block) array (a batch of
K draws equals K single draws; see :mod:`netsim.fast.draws`), so the next reply of any set of
agents is one fancy-indexing read. Drawing ahead is harmless (no other message uses a link's
stream); only the draws that messages use are checked, as the reference checks each draw.
"""

from __future__ import annotations

import numpy as np

from ..delays import Matrix, Stragglers
from ..errors import ScenarioError
from ..rng import SERVER
from .draws import DelayPlan
from .seeding import StreamSlot, pcg_words

BLOCK_FLOATS = 1 << 22  # draws kept at once, over all links


class ReplyDraws:
    """Leaf draws and loss flags of the n links agent -> server, by message index."""

    def __init__(self, plan: DelayPlan, seed: int, n: int, rounds: int, loss: float):
        self.plan = plan
        self.loss = loss
        self.block = max(1, min(rounds, BLOCK_FLOATS // max(n, 1)))
        self.states = pcg_words(seed, np.arange(n), np.full(n, SERVER))
        self.leaf = np.zeros((n, self.block))
        self.lost = np.zeros((n, self.block), dtype=bool) if loss > 0 else None
        self.position = np.full(n, self.block)  # next unread column (block: none left)
        self._slot = StreamSlot()

    def next(self, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(leaf draw, lost flag or None) of the next message on the link of each of
        ``agents`` (distinct agent ids)."""
        empty = agents[self.position[agents] >= self.block]
        if len(empty):
            self._refill(empty)
        column = self.position[agents]
        leaf = self.leaf[agents, column]
        self.position[agents] += 1
        bad = ~(np.isfinite(leaf) & (leaf >= 0))
        if bad.any():  # DelayModel.sample's check
            raise ScenarioError(
                "network.delay",
                f"model {self.plan.leaf.name!r} drew an invalid delay",
                float(leaf[bad][0]),
                ">= 0 and finite",
            )
        return leaf, None if self.lost is None else self.lost[agents, column]

    def _refill(self, agents: np.ndarray) -> None:
        draw = self.plan.leaf._draw  # what DelayModel.sample draws, before its check
        slot, count = self._slot, self.block
        for agent in agents.tolist():
            rng = slot.load(self.states[agent])
            if self.lost is None:
                self.leaf[agent] = draw(rng, count)
            elif self.plan.draws_nothing:
                self.leaf[agent] = draw(rng, count)
                self.lost[agent] = rng.random(count) < self.loss
            else:  # (delay, loss) interleaved on the stream: message by message
                for k in range(count):
                    self.leaf[agent, k] = draw(rng, 1)[0]
                    self.lost[agent, k] = rng.random() < self.loss
            slot.save(self.states[agent])
        self.position[agents] = 0


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
