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
- **Lags** (when the Byzantine values arrive): the ``parametric`` attack's per-receiver
  ``lag``, simulated seconds added to the link's delay of its message to each honest receiver
  (CE, ``per_receiver = true``; one for all otherwise), per round of a pattern of ``lag_phases``
  rounds (default 1), in [0, Delta], Delta = ``network.asynchrony.delta`` (refused without it:
  after GST the network delivers a Byzantine message within Delta, so a larger lag is Delta).
  The value sent is the scenario's ``parametric`` attack if it has one (or the searched one with
  ``byzantine``), else the family's defaults: ``filter_aware``'s value. Dimension receivers x
  lag_phases.
- **Offsets** (imperfect lock-step clocks): every agent's clock offset eps_i in [-eps, eps],
  eps = ``network.clocks.offset`` (refused without ``[network.clocks]``, on the event clock, or
  with eps = 0), written as the explicit list ``network.clocks.offsets`` (the drifts stay as the
  scenario has them). Dimension n.
- **Combinations**: parts joined with ``+`` (``byzantine+lags``, ``lags+offsets``, ...), the
  boxes side by side in the order of :data:`PARTS`; ``both`` is ``delays+byzantine``.

Delays, radii, lags and offsets are searched on their range widened by a quarter on each side
and clipped back (:class:`Dimension`): the extreme schedules (delay exactly 0 or exactly Delta),
the filter's exact limit (radius 1) and the clocks' extreme skews are then reachable, which they
are not for a search over the open box.
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

PARTS = ("delays", "byzantine", "lags", "offsets")  # the boxes, in the order they are combined
ALIASES = {"both": ("delays", "byzantine")}
SPACES = (*PARTS, "both")  # the names; parts combine with "+" (module docstring)


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


def row_dimensions(
    name: str, rows: Sequence[Any], per_row: int, high: float
) -> tuple[Dimension, ...]:
    """``per_row`` parameters in [0, high] for each row: ``name[row][k]``, row-major (the
    layout :func:`by_row` reads back)."""
    return tuple(
        Dimension(f"{name}[{row}][{k}]", 0.0, high) for row in rows for k in range(per_row)
    )


def by_row(values: Sequence[float], per_row: int) -> list[list[float]]:
    """Row-major values (:func:`row_dimensions`) as one list per row."""
    return [list(values[k : k + per_row]) for k in range(0, len(values), per_row)]


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
        return row_dimensions(
            "delay", [link_key(*link) for link in self.links], self.pattern, self.delta
        )

    def apply(self, raw: Mapping[str, Any], x: Sequence[float]) -> dict[str, Any]:
        out = copy.deepcopy(dict(raw))
        rows = by_row(self.clipped(x), self.pattern)
        table = {link_key(*link): row for link, row in zip(self.links, rows)}
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
        written = raw.get("adversary") or {}
        if written.get("kind") == "parametric" and "lag" in written:
            table["lag"] = copy.deepcopy(written["lag"])  # the scenario's hold-back, kept
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


