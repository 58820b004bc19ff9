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
from .norms import scaled_row_norms
from .registry import Registry

ADVERSARIES: Registry = Registry("adversary")


@dataclass(frozen=True)
class View:
    """What the engine shows an adversary. Byzantine agents are omniscient and rushing: they
    know the honest costs and optimum and every honest message already sent.

    - ``honest_sent``: honest sender -> the value it sent in ``round``, for the honest agents
      that have already sent it (CE: their estimate; CGC: their gradient reply, kept for the
      server's last two rounds);
    - ``honest_latest``: honest sender -> the most recent value it has sent, any round;
    - ``target``: what the receiver holds now (CE: the receiver's estimate x_i, None for a
      Byzantine receiver; CGC: the server's w_t that this reply answers);
    - ``optimum``: x_H (CE) or w* (CGC);
    - ``honest_gradients`` (CGC): every honest agent's gradient at ``target``.
    """

    round: int
    now: float
    dim: int
    honest_sent: Mapping[int, np.ndarray]
    honest_latest: Mapping[int, np.ndarray]
    target: np.ndarray | None = None
    optimum: np.ndarray | None = None
    honest_gradients: Mapping[int, np.ndarray] | None = None
    server: bool = False  # True when the receiver is the CGC server
    f: int = 0  # the bound f the honest side's filter uses


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

    Before ``from_round`` it sends the mean of the honest values (the latest estimates to a
    peer, the honest gradients at w_t to the server): a harmless value. From then on nothing.
    Without a round deadline its receivers would wait for it forever; netsim stops such a run
    with an error naming ``protocol.deadline``.
    """

    from_round: int = 0

    def __post_init__(self) -> None:
        as_int(self.from_round, "from_round", low=0)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: np.random.Generator
    ) -> np.ndarray | None:
        honest = view.honest_gradients if view.server else view.honest_latest
        if round >= self.from_round or not honest:
            return None
        return np.mean(list(honest.values()), axis=0)


def _away(view: View) -> np.ndarray:
    """Unit vector from the optimum towards the target (any unit vector if they coincide)."""
    assert view.target is not None and view.optimum is not None
    direction = view.target - view.optimum
    norm = float(np.linalg.norm(direction))
    if norm == 0.0:
        direction, norm = np.ones(view.dim), float(np.sqrt(view.dim))
    return direction / norm


@ADVERSARIES.register("large_norm")
@dataclass(frozen=True)
class LargeNorm:
    """A value of large norm that pushes away from the optimum.

    To the CGC server: the gradient -scale (w_t - w*), so that the step w_t - eta g moves w away
    from w* (spec/reference_numbers.py uses scale = 1e3). To a peer i (CE): the point
    x_i + scale (x_i - x_H), far out on the far side of x_i.
    """

    scale: float = 1e3

    def __post_init__(self) -> None:
        as_float(self.scale, "scale", low=0.0, low_open=True)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: np.random.Generator
    ) -> np.ndarray | None:
        if view.target is None or view.optimum is None:
            return None
        offset = view.target - view.optimum
        if view.server:
            return -self.scale * offset
        return view.target + self.scale * offset


@ADVERSARIES.register("filter_aware")
@dataclass(frozen=True)
class FilterAware:
    """The strongest value the receiver's filter lets through, pointing away from the optimum.

    CGC server: a gradient of norm equal to the clipping threshold, the largest honest gradient
    norm at w_t (a larger one would be clipped down to it), in direction -(w_t - w*): it is
    never clipped and pushes w away from w*. CE receiver i: the point at distance r from x_i in
    the direction away from x_H, r being the distance of the farthest honest estimate that CE
    still keeps when the f Byzantine values tie with it (the (h - f)-th smallest distance
    among the h honest estimates i receives; ties go to the lower sender id).
    """

    f: int | None = None  # how many Byzantine values to make room for (default: the scenario's f)

    def __post_init__(self) -> None:
        if self.f is not None:
            as_int(self.f, "f", low=0)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: np.random.Generator
    ) -> np.ndarray | None:
        if view.target is None or view.optimum is None:
            return None
        away = _away(view)
        if view.server:
            if not view.honest_gradients:
                return None
            norms = scaled_row_norms(np.array(list(view.honest_gradients.values())))
            return -float(norms.max()) * away
        others = [v for j, v in view.honest_latest.items() if j != receiver]
        if not others:
            return None
        distances = np.sort(scaled_row_norms(np.array(others) - view.target))
        f = self.f if self.f is not None else view.f
        index = max(len(distances) - f, 1) - 1
        return view.target + float(distances[index]) * away


@ADVERSARIES.register("mimic")
@dataclass(frozen=True)
class Mimic:
    """Copies one honest agent: sends what ``target`` sends (its estimate to peers, its
    gradient at w_t to the server). Without 2f-redundancy this makes two worlds with different
    honest optima indistinguishable (CGC paper Theorem 1, CE paper Lemma 1)."""

    target: int = 0

    def __post_init__(self) -> None:
        as_int(self.target, "target", low=0)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: np.random.Generator
    ) -> np.ndarray | None:
        if view.server:
            gradients = view.honest_gradients or {}
            return gradients.get(self.target)
        return view.honest_latest.get(self.target)
