"""Link delay models (registry), in simulated seconds.

A model is one small frozen dataclass with ``sample(rng, size)``. Every directed link owns a
stream (:mod:`netsim.rng`, KIND 0) and the k-th message on a link uses that link's k-th draw, so a
link's delays never depend on how other events interleave (spec/engine.md). Drawing ``k`` values
at once gives the same numbers as ``k`` single draws (a batched engine relies on it; tested).

Each i.i.d. model states its ``expectation``, its ``variance`` and its ``upper_bound`` (``inf``
when unbounded): tests hold the empirical moments of many draws against them, and the default
round deadline uses the bound (spec/ce.md, "The round deadline").

The engine asks a model for one message's delay with :meth:`DelayModel.delay` (sender, receiver,
send time). Models compose: ``matrix`` adds a per-pair base latency to a jitter model,
``stragglers`` multiplies the delays of some agents' links (and their compute time),
``profile`` multiplies delays by a piecewise-constant factor of the send time. A composite takes
its inner model as a nested table (``base = { model = "exponential", mean = 0.01 }``) and draws
from the same link stream, in the same order, as that inner model would.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .checks import as_float, as_int, as_staircase
from .errors import ScenarioError
from .portable import exp, row_norms
from .registry import Registry
from .rng import GEOMETRY, Stream, stream
from .variates import EXPONENTIAL_MAX, NORMAL_MAX, exponential, lomax, standard_normal, uniform

DELAY_MODELS: Registry = Registry("delay model", name_field="model")

# No draw may exceed this (simulated seconds): send times add up delays over up to ~10^17
# rounds and must stay finite floats (the largest is ~1.8e308).
MAX_DELAY = 1e290
# The largest standard draws (netsim.variates: every uniform is at least 2^-53): an
# exponential of mean 1 is at most 53 ln 2 (~36.74), a standard normal at most ~8.21 in size.
EXPONENTIAL_DRAW_MAX = EXPONENTIAL_MAX
NORMAL_DRAW_MAX = NORMAL_MAX


def _bounded_draws(key: str, value: float, largest: float, allowed: str) -> None:
    """An unbounded model's parameter must keep its largest possible draw <= MAX_DELAY."""
    if not largest <= MAX_DELAY:
        raise ScenarioError(
            key, f"lets a draw exceed {MAX_DELAY:g} s (the tail is too heavy)", value, allowed
        )


def drawn_valid(delays: np.ndarray) -> bool:
    """Whether every delay of ``delays`` is finite and >= 0 (a NaN fails both comparisons)."""
    return not delays.size or bool(delays.min() >= 0 and delays.max() < np.inf)


def check_drawn(model: str, delays: np.ndarray) -> None:
    """A drawn delay must be finite and >= 0: :class:`ScenarioError` naming ``network.delay``
    and the first bad value otherwise (what every engine checks each used draw with)."""
    if drawn_valid(delays):
        return
    bad = ~(np.isfinite(delays) & (delays >= 0))
    if bad.any():
        raise ScenarioError(
            "network.delay",
            f"model {model!r} drew an invalid delay",
            float(delays[bad][0]),
            ">= 0 and finite",
        )


