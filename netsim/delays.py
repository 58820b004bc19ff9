"""Link delay models (registry), in simulated seconds.

A model is one small frozen dataclass with ``sample(rng, size)``. Every directed link owns a
stream (:mod:`netsim.rng`, KIND 0) and the k-th message on a link uses that link's k-th draw, so a
link's delays never depend on how other events interleave (spec/engine.md). Drawing ``k`` values
at once gives the same numbers as ``k`` single draws (a batched engine relies on it; tested).

Each model states its ``expectation``, its ``variance`` and its ``upper_bound`` (``inf`` when
unbounded): tests hold the empirical moments of many draws against them, and the default round
deadline uses the bound (spec/ce.md, "The round deadline").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .checks import as_float
from .errors import ScenarioError
from .registry import Registry

DELAY_MODELS: Registry = Registry("delay model", name_field="model")


class DelayModel:
    """Base class: subclasses implement :meth:`_draw` and the three moments/bounds."""

    name: str = ""

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` delays (simulated seconds); a negative or non-finite draw is an error here."""
        delays = np.asarray(self._draw(rng, size), dtype=np.float64)
        if not np.all(np.isfinite(delays)) or np.any(delays < 0):
            bad = delays[~(np.isfinite(delays) & (delays >= 0))][0]
            raise ScenarioError(
                "network.delay",
                f"model {self.name!r} drew an invalid delay",
                float(bad),
                ">= 0 and finite",
            )
        return delays

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def expectation(self) -> float:
        """E[delay] in simulated seconds."""
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    @property
    def upper_bound(self) -> float:
        """Largest possible delay (``math.inf`` for unbounded models)."""
        raise NotImplementedError


@DELAY_MODELS.register("constant")
@dataclass(frozen=True)
class Constant(DelayModel):
    """Every message takes exactly ``value`` simulated seconds (draws nothing from the stream)."""

    value: float

    def __post_init__(self) -> None:
        as_float(self.value, "value", low=0.0)

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, float(self.value))

    @property
    def expectation(self) -> float:
        return float(self.value)

    @property
    def variance(self) -> float:
        return 0.0

    @property
    def upper_bound(self) -> float:
        return float(self.value)


@DELAY_MODELS.register("uniform")
@dataclass(frozen=True)
class Uniform(DelayModel):
    """Delay ~ U[low, high]: bounded jitter; one draw per message."""

    low: float
    high: float

    def __post_init__(self) -> None:
        as_float(self.low, "low", low=0.0)
        as_float(self.high, "high", low=float(self.low))

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)

    @property
    def expectation(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    @property
    def upper_bound(self) -> float:
        return float(self.high)


@DELAY_MODELS.register("exponential")
@dataclass(frozen=True)
class Exponential(DelayModel):
    """Delay ~ Exp(mean): memoryless, unbounded link latency; one draw per message."""

    mean: float

    def __post_init__(self) -> None:
        as_float(self.mean, "mean", low=0.0, low_open=True)

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean, size)

    @property
    def expectation(self) -> float:
        return float(self.mean)

    @property
    def variance(self) -> float:
        return float(self.mean) ** 2

    @property
    def upper_bound(self) -> float:
        return math.inf
