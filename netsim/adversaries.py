"""Byzantine behaviours (registry): what a Byzantine sender sends to each receiver.

An adversary answers one question, per (sender, receiver, round, simulated time): which vector
does this Byzantine sender put on the link to this receiver now (or ``None``: send nothing)?
It may equivocate (a different value for every receiver), and it is *rushing*: its
:class:`View` holds every honest message already sent (spec/README.md). Randomness comes from
the stream of the pair (sender, receiver) (:mod:`netsim.rng`, KIND 2), handed in by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .checks import as_choice, as_float, as_int
from .registry import Registry

ADVERSARIES: Registry = Registry("adversary")


@dataclass(frozen=True)
class View:
    """What the engine shows an adversary (rushing: every honest message already sent).

    ``honest_sent`` maps each honest sender that has already started ``round`` to the estimate
    it broadcast this round (honest agents send one value to everybody); ``honest_latest`` maps
    every honest agent to the most recent value it has sent, whatever the round. ``dim`` is d.
    """

    round: int
    now: float
    dim: int
    honest_sent: Mapping[int, np.ndarray]
    honest_latest: Mapping[int, np.ndarray]


class Adversary(Protocol):
    """The behaviour of the Byzantine agents (one object, shared by all of them: collusion)."""

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: np.random.Generator
    ) -> np.ndarray | None: ...


@ADVERSARIES.register("random_uniform")
@dataclass(frozen=True)
class RandomUniform:
    """An independent vector with i.i.d. U[low, high] entries per receiver per round.

    The CE paper's attack (Section IV): the Byzantine agent sends a different random vector to
    every receiver in every iteration (netsim's range choice: [-10, 10], spec/ce.md).
    """

    low: float = -10.0
    high: float = 10.0

    def __post_init__(self) -> None:
        as_float(self.low, "low")
        as_float(self.high, "high", low=float(self.low))

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: np.random.Generator
    ) -> np.ndarray:
        return rng.uniform(self.low, self.high, view.dim)


NON_FINITE = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 1e308}


@ADVERSARIES.register("non_finite")
@dataclass(frozen=True)
class NonFinite:
    """Sends a vector filled with NaN, +inf, -inf or 1e308 ("huge") to every receiver.

    Tests that honest state is never poisoned: a non-finite value is treated as absent by the
    receiving protocol, and 1e308 (whose norm overflows) is eliminated or dropped.
    """

    value_kind: str = "nan"
    scenario_names = {"value": "value_kind"}  # noqa: RUF012  (scenario key `value`)

    def __post_init__(self) -> None:
        as_choice(self.value_kind, "value_kind", tuple(NON_FINITE))

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: np.random.Generator
    ) -> np.ndarray:
        return np.full(view.dim, NON_FINITE[self.value_kind])


@ADVERSARIES.register("omission")
@dataclass(frozen=True)
class Omission:
    """Behaves like a silent (crashed) agent from round ``from_round`` on.

    Before ``from_round`` it sends the mean of the latest honest values (a harmless value), from
    then on nothing. Without a round deadline an honest agent would wait
    for it forever; netsim stops such a run with an error naming ``protocol.deadline``.
    """

    from_round: int = 0

    def __post_init__(self) -> None:
        as_int(self.from_round, "from_round", low=0)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: np.random.Generator
    ) -> np.ndarray | None:
        if round >= self.from_round:
            return None
        return np.mean(list(view.honest_latest.values()), axis=0)