class DelayModel:
    """Base class: subclasses implement :meth:`_draw` and the three moments/bounds."""

    name: str = ""

    def sample(self, rng: Stream, size: int) -> np.ndarray:
        """``size`` delays (simulated seconds); a negative or non-finite draw is an error here."""
        delays = np.asarray(self._draw(rng, size), dtype=np.float64)
        check_drawn(self.name, delays)
        return delays

    def _draw(self, rng: Stream, size: int) -> np.ndarray:
        """``size`` draws: one uniform each from ``rng``, through :meth:`from_uniforms` (a
        leaf model reads exactly one uniform per message, or none)."""
        return self.from_uniforms(np.asarray(rng.random(size), dtype=np.float64))

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        """The delays of uniforms ``u`` in (0, 1), element-wise (a leaf's inverse CDF): the
        fast engine computes a round's uniforms in one call and transforms them here."""
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

    @property
    def largest_draw(self) -> float:
        """The largest delay a draw can take in floating point: :attr:`upper_bound`, except for
        unbounded models, whose samplers still return at most a finite value. A scenario is
        valid only if it is at most :data:`MAX_DELAY`."""
        return self.upper_bound

    @property
    def lower_bound(self) -> float:
        """A delay no draw goes below (0 unless the model knows better)."""
        return 0.0

    def delay(self, rng: Stream, sender: int, receiver: int, send_time: float) -> float:
        """The delay of one message on link sender -> receiver sent at ``send_time`` (s): the
        next uniform of ``rng`` through :meth:`from_uniforms` (the stream transforms 32 at a
        time, the same bits as :meth:`sample`), checked as :meth:`sample` checks it."""
        mapped = getattr(rng, "mapped", None)  # a keyed stream; any Generator works too
        if mapped is None:
            return float(self.sample(rng, 1)[0])
        delay = mapped(self.from_uniforms)
        if not (delay >= 0.0 and math.isfinite(delay)):
            check_drawn(self.name, np.array([delay]))
        return delay

    @property
    def uniform_map(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """The map from a message's uniform to what :meth:`delay` asks its stream for (a
        leaf's :meth:`from_uniforms`; a wrapper's inner model's), or None when unknown (the
        model overrides :meth:`delay`) or when it draws nothing. Lets an engine compute many
        links' next draws in one call (:class:`netsim.engine.network.LinkWindow`); a wrong
        answer only wastes that work: a stream keeps values under the map that made them."""
        return self.from_uniforms if type(self).delay is DelayModel.delay else None

    def compute_factor(self, agent: int) -> float:
        """How much slower ``agent`` computes under this model (stragglers); 1 by default."""
        return 1.0

    def for_network(self, n: int, seed: int) -> DelayModel:
        """This model fitted to a network of n agents (a matrix checks or draws its n x n
        base); most models need nothing and return themselves."""
        return self


@DELAY_MODELS.register("constant")
@dataclass(frozen=True)
class Constant(DelayModel):
    """Every message takes exactly ``value`` simulated seconds (draws nothing from the stream)."""

    value: float

    def __post_init__(self) -> None:
        as_float(self.value, "value", low=0.0)

    def _draw(self, rng: Stream, size: int) -> np.ndarray:
        return np.full(size, float(self.value))  # draws nothing

    def delay(self, rng: Stream, sender: int, receiver: int, send_time: float) -> float:
        return float(self.value)

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), float(self.value))

    @property
    def expectation(self) -> float:
        return float(self.value)

    @property
    def variance(self) -> float:
        return 0.0

    @property
    def upper_bound(self) -> float:
        return float(self.value)

    @property
    def lower_bound(self) -> float:
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

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        return uniform(u, float(self.low), float(self.high))

    @property
    def expectation(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    @property
    def upper_bound(self) -> float:
        return float(self.high)

    @property
    def lower_bound(self) -> float:
        return float(self.low)


@DELAY_MODELS.register("exponential")
@dataclass(frozen=True)
class Exponential(DelayModel):
    """Delay ~ Exp(mean): memoryless, unbounded link latency; one draw per message."""

    mean: float

    def __post_init__(self) -> None:
        as_float(self.mean, "mean", low=0.0, low_open=True)
        limit = MAX_DELAY / EXPONENTIAL_DRAW_MAX
        _bounded_draws("mean", self.mean, self.largest_draw, f"> 0 and <= {limit:.4g}")

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        return exponential(u, float(self.mean))

    @property
    def expectation(self) -> float:
        return float(self.mean)

    @property
    def largest_draw(self) -> float:
        return float(self.mean) * EXPONENTIAL_DRAW_MAX

    @property
    def variance(self) -> float:
        return float(self.mean) ** 2

    @property
    def upper_bound(self) -> float:
        return math.inf


@DELAY_MODELS.register("lognormal")
@dataclass(frozen=True)
class LogNormal(DelayModel):
    """Delay = median * exp(sigma Z), Z ~ N(0, 1): right-skewed latency with a heavy-ish tail."""

    median: float
    sigma: float

    def __post_init__(self) -> None:
        as_float(self.median, "median", low=0.0, low_open=True)
        as_float(self.sigma, "sigma", low=0.0)
        limit = (math.log(MAX_DELAY) - math.log(self.median)) / NORMAL_DRAW_MAX
        _bounded_draws(
            "sigma",
            self.sigma,
            self.largest_draw,
            f">= 0 and <= {limit:.4g} (median {self.median:g})",
        )

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        # median * exp(sigma Z) rather than exp(log median + sigma Z): sigma = 0 gives exactly
        # the median (exp(log m) need not equal m).
        return float(self.median) * exp(float(self.sigma) * standard_normal(u))

    @property
    def expectation(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)

    @property
    def variance(self) -> float:
        return self.median**2 * (math.exp(self.sigma**2) - 1) * math.exp(self.sigma**2)

    @property
    def upper_bound(self) -> float:
        return math.inf if self.sigma > 0 else float(self.median)

    @property
    def largest_draw(self) -> float:
        exponent = math.log(self.median) + self.sigma * NORMAL_DRAW_MAX
        return math.exp(exponent) if exponent < math.log(MAX_DELAY) else math.inf


@DELAY_MODELS.register("pareto")
@dataclass(frozen=True)
class Pareto(DelayModel):
    """Shifted Pareto (Lomax): delay = scale (U^(-1/shape) - 1), starting at 0, with a power-law
    tail P(delay > x) = (1 + x/scale)^(-shape). Mean finite for shape > 1, variance for > 2."""

    scale: float
    shape: float

    def __post_init__(self) -> None:
        as_float(self.scale, "scale", low=0.0, low_open=True)
        as_float(self.shape, "shape", low=0.0, low_open=True)
        limit = EXPONENTIAL_DRAW_MAX / math.log1p(MAX_DELAY / self.scale)
        _bounded_draws(
            "shape", self.shape, self.largest_draw, f">= {limit:.4g} (scale {self.scale:g})"
        )

    def from_uniforms(self, u: np.ndarray) -> np.ndarray:
        return float(self.scale) * lomax(u, float(self.shape))

    @property
    def expectation(self) -> float:
        return self.scale / (self.shape - 1) if self.shape > 1 else math.inf

    @property
    def variance(self) -> float:
        if self.shape <= 2:
            return math.inf
        return self.scale**2 * self.shape / ((self.shape - 1) ** 2 * (self.shape - 2))

    @property
    def upper_bound(self) -> float:
        return math.inf

    @property
    def largest_draw(self) -> float:
        """scale (exp(E / shape) - 1), E the largest standard exponential draw."""
        exponent = EXPONENTIAL_DRAW_MAX / self.shape
        if exponent < 700:
            return self.scale * math.expm1(exponent)
        logarithm = math.log(self.scale) + exponent  # of scale e^exponent, past 1e304
        return math.exp(logarithm) if logarithm < math.log(MAX_DELAY) else math.inf


def _nested(value: Any, key: str) -> DelayModel:
    """A nested delay-model table (``base``, ``jitter``) built through the registry."""
    if isinstance(value, DelayModel):
        return value
    if not isinstance(value, Mapping) or "model" not in value:
        raise ScenarioError(key, "must be a delay-model table", value, '{ model = "...", ... }')
    params = dict(value)
    return DELAY_MODELS.build(params.pop("model"), params, key)


class CompositeModel(DelayModel):
    """A model wrapping another one (``inner``); moments are per link, so not stated."""

    @property
    def inner(self) -> DelayModel:
        raise NotImplementedError

    @property
    def uniform_map(self) -> Callable[[np.ndarray], np.ndarray] | None:
        return self.inner.uniform_map  # each message draws once, from the inner model

    def compute_factor(self, agent: int) -> float:
        return self.inner.compute_factor(agent)

    @property
    def expectation(self) -> float:
        raise NotImplementedError(f"{self.name!r} delays depend on the link: no single mean")

    @property
    def variance(self) -> float:
        raise NotImplementedError(f"{self.name!r} delays depend on the link: no single variance")


@DELAY_MODELS.register("matrix")
@dataclass(frozen=True)
class Matrix(CompositeModel):
    """Per-pair base latency plus jitter: delay(j -> i) = base[j][i] + jitter draw.

    ``base`` is an n x n matrix of simulated seconds (the diagonal is unused), or it is drawn:
    with ``plane = L`` the n agents are placed uniformly at random in the unit square (network
    stream, rng KIND 3) and base[j][i] = L ||p_j - p_i||. Links to and from the CGC server use
    the mean of the off-diagonal entries (a homogeneous star: per-agent server latencies are not
    modelled yet). ``jitter`` is a nested delay model (default: none).
    """

    base: Any = None
    plane: float | None = None
    jitter: Any = None

    def __post_init__(self) -> None:
        if (self.base is None) == (self.plane is None):
            raise ScenarioError(
                "base",
                "give exactly one of base (an n x n matrix) or plane",
                self.base,
                "base = [[...], ...] or plane = <seconds>",
            )
        if self.plane is not None:
            as_float(self.plane, "plane", low=0.0)
        else:
            rows = self.base
            if not isinstance(rows, (list, tuple)) or not rows:
                raise ScenarioError("base", "must be an n x n matrix", rows, "a list of n rows")
            for r, row in enumerate(rows):
                if not isinstance(row, (list, tuple)) or len(row) != len(rows):
                    raise ScenarioError(
                        f"base[{r}]",
                        "must have one entry per agent",
                        row,
                        f"a list of {len(rows)} delays >= 0",
                    )
                for c, entry in enumerate(row):
                    as_float(entry, f"base[{r}][{c}]", low=0.0)
            object.__setattr__(self, "base", tuple(tuple(float(v) for v in row) for row in rows))
        object.__setattr__(
            self, "jitter", _nested(self.jitter or {"model": "constant", "value": 0.0}, "jitter")
        )

    @property
    def inner(self) -> DelayModel:
        return self.jitter

    def for_network(self, n: int, seed: int) -> DelayModel:
        if self.plane is None:
            if len(self.base) != n:
                raise ScenarioError(
                    "base", "must be an n x n matrix", f"{len(self.base)} rows", f"{n} x {n}"
                )
            return self
        points = stream(seed, GEOMETRY, 0, 0).uniform(0.0, 1.0, (n, 2))
        gaps = row_norms(points[:, None, :] - points[None, :, :])
        base = tuple(tuple(float(v) for v in row) for row in self.plane * gaps)
        return _Drawn(base=base, jitter=self.jitter, plane=self.plane)

    def delay(self, rng: Stream, sender: int, receiver: int, send_time: float) -> float:
        if sender < 0 or receiver < 0:  # the CGC server: the mean latency between agents
            base = np.asarray(self.base)
            latency = float(base[~np.eye(len(base), dtype=bool)].mean())
        else:
            latency = self.base[sender][receiver]
        return latency + self.jitter.delay(rng, sender, receiver, send_time)

    @property
    def upper_bound(self) -> float:
        if self.base is None:
            return math.inf  # drawn later; for_network gives the bound
        return max(max(row) for row in self.base) + self.jitter.upper_bound

    @property
    def largest_draw(self) -> float:
        if self.base is None:
            return math.inf
        return max(max(row) for row in self.base) + self.jitter.largest_draw

    @property
    def lower_bound(self) -> float:
        if self.base is None:
            return 0.0
        n = len(self.base)
        off = [self.base[i][j] for i in range(n) for j in range(n) if i != j]
        return min(off, default=0.0) + self.jitter.lower_bound


@dataclass(frozen=True)
class _Drawn(Matrix):
    """A ``matrix`` whose base was drawn from random points (keeps ``plane`` for the record)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "jitter", _nested(self.jitter, "jitter"))


_Drawn.name = "matrix"


@DELAY_MODELS.register("stragglers")
@dataclass(frozen=True)
class Stragglers(CompositeModel):
    """Some agents are slow: every link from or to one of ``agents`` takes ``factor`` times the
    ``base`` model's delay, and those agents compute ``factor`` times longer."""

    agents: tuple[int, ...]
    factor: float
    base: Any

    def __post_init__(self) -> None:
        if not isinstance(self.agents, (list, tuple)):
            raise ScenarioError(
                "agents", "must be a list of agent ids", self.agents, "a list of ids"
            )
        agents = tuple(as_int(a, f"agents[{k}]", low=0) for k, a in enumerate(self.agents))
        object.__setattr__(self, "agents", agents)
        as_float(self.factor, "factor", low=1.0)
        object.__setattr__(self, "base", _nested(self.base, "base"))

    @property
    def inner(self) -> DelayModel:
        return self.base

    def for_network(self, n: int, seed: int) -> DelayModel:
        for k, agent in enumerate(self.agents):
            as_int(agent, f"agents[{k}]", low=0, high=n - 1)
        return replace(self, base=self.base.for_network(n, seed))

    def delay(self, rng: Stream, sender: int, receiver: int, send_time: float) -> float:
        drawn = self.base.delay(rng, sender, receiver, send_time)
        slow = sender in self.agents or receiver in self.agents
        return drawn * self.factor if slow else drawn

    def compute_factor(self, agent: int) -> float:
        return (self.factor if agent in self.agents else 1.0) * self.base.compute_factor(agent)

    @property
    def upper_bound(self) -> float:
        return self.factor * self.base.upper_bound

    @property
    def largest_draw(self) -> float:
        return self.factor * self.base.largest_draw

    @property
    def lower_bound(self) -> float:
        return min(self.factor, 1.0) * self.base.lower_bound


@DELAY_MODELS.register("profile")
@dataclass(frozen=True)
class Profile(CompositeModel):
    """A time-varying network: delays of messages sent at simulated time s are multiplied by
    ``multipliers[k]`` for ``times[k-1] <= s < times[k]`` (e.g. a congestion burst:
    times = [2.0, 3.0], multipliers = [1, 10, 1])."""

    times: tuple[float, ...]
    multipliers: tuple[float, ...]
    base: Any

    def __post_init__(self) -> None:
        times, factors = as_staircase(
            self.times,
            self.multipliers,
            ("times", "multipliers"),
            lambda t, key: as_float(t, key, low=0.0),
            "increasing times >= 0",
        )
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "multipliers", factors)
        object.__setattr__(self, "base", _nested(self.base, "base"))

    @property
    def inner(self) -> DelayModel:
        return self.base

    def for_network(self, n: int, seed: int) -> DelayModel:
        return replace(self, base=self.base.for_network(n, seed))

    def multiplier(self, send_time: float) -> float:
        return self.multipliers[bisect.bisect_right(self.times, send_time)]

    def delay(self, rng: Stream, sender: int, receiver: int, send_time: float) -> float:
        return self.multiplier(send_time) * self.base.delay(rng, sender, receiver, send_time)

    @property
    def upper_bound(self) -> float:
        return max(self.multipliers) * self.base.upper_bound

    @property
    def largest_draw(self) -> float:
        return max(self.multipliers) * self.base.largest_draw

    @property
    def lower_bound(self) -> float:
        return min(self.multipliers) * self.base.lower_bound