def parametric_table(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's adversary table if it is the ``parametric`` family (a copy), else the
    family with its defaults (``filter_aware``'s value), keeping ``delivery``."""
    adversary = raw.get("adversary") or {}
    if isinstance(adversary, Mapping) and adversary.get("kind") == "parametric":
        return copy.deepcopy(dict(adversary))
    table: dict[str, Any] = {"kind": "parametric"}
    if isinstance(adversary, Mapping) and adversary.get("delivery") is not None:
        table["delivery"] = adversary["delivery"]
    return table


@dataclass(frozen=True)
class LagSpace(SearchSpace):
    """The ``parametric`` attack's ``lag`` per receiver row and phase, in [0, delta]."""

    receivers: tuple[int, ...]  # one row each (CE per receiver), or (0,) for everyone / server
    n_rows: int  # rows of the written table (CE per receiver: n, indexed by receiver id)
    phases: int
    delta: float
    values_from: str = "filter_aware's value (the parametric defaults)"  # for describe()

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return row_dimensions("lag", self.receivers, self.phases, self.delta)

    def apply(self, raw: Mapping[str, Any], x: Sequence[float]) -> dict[str, Any]:
        out = copy.deepcopy(dict(raw))
        lag = [[0.0] * self.phases for _ in range(self.n_rows)]
        for receiver, row in zip(self.receivers, by_row(self.clipped(x), self.phases)):
            lag[receiver] = row
        table = parametric_table(out)
        table["lag"] = lag
        out["adversary"] = table
        return out

    def describe(self) -> str:
        who = f"{len(self.receivers)} receivers" if len(self.receivers) > 1 else "every receiver"
        return (
            f"lags: the parametric attack ({self.values_from}) held back, {who} x "
            f"{self.phases} phases x a lag in [0, {self.delta:g}] s"
        )

    def known_points(self) -> dict[str, list[float]]:
        size = len(self.receivers) * self.phases
        points = {"no hold-back": [0.0] * size, "every lag = Delta": [self.delta] * size}
        if len(self.receivers) > 1:  # desync's default pattern: the odd ids late
            points["odd receivers at Delta (desync's split)"] = [
                self.delta if receiver % 2 else 0.0
                for receiver in self.receivers
                for _ in range(self.phases)
            ]
        return points


@dataclass(frozen=True)
class OffsetSpace(SearchSpace):
    """Every agent's lock-step clock offset eps_i in [-offset, offset]."""

    n: int
    offset: float

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return tuple(
            Dimension(f"clock_offset[{agent}]", -self.offset, self.offset)
            for agent in range(self.n)
        )

    def apply(self, raw: Mapping[str, Any], x: Sequence[float]) -> dict[str, Any]:
        out = copy.deepcopy(dict(raw))
        clocks = out.setdefault("network", {}).setdefault("clocks", {})
        clocks["offsets"] = self.clipped(x)
        return out

    def describe(self) -> str:
        return (
            f"offsets: {self.n} clock offsets in [-{self.offset:g}, {self.offset:g}] s "
            "(network.clocks.offsets)"
        )

    def known_points(self) -> dict[str, list[float]]:
        return {
            "every clock offset = 0": [0.0] * self.n,
            "even ids at -eps, odd ids at +eps": [
                self.offset if agent % 2 else -self.offset for agent in range(self.n)
            ],
        }


@dataclass(frozen=True)
class CombinedSpace(SearchSpace):
    """Several boxes at once, side by side: x = (first part, second part, ...), applied in
    that order (a lag part after a Byzantine part keeps its radius and angle)."""

    parts: tuple[SearchSpace, ...]

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return tuple(d for part in self.parts for d in part.dimensions)

    def apply(self, raw: Mapping[str, Any], x: Sequence[float]) -> dict[str, Any]:
        out = dict(raw)
        start = 0
        for part in self.parts:
            stop = start + len(part.dimensions)
            out = part.apply(out, x[start:stop])
            start = stop
        return out

    def describe(self) -> str:
        return "; ".join(part.describe() for part in self.parts)

    def known_points(self) -> dict[str, list[float]]:
        points: dict[str, list[float]] = {"": []}
        for part in self.parts:
            points = {
                f"{label} + {name}" if label else name: [*x, *y]
                for label, x in points.items()
                for name, y in part.known_points().items()
            }
        return points

    def part(self, kind: type[SearchSpace]) -> SearchSpace | None:
        """The part of class ``kind``, if any."""
        return next((p for p in self.parts if isinstance(p, kind)), None)


def space_parts(name: Any, key: str = "--space") -> tuple[str, ...]:
    """The parts of the space ``name`` (``delays``, ``byzantine+lags``, ``both``, ...), in the
    order of :data:`PARTS`; a ScenarioError naming ``key`` for anything else."""
    expected = f"{', '.join(SPACES)}, or parts joined with + (e.g. byzantine+lags)"
    if not isinstance(name, str):
        raise ScenarioError(key, "must be a name", name, expected)
    if name in ALIASES:
        return ALIASES[name]
    given = [part.strip() for part in name.split("+")]
    for part in given:
        if part not in PARTS:
            raise ScenarioError(key, f"unknown space {part!r}", name, expected)
    if len(set(given)) != len(given):
        raise ScenarioError(key, "a part is named twice", name, expected)
    return tuple(part for part in PARTS if part in given)


def space_name(name: Any, key: str = "--space") -> str:
    """``name`` checked and written canonically: an alias as given, parts in :data:`PARTS`
    order joined with ``+``."""
    parts = space_parts(name, key)
    return name if name in ALIASES else "+".join(parts)


def part_of(space: SearchSpace, kind: type[SearchSpace]) -> SearchSpace | None:
    """``space`` itself if it is a ``kind``, its part of that class if combined, else None."""
    if isinstance(space, kind):
        return space
    if isinstance(space, CombinedSpace):
        return space.part(kind)
    return None


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
    """The search space ``kind`` (a name of :data:`SPACES` or parts joined with ``+``) for
    ``scenario``.

    ``options`` are the ``[search]`` parameters of the spaces: ``pattern`` (delays per link
    before the pattern repeats), ``phases``, ``per_receiver`` (Byzantine radius and angle, and
    lags), ``radius_max``, ``frame``, ``lag_phases``.
    """
    from ..checks import as_choice, as_float, as_int

    parts = space_parts(kind, key)
    built: list[SearchSpace] = []
    if "delays" in parts:
        delta = require_delta(scenario, "a delay search")
        pattern = as_int(options.get("pattern", 1), "search.pattern", low=1)
        built.append(DelaySpace(links=network_links(scenario), pattern=pattern, delta=delta))
    if "byzantine" in parts or "lags" in parts:
        net = scenario.network
        what = "a Byzantine search" if "byzantine" in parts else "a lag search"
        if not net.byzantine:
            raise ScenarioError(
                "network.byzantine",
                f"{what} needs a Byzantine agent",
                [],
                "at least one id",
            )
        per_receiver = options.get("per_receiver", True)
        if not isinstance(per_receiver, bool):
            raise ScenarioError(
                "search.per_receiver", "must be true or false", per_receiver, "true | false"
            )
        if scenario.protocol.kind == "ce" and per_receiver:
            receivers, rows = tuple(net.honest), net.n
        else:
            receivers, rows = (0,), 1
    if "byzantine" in parts:
        phases = as_int(options.get("phases", 1), "search.phases", low=1)
        radius_max = as_float(
            options.get("radius_max", 1.5), "search.radius_max", low=0.0, low_open=True
        )
        frame = as_choice(options.get("frame", "optimum"), "search.frame", ("optimum", "honest"))
        delivery = (scenario.raw.get("adversary") or {}).get("delivery")
        built.append(ByzantineSpace(receivers, rows, phases, radius_max, frame, delivery))
    if "lags" in parts:
        delta = require_delta(scenario, "a lag search (Byzantine lags lie in [0, Delta])")
        lag_phases = as_int(options.get("lag_phases", 1), "search.lag_phases", low=1)
        if "byzantine" in parts:
            values_from = "radius and angle searched"
        elif (scenario.raw.get("adversary") or {}).get("kind") == "parametric":
            values_from = "the scenario's radius and angle"
        else:
            values_from = "radius 1, angle 0: filter_aware's value"
        built.append(LagSpace(receivers, rows, lag_phases, delta, values_from))
    if "offsets" in parts:
        built.append(OffsetSpace(scenario.network.n, require_offset(scenario)))
    if len(built) == 1:
        return built[0]
    return CombinedSpace(tuple(built))


def require_offset(scenario: Scenario) -> float:
    """eps = ``network.clocks.offset`` of a CE scenario on imperfect lock-step clocks, or a
    ScenarioError naming the key that stands in the way of an offset search."""
    proto = scenario.protocol
    if proto.kind != "ce":
        raise ScenarioError(
            "protocol.kind",
            "an offset search varies the agents' lock-step clocks; the CGC server keeps the "
            "only clock",
            proto.kind,
            'protocol.kind = "ce" on the lock-step clock, with [network.clocks]',
        )
    if proto.clock != "lockstep":
        raise ScenarioError(
            "protocol.clock",
            "an offset search varies the lock-step clocks; the event clock keeps no shared clock",
            proto.clock,
            '"lockstep", with [network.clocks]',
        )
    clocks = scenario.network.clocks
    if clocks is None:
        raise ScenarioError(
            "network.clocks",
            "an offset search needs the clock offset bound eps the scenario declares, and it "
            "declares no [network.clocks]",
            None,
            "a [network.clocks] table with offset = <simulated s> > 0",
        )
    if not clocks.offset > 0:
        raise ScenarioError(
            "network.clocks.offset",
            "an offset search varies the offsets within [-eps, eps]: eps = 0 leaves nothing",
            clocks.offset,
            "> 0 (simulated s)",
        )
    return clocks.offset
