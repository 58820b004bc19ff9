"""What is searched: a box of real parameters and the scenario each point of it stands for.

A point x of a :class:`SearchSpace` becomes a plain scenario (:meth:`SearchSpace.apply`): the
base scenario with its delay model replaced by a ``scheduled`` table and/or its adversary by a
``parametric`` one. So whatever the search finds is a scenario file that ``netsim run`` replays.

- **Delays** (the adversarial scheduler of partial synchrony): every link of the network (CE: the
  n(n - 1) ordered pairs of agents; CGC: server -> i and i -> server) gets a pattern of
  ``pattern`` delays in [0, Delta], Delta = ``network.asynchrony.delta``; the k-th message on a
  link takes entry k mod pattern (``scheduled`` with ``repeat = true``). The dimension is
  links x pattern: ``pattern = 1`` (default) fixes one delay per link, the choice that keeps the
  dimension manageable for long runs (30 for CE with n = 6, 12 for the CGC server); a pattern as
  long as the run gives the full per-link, per-round schedule for runs of a few rounds. The bound
  is the model's: delays stay within Delta before GST too (the search does not use the freedom
  partial synchrony leaves before GST).
- **Byzantine** (``parametric`` family): per honest receiver (CE, ``per_receiver = true``,
  default) or one for all (the CGC server has one receiver), and per round of a pattern of
  ``phases`` rounds (default 1: fixed over rounds), a radius in [0, ``radius_max``] (a fraction
  of the largest distance/norm the filter keeps) and an angle in [-pi, pi] (0: away from the
  optimum, pi: toward it). Dimension receivers x phases x 2.
- **Both**: the two boxes side by side.

Delays and radii are searched on their range widened by a quarter on each side and clipped back
(:class:`Dimension`): the extreme schedules (delay exactly 0 or exactly Delta) and the filter's
exact limit (radius 1) are then reachable, which they are not for a search over the open box.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import Scenario
from ..delays import link_key
from ..errors import ScenarioError
from ..rng import SERVER

SPACES = ("delays", "byzantine", "both")


EDGE = 0.25  # a clipped dimension is searched on its range widened by this share on each side
SNAP = 1e-12  # relative distance from an end of a clipped range within which a value is the end


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its name (for search.json) and its range [low, high].

    A ``clipped`` dimension is searched on [low - EDGE w, high + EDGE w] (w = high - low) and
    clipped back into [low, high] when applied: the ends of the range (a delay of exactly 0 or
    Delta, a radius of exactly the filter's limit) are where adversarial schedules and attacks
    live, and a search over the open box would reach them with probability 0 (each end gets
    probability EDGE / (1 + 2 EDGE) = 1/6 under uniform sampling instead). An angle is periodic
    and is not clipped.
    """

    name: str
    low: float
    high: float
    clipped: bool = True

    @property
    def search_range(self) -> tuple[float, float]:
        if not self.clipped:
            return self.low, self.high
        width = self.high - self.low
        return self.low - EDGE * width, self.high + EDGE * width

    def clip(self, value: float) -> float:
        """``value`` as applied to the scenario (a plain float). Within SNAP of the range's
        width from an end it is that end: scipy's DE stores points scaled to [0, 1] and back,
        which moves an end by an ulp (1.0 comes back as 0.9999999999999999)."""
        value = float(value)
        if not self.clipped:
            return value
        snap = SNAP * (self.high - self.low)
        if value <= self.low + snap:
            return self.low
        if value >= self.high - snap:
            return self.high
        return value