def link_key(sender: int, receiver: int) -> str:
    """The name of link sender -> receiver in a ``scheduled`` table: ``"0->3"``, and
    ``"server->3"`` / ``"3->server"`` for the CGC server's links (node id -1)."""
    return f"{'server' if sender < 0 else sender}->{'server' if receiver < 0 else receiver}"


def _parse_link(key: Any, where: str) -> tuple[int, int]:
    text = str(key)
    sender, sep, receiver = text.partition("->")
    try:
        ends = tuple(-1 if part.strip() == "server" else int(part) for part in (sender, receiver))
    except ValueError:
        ends = None
    if not sep or ends is None or min(ends) < -1 or ends[0] == ends[1]:
        raise ScenarioError(
            where, "is not a link", key, '"j->i" (agent ids, j != i), "server->i" or "i->server"'
        )
    return ends  # type: ignore[return-value]


@DELAY_MODELS.register("scheduled")
@dataclass(frozen=True)
class Scheduled(CompositeModel):
    """An explicit delay schedule: the k-th message on link j -> i takes the table's entry for k,
    in simulated seconds. The adversarial scheduler of partial synchrony, written down, so that a
    schedule found by ``netsim search`` is a plain scenario that replays exactly.

    - ``delays``: link -> list of delays (s); links are ``"j->i"``, ``"server->i"`` and
      ``"i->server"`` (:func:`link_key`). Entry e of a list is the delay of the link's message
      ``first + e`` (messages are counted per link from 0, in send order).
    - ``repeat``: past the end of its list a link starts the list again (message k >= first uses
      entry (k - first) mod len: a per-round pattern for long runs) when true; when false
      (default), messages past the end take ``default``'s delay, as do messages before ``first``.
    - ``default``: the nested model of the links not listed and of the messages the lists do not
      cover (default: constant 0). It draws for *every* message of every link, covered or not, so
      that each link's stream stays where it would be under ``default`` alone: an uncovered
      message takes exactly the delay it would take without the table.

    Under ``network.asynchrony`` the engine still caps honest delays at Delta after GST, so a
    table entry above Delta acts as Delta there. The per-link message count is kept in the model,
    keyed by the link's random stream (one per link and run).
    """

    delays: Any
    first: int = 0
    repeat: bool = False
    default: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.delays, Mapping) or not self.delays:
            raise ScenarioError(
                "delays",
                "must be a table of links",
                self.delays,
                '{ "0->1" = [0.01, 0.02], ... } (simulated s per message)',
            )
        tables: dict[tuple[int, int], tuple[float, ...]] = {}
        for key, entries in self.delays.items():
            where = f"delays.{key}"
            link = _parse_link(key, where)
            if not isinstance(entries, (list, tuple)) or not entries:
                raise ScenarioError(
                    where, "must be a non-empty list of delays", entries, "delays >= 0 (s)"
                )
            if link in tables:
                raise ScenarioError(where, "link listed twice", key, "one list per link")
            tables[link] = tuple(
                as_float(v, f"{where}[{k}]", low=0.0) for k, v in enumerate(entries)
            )
        object.__setattr__(self, "delays", {link_key(*link): list(v) for link, v in tables.items()})
        as_int(self.first, "first", low=0)
        if not isinstance(self.repeat, bool):
            raise ScenarioError("repeat", "must be true or false", self.repeat, "true | false")
        object.__setattr__(
            self, "default", _nested(self.default or {"model": "constant", "value": 0.0}, "default")
        )
        object.__setattr__(self, "_tables", tables)
        object.__setattr__(self, "_sent", {})  # id(link stream) -> [stream, messages so far]

    @property
    def inner(self) -> DelayModel:
        return self.default

    def for_network(self, n: int, seed: int) -> DelayModel:
        for sender, receiver in self._tables:  # type: ignore[attr-defined]
            if max(sender, receiver) >= n:
                raise ScenarioError(
                    f"delays.{link_key(sender, receiver)}",
                    "names an agent outside the network",
                    link_key(sender, receiver),
                    f"agent ids 0..{n - 1} or server",
                )
        return replace(self, default=self.default.for_network(n, seed))

    def delay(self, rng: Stream, sender: int, receiver: int, send_time: float) -> float:
        drawn = self.default.delay(rng, sender, receiver, send_time)
        table = self._tables.get((sender, receiver))  # type: ignore[attr-defined]
        if table is None:
            return drawn
        # Each link owns its stream for the whole run, so the stream identifies the link of
        # this run; the stream itself is kept so that its id cannot be reused meanwhile.
        record = self._sent.setdefault(id(rng), [rng, 0])  # type: ignore[attr-defined]
        k = record[1]
        record[1] += 1
        entry = k - self.first
        if entry < 0 or (entry >= len(table) and not self.repeat):
            return drawn
        return table[entry % len(table)]

    @property
    def upper_bound(self) -> float:
        entries = max(max(v) for v in self._tables.values())  # type: ignore[attr-defined]
        return max(entries, self.default.upper_bound)

    @property
    def largest_draw(self) -> float:
        entries = max(max(v) for v in self._tables.values())  # type: ignore[attr-defined]
        return max(entries, self.default.largest_draw)
