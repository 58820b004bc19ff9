"""Small validators shared by configs and plug-ins; each raises a :class:`ScenarioError`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from .errors import ScenarioError


def as_float(
    value: Any,
    key: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """``value`` as a finite float in the given range (``low`` < or <= value <= ``high``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(key, "must be a number", value, _range(low, high, low_open))
    try:
        number = float(value)
    except OverflowError:  # an int beyond the largest float
        raise ScenarioError(key, "out of range", value, _range(low, high, low_open)) from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ScenarioError(key, "must be finite", value, _range(low, high, low_open))
    if low is not None and (number < low or (low_open and number == low)):
        raise ScenarioError(key, "out of range", value, _range(low, high, low_open))
    if high is not None and number > high:
        raise ScenarioError(key, "out of range", value, _range(low, high, low_open))
    return number


def as_int(value: Any, key: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(key, "must be an integer", value, _range(low, high, False))
    if (low is not None and value < low) or (high is not None and value > high):
        raise ScenarioError(key, "out of range", value, _range(low, high, False))
    return int(value)


def as_choice(value: Any, key: str, choices: list[str] | tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ScenarioError(key, "unknown choice", value, " | ".join(choices))
    return value


def _range(low: float | None, high: float | None, low_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"> {low}" if low_open else f">= {low}"
    if low is None:
        return f"<= {high}"
    return f"{'(' if low_open else '['}{low}, {high}]"


def as_staircase(
    breaks: Any,
    values: Any,
    keys: tuple[str, str],
    parse_break: Callable[[Any, str], float],
    allowed_breaks: str,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A piecewise-constant function: strictly increasing breakpoints (parsed by
    ``parse_break``) and one more value > 0 than breakpoints; ``keys`` name the two lists."""
    break_key, value_key = keys
    if not isinstance(breaks, (list, tuple)) or not breaks:
        raise ScenarioError(break_key, "must be a non-empty list", breaks, allowed_breaks)
    points = tuple(parse_break(b, f"{break_key}[{k}]") for k, b in enumerate(breaks))
    if any(a >= b for a, b in itertools.pairwise(points)):
        raise ScenarioError(break_key, "must increase strictly", list(points), allowed_breaks)
    if not isinstance(values, (list, tuple)) or len(values) != len(points) + 1:
        raise ScenarioError(
            value_key,
            f"needs one more entry than {break_key}",
            values,
            f"a list of {len(points) + 1} numbers > 0",
        )
    levels = tuple(
        as_float(v, f"{value_key}[{k}]", low=0.0, low_open=True) for k, v in enumerate(values)
    )
    return points, levels