class SearchSpace:
    """A box of real parameters; :meth:`apply` turns a point into a scenario (raw dict)."""

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        raise NotImplementedError

    @property
    def bounds(self) -> list[tuple[float, float]]:
        """The box the methods search (clipped dimensions widened, see :class:`Dimension`)."""
        return [d.search_range for d in self.dimensions]

    def clipped(self, x: Sequence[float]) -> list[float]:
        """The point ``x`` of the search box as the parameter values it applies."""
        return [d.clip(v) for d, v in zip(self.dimensions, x)]

    def apply(self, raw: Mapping[str, Any], x: Sequence[float]) -> dict[str, Any]:
        """The base scenario ``raw`` with the point ``x`` written into it (a new dict)."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def known_points(self) -> dict[str, list[float]]:
        """The hand-written cases that are points of this space (label -> point): a warm start
        (``warm_start = true``) puts them in the first evaluations."""
        return {}


@dataclass(frozen=True)
class DelaySpace(SearchSpace):
    """Per link, a pattern of delays in [0, delta] (module docstring)."""

    links: tuple[tuple[int, int], ...]
    pattern: int
    delta: float

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return tuple(
            Dimension(f"delay[{link_key(*link)}][{k}]", 0.0, self.delta)
            for link in self.links
            for k in range(self.pattern)
        )

    def apply(self, raw: Mapping[str, Any], x: Sequence[float]) -> dict[str, Any]:
        out = copy.deepcopy(dict(raw))
        values = self.clipped(x)
        table = {
            link_key(*link): values[k * self.pattern : (k + 1) * self.pattern]
            for k, link in enumerate(self.links)
        }
        out.setdefault("network", {})["delay"] = {
            "model": "scheduled",
            "repeat": True,
            "delays": table,
        }
        return out

    def describe(self) -> str:
        links, pattern = len(self.links), self.pattern
        return f"delays: {links} links x a pattern of {pattern} in [0, {self.delta:g}] s"

    def known_points(self) -> dict[str, list[float]]:
        size = len(self.links) * self.pattern
        return {"every delay = Delta": [self.delta] * size, "every delay = 0": [0.0] * size}


@dataclass(frozen=True)
class ByzantineSpace(SearchSpace):
    """Radius and angle of the ``parametric`` attack per receiver row and phase."""

    receivers: tuple[int, ...]  # one row each (CE per receiver), or (0,) for everyone / server
    n_rows: int  # rows of the written table (CE per receiver: n, indexed by receiver id)
    phases: int
    radius_max: float
    frame: str
    delivery: str | None = None  # the base scenario's adversary.delivery, kept

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        dims = []
        for receiver in self.receivers:
            for p in range(self.phases):
                dims.append(Dimension(f"radius[{receiver}][{p}]", 0.0, self.radius_max))
                dims.append(Dimension(f"angle[{receiver}][{p}]", -math.pi, math.pi, False))
        return tuple(dims)

    def apply(self, raw: Mapping[str, Any], x: Sequence[float]) -> dict[str, Any]:
        out = copy.deepcopy(dict(raw))
        values = self.clipped(x)
        radius = [[0.0] * self.phases for _ in range(self.n_rows)]
        angle = [[0.0] * self.phases for _ in range(self.n_rows)]
        k = 0
        for receiver in self.receivers:
            for p in range(self.phases):
                radius[receiver][p], angle[receiver][p] = values[k], values[k + 1]
                k += 2
        table: dict[str, Any] = {
            "kind": "parametric",
            "radius": radius,
            "angle": angle,
            "frame": self.frame,
        }
        if self.delivery is not None:
            table["delivery"] = self.delivery
        out["adversary"] = table
        return out

    def describe(self) -> str:
        who = f"{len(self.receivers)} receivers" if len(self.receivers) > 1 else "every receiver"
        return (
            f"byzantine: parametric (frame {self.frame}), {who} x {self.phases} phases x "
            f"(radius in [0, {self.radius_max:g}], angle in [-pi, pi])"
        )

    def known_points(self) -> dict[str, list[float]]:
        if self.radius_max < 1.0 or self.frame != "optimum":
            return {}
        # radius 1, angle 0 everywhere: filter_aware's value against CE and CGC
        return {"attack filter_aware": [1.0, 0.0] * (len(self.receivers) * self.phases)}


@dataclass(frozen=True)
class CombinedSpace(SearchSpace):
    """Delays and Byzantine parameters at once: x = (delay part, Byzantine part)."""

    delays: DelaySpace
    byzantine: ByzantineSpace

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return self.delays.dimensions + self.byzantine.dimensions

    def apply(self, raw: Mapping[str, Any], x: Sequence[float]) -> dict[str, Any]:
        cut = len(self.delays.dimensions)
        return self.byzantine.apply(self.delays.apply(raw, x[:cut]), x[cut:])

    def describe(self) -> str:
        return f"{self.delays.describe()}; {self.byzantine.describe()}"

    def known_points(self) -> dict[str, list[float]]:
        return {
            f"{d} + {b}": [*x, *y]
            for d, x in self.delays.known_points().items()
            for b, y in self.byzantine.known_points().items()
        }


def require_delta(scenario: Scenario, why: str) -> float:
    """Delta of ``network.asynchrony``, or a ScenarioError naming the key."""
    if scenario.network.asynchrony is None:
        raise ScenarioError(
            "network.asynchrony.delta",
            f"{why} needs the delay bound Delta the scenario declares, and it declares none",
            None,
            "a [network.asynchrony] table with delta = <simulated s>",
        )
    return scenario.network.asynchrony.delta


def network_links(scenario: Scenario) -> tuple[tuple[int, int], ...]:
    """Every directed link of the scenario's network, in a fixed order."""
    n = scenario.network.n
    if scenario.protocol.kind == "cgc":
        return tuple((SERVER, i) for i in range(n)) + tuple((i, SERVER) for i in range(n))
    return tuple((j, i) for j in range(n) for i in range(n) if i != j)


def build_space(
    scenario: Scenario, kind: str, options: Mapping[str, Any], key: str = "--space"
) -> SearchSpace:
    """The search space ``kind`` (delays | byzantine | both) for ``scenario``.

    ``options`` are the ``[search]`` parameters of the space: ``pattern`` (delays per link before
    the pattern repeats), ``phases``, ``per_receiver``, ``radius_max``, ``frame``.
    """
    from ..checks import as_choice, as_float, as_int

    as_choice(kind, key, SPACES)
    delays = byzantine = None
    if kind in ("delays", "both"):
        delta = require_delta(scenario, "a delay search")
        pattern = as_int(options.get("pattern", 1), "search.pattern", low=1)
        delays = DelaySpace(links=network_links(scenario), pattern=pattern, delta=delta)
    if kind in ("byzantine", "both"):
        net = scenario.network
        if not net.byzantine:
            raise ScenarioError(
                "network.byzantine",
                "a Byzantine search needs a Byzantine agent",
                [],
                "at least one id",
            )
        phases = as_int(options.get("phases", 1), "search.phases", low=1)
        radius_max = as_float(
            options.get("radius_max", 1.5), "search.radius_max", low=0.0, low_open=True
        )
        frame = as_choice(options.get("frame", "optimum"), "search.frame", ("optimum", "honest"))
        per_receiver = options.get("per_receiver", True)
        if not isinstance(per_receiver, bool):
            raise ScenarioError(
                "search.per_receiver", "must be true or false", per_receiver, "true | false"
            )
        if scenario.protocol.kind == "ce" and per_receiver:
            receivers, rows = tuple(net.honest), net.n
        else:
            receivers, rows = (0,), 1
        delivery = (scenario.raw.get("adversary") or {}).get("delivery")
        byzantine = ByzantineSpace(receivers, rows, phases, radius_max, frame, delivery)
    if delays is not None and byzantine is not None:
        return CombinedSpace(delays, byzantine)
    return delays if delays is not None else byzantine  # type: ignore[return-value]
