"""Step-size schedules eta_t (registry), t = 0, 1, ... the iteration index.

Each schedule knows whether it satisfies the conditions of the partially asynchronous analysis
(CGC paper Section 5): sum_t eta_t = inf and sum_t eta_t^2 < inf (``diminishing``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .checks import as_float, as_int, as_staircase
from .registry import Registry

STEP_SIZES: Registry = Registry("step-size schedule", name_field="schedule")


@STEP_SIZES.register("constant")
@dataclass(frozen=True)
class ConstantStep:
    """eta_t = eta (the papers' synchronous algorithms, CE paper Eq. 7, CGC paper Eq. 17)."""

    eta: float

    def __post_init__(self) -> None:
        as_float(self.eta, "eta", low=0.0, low_open=True)

    def __call__(self, t: int) -> float:
        return float(self.eta)

    @property
    def diminishing(self) -> bool:
        return False


@STEP_SIZES.register("harmonic")
@dataclass(frozen=True)
class HarmonicStep:
    """eta_t = a / (t + b): sum eta_t = inf, sum eta_t^2 < inf."""

    a: float
    b: float = 1.0

    def __post_init__(self) -> None:
        as_float(self.a, "a", low=0.0, low_open=True)
        as_float(self.b, "b", low=0.0, low_open=True)

    def __call__(self, t: int) -> float:
        return self.a / (t + self.b)

    @property
    def diminishing(self) -> bool:
        return True


@STEP_SIZES.register("power")
@dataclass(frozen=True)
class PowerStep:
    """eta_t = a / (t + b)^p: diminishing in the Robbins-Monro sense iff 1/2 < p <= 1."""

    a: float
    b: float = 1.0
    p: float = 1.0

    def __post_init__(self) -> None:
        as_float(self.a, "a", low=0.0, low_open=True)
        as_float(self.b, "b", low=0.0, low_open=True)
        as_float(self.p, "p", low=0.0, low_open=True)

    def __call__(self, t: int) -> float:
        try:
            return self.a / (t + self.b) ** self.p
        except OverflowError:  # (t + b)^p beyond the largest float: the step is 0 to the ulp
            return 0.0

    @property
    def diminishing(self) -> bool:
        return 0.5 < self.p <= 1.0


@STEP_SIZES.register("piecewise")
@dataclass(frozen=True)
class PiecewiseStep:
    """eta_t = values[k] for boundaries[k-1] <= t < boundaries[k] (a staircase, e.g. a warm
    phase then a smaller step). Its last piece is constant, so it is never diminishing."""

    boundaries: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        bounds, values = as_staircase(
            self.boundaries,
            self.values,
            ("boundaries", "values"),
            lambda b, key: as_int(b, key, low=1),
            "increasing integers >= 1",
        )
        object.__setattr__(self, "boundaries", bounds)
        object.__setattr__(self, "values", values)

    def __call__(self, t: int) -> float:
        return self.values[bisect.bisect_right(self.boundaries, t)]

    @property
    def diminishing(self) -> bool:
        return False
