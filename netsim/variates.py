"""Random variates from uniforms, and keyed streams that draw them (pure numpy, portable).

Every transform here is a pure, element-wise function of uniforms u in (0, 1) (the grid of
:mod:`netsim.philox`: u = (k + 1/2) 2^-52), built from the operations IEEE 754 rounds exactly
and :mod:`netsim.portable`'s fixed-algorithm ``log`` and ``exp``, so that a variate has the
same bits on every CPU, whether it is computed alone or in a batch of a million:

* exponential with mean m: -m log u (inverse CDF);
* standard normal: Phi^-1(u) by Wichura's algorithm AS 241 (Applied Statistics 37, 1988;
  relative error about 1e-16), which needs only log and sqrt;
* Lomax (numpy's ``pareto``, shape a): exp(-log(u) / a) - 1 (inverse CDF);
* uniform on [low, high): low + (high - low) u, computed on halves when high - low overflows;
* a permutation of k items: the stable argsort of k uniforms.

The largest values these give follow from the grid: u >= 2^-53, so -log u <= 53 ln 2
(:data:`EXPONENTIAL_MAX`, about 36.74) and |Phi^-1(u)| <= :data:`NORMAL_MAX` (about 8.21).

:class:`KeyedStream` is a drop-in for the few ``numpy.random.Generator`` methods netsim calls
(``random``, ``uniform``, ``exponential``, ``standard_normal``, ``normal``, ``pareto``,
``permutation``): the j-th variate it returns is computed from counter ``index = j`` of its
entity, so drawing K at once or one at a time gives the same numbers, by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .philox import uniform_part
from .portable import exp, log

EXPONENTIAL_MAX = 53 * math.log(2.0)  # -log of the smallest uniform, 2^-53

# AS 241 (PPND16): numerators and denominators, highest degree first, for the three ranges.
_CENTRAL = (
    (
        2.5090809287301226727e3,
        3.3430575583588128105e4,
        6.7265770927008700853e4,
        4.5921953931549871457e4,
        1.3731693765509461125e4,
        1.9715909503065514427e3,
        1.3314166789178437745e2,
        3.3871328727963666080e0,
    ),
    (
        5.2264952788528545610e3,
        2.8729085735721942674e4,
        3.9307895800092710610e4,
        2.1213794301586595867e4,
        5.3941960214247511077e3,
        6.8718700749205790830e2,
        4.2313330701600911252e1,
        1.0,
    ),
)
_INTERMEDIATE = (
    (
        7.74545014278341407640e-4,
        2.27238449892691845833e-2,
        2.41780725177450611770e-1,
        1.27045825245236838258e0,
        3.64784832476320460504e0,
        5.76949722146069140550e0,
        4.63033784615654529590e0,
        1.42343711074968357734e0,
    ),
    (
        1.05075007164441684324e-9,
        5.47593808499534494600e-4,
        1.51986665636164571966e-2,
        1.48103976427480074590e-1,
        6.89767334985100004550e-1,
        1.67638483018380384940e0,
        2.05319162663775882187e0,
        1.0,
    ),
)
_TAIL = (
    (
        2.01033439929228813265e-7,
        2.71155556874348757815e-5,
        1.24266094738807843860e-3,
        2.65321895265761230930e-2,
        2.96560571828504891230e-1,
        1.78482653991729133580e0,
        5.46378491116411436990e0,
        6.65790464350110377720e0,
    ),
    (
        2.04426310338993978564e-15,
        1.42151175831644588870e-7,
        1.84631831751005468180e-5,
        7.86869131145613259100e-4,
        1.48753612908506148525e-2,
        1.36929880922735805310e-1,
        5.99832206555887937690e-1,
        1.0,
    ),
)


def _horner(coefficients: tuple[float, ...], r: np.ndarray) -> np.ndarray:
    value = np.full_like(r, coefficients[0])
    for c in coefficients[1:]:
        value = value * r + c
    return value


def standard_normal(u: np.ndarray) -> np.ndarray:
    """Phi^-1(u) for u in (0, 1), by AS 241 (PPND16): a rational function of
    r = 0.180625 - (u - 1/2)^2 for |u - 1/2| <= 0.425, otherwise of r = sqrt(-log(min(u,
    1 - u))) - 1.6 (r <= 5) or - 5, the sign of u - 1/2. Odd: Phi^-1(1 - u) = -Phi^-1(u) bit
    for bit on the uniform grid (1 - u is exact)."""
    u = np.asarray(u, dtype=np.float64)
    q = u - 0.5
    out = np.empty(u.shape)
    central = np.abs(q) <= 0.425
    if central.any():
        qc = q[central]
        r = 0.180625 - qc * qc
        out[central] = qc * _horner(_CENTRAL[0], r) / _horner(_CENTRAL[1], r)
    tails = ~central
    if tails.any():
        qt = q[tails]
        smaller = np.where(qt <= 0.0, u[tails], 1.0 - u[tails])
        r = np.sqrt(-log(smaller))
        near = r <= 5.0
        value = np.empty(r.shape)
        rn = r[near] - 1.6
        value[near] = _horner(_INTERMEDIATE[0], rn) / _horner(_INTERMEDIATE[1], rn)
        rf = r[~near] - 5.0
        value[~near] = _horner(_TAIL[0], rf) / _horner(_TAIL[1], rf)
        out[tails] = np.where(qt < 0.0, -value, value)
    return out


NORMAL_MAX = float(-standard_normal(np.array([2.0**-53]))[0])


def exponential(u: np.ndarray, mean: float = 1.0) -> np.ndarray:
    """-mean log u: exponential with the given mean (inverse CDF of the upper tail)."""
    return mean * -log(u)


def lomax(u: np.ndarray, shape: float) -> np.ndarray:
    """u^(-1/shape) - 1 = exp(-log(u) / shape) - 1: numpy's ``pareto(shape)`` (Lomax), whose
    tail is P(X > x) = (1 + x)^-shape."""
    return exp(-log(u) / shape) - 1.0


def uniform(u: np.ndarray, low: float, high: float) -> np.ndarray:
    """low + (high - low) u; when high - low overflows (bounds near +-1e308) the same on
    halves, doubled: finite whenever the bounds are."""
    width = high - low
    if math.isfinite(width) or not (math.isfinite(low) and math.isfinite(high)):
        return low + width * u
    return 2.0 * (low / 2.0 + (high / 2.0 - low / 2.0) * u)


LOOKAHEAD = 32  # KeyedStream computes at least this many variates per call (see there)
LOOKAHEAD_MAX = 1 << 12  # ... and up to 32 calls of the same size ahead, within this


class KeyedStream:
    """The draws of one entity ``(kind, a, b)`` under ``seed`` (:mod:`netsim.philox`), in the
    order they are asked for: the j-th variate uses counter index ``j`` with the stream's
    ``draw`` (0 unless the entity needs several sequences) and, of the counter's two uniforms,
    the first (``part`` 0) or the second (``part`` 1: a link's loss decisions use the second
    uniform of the counter whose first gives the message's delay). Implements the
    ``numpy.random.Generator`` methods that netsim's models, adversaries and filters call,
    with numpy's parameter names.

    ``position`` is the index of the next draw; setting it reads from anywhere in the
    sequence (a link reads message k's delay at index k). Since a variate is a pure function
    of its index, a call computes those of the next :data:`LOOKAHEAD` calls of its size at once
    (at least 32 variates, at most :data:`LOOKAHEAD_MAX` unless the call itself asks for more)
    with the same transform and keeps them: a per-message engine asking for one delay at a
    time pays one vectorized computation per 32 messages (and keeps 32 floats per link), an
    attack drawing a 100-vector every round one per 32 rounds; the numbers are those of any
    other batching.
    """

    def __init__(self, seed: int, kind: int, a: int, b: int = 0, draw: int = 0, part: int = 0):
        if part not in (0, 1):
            raise ValueError(f"part is 0 or 1 (a counter gives two uniforms), got {part}")
        self.seed, self.kind, self.a, self.b, self.draw, self.part = seed, kind, a, b, draw, part
        self.position = 0  # the index of the next draw
        self._kept: tuple[tuple, int, np.ndarray] | None = None  # (transform, start, values)
        self._rows: _RowBlock | None = None  # the block compute_ahead last computed it in

    def uniforms(self, index: np.ndarray) -> np.ndarray:
        """This stream's uniform of each counter ``index`` (no position change)."""
        return uniform_part(self.seed, self.kind, self.a, self.b, index, self.draw, self.part)

    def _take(self, transform: tuple, size: int | tuple[int, ...] | None) -> np.ndarray:
        """The next ``size`` variates of ``transform`` (a name and its parameters)."""
        shape = () if size is None else (size,) if isinstance(size, int | np.integer) else size
        count = math.prod(shape)
        start, stop = self.position, self.position + count
        if not self.holds(transform, count):
            ahead = max(count, min(LOOKAHEAD * count, LOOKAHEAD_MAX), LOOKAHEAD)
            index = np.arange(start, start + ahead, dtype=np.int64)
            self._kept = (transform, start, _apply(transform, self.uniforms(index)))
        kept = self._kept
        assert kept is not None
        self.position = stop
        return kept[2][start - kept[1] : stop - kept[1]].reshape(shape)

    def holds(self, transform: tuple, count: int) -> bool:
        """Whether the next ``count`` variates of ``transform`` are already computed."""
        kept = self._kept
        return (
            kept is not None
            and kept[0] == transform
            and kept[1] <= self.position
            and self.position + count <= kept[1] + len(kept[2])
        )

    def keep(self, transform: tuple, start: int, values: np.ndarray) -> None:
        """Hold ``values``, the variates of ``transform`` from index ``start`` on (computed by
        :func:`draw_rows` for many streams at once)."""
        self._kept = (transform, start, values)

    def take_kept(self, count: int) -> np.ndarray:
        """The next ``count`` variates held (:meth:`holds` is true for them): a view."""
        kept = self._kept
        assert kept is not None
        offset = self.position - kept[1]
        self.position += count
        return kept[2][offset : offset + count]

    @staticmethod
    def _result(values: np.ndarray, size: object) -> np.ndarray | float:
        return float(values) if size is None else values.copy()

    def random(
        self, size: int | tuple[int, ...] | None = None, out: np.ndarray | None = None
    ) -> np.ndarray | float:
        """Uniforms in (0, 1); ``out``: written in place (its shape is the size)."""
        if out is not None:
            out[...] = self._take(("random",), out.shape)
            return out
        return self._result(self._take(("random",), size), size)

    def uniform(
        self, low: float = 0.0, high: float = 1.0, size: int | tuple[int, ...] | None = None
    ) -> np.ndarray | float:
        return self._result(self._take(("uniform", float(low), float(high)), size), size)

    def exponential(
        self, scale: float = 1.0, size: int | tuple[int, ...] | None = None
    ) -> np.ndarray | float:
        return self._result(self._take(("exponential", float(scale)), size), size)

    def standard_normal(self, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        return self._result(self._take(("normal",), size), size)

    def normal(
        self, loc: float = 0.0, scale: float = 1.0, size: int | tuple[int, ...] | None = None
    ) -> np.ndarray | float:
        return self._result(float(loc) + float(scale) * self._take(("normal",), size), size)

    def pareto(self, a: float, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        return self._result(self._take(("lomax", float(a)), size), size)

    def mapped(self, function: Callable[[np.ndarray], np.ndarray]) -> float:
        """The next uniform through ``function``, an element-wise map of uniforms (a delay
        model's inverse CDF): computed for the next :data:`LOOKAHEAD` indices at once, so a
        per-message engine pays one vectorized call per 32 messages; the same bits as
        ``function(u)`` of that one uniform."""
        return float(self._take(("map", function), None))

    def permutation(self, k: int) -> np.ndarray:
        """A uniformly random order of range(k): the stable argsort of k uniforms (the first of
        two equal uniforms, probability 2^-52 a pair, comes first)."""
        return np.argsort(self._take(("random",), k), kind="stable")


_TRANSFORMS = {
    "random": lambda u: u,
    "uniform": uniform,
    "exponential": exponential,
    "normal": standard_normal,
    "lomax": lomax,
    "map": lambda u, function: function(u),
}


def _apply(transform: tuple, u: np.ndarray) -> np.ndarray:
    return _TRANSFORMS[transform[0]](u, *transform[1:])


ROW_BUDGET = 1 << 20  # draw_rows: variates computed ahead, over all its streams


def draw_rows(
    streams: Sequence[KeyedStream], count: int, transform: tuple = ("random",)
) -> np.ndarray:
    """The next ``count`` variates of ``transform`` of each stream, (k, count): row j is what
    ``streams[j]`` would return alone (``random(count)``, ``uniform(low, high, count)``
    for ``("uniform", low, high)``, ``standard_normal(count)`` for ``("normal",)``, ...), bit
    for bit, and each stream advances by ``count``. Streams of one entity family (the same
    seed, kind, first entity, draw and part: an adversary's streams towards its receivers) are
    computed in one call, several rounds' worth ahead (at most :data:`ROW_BUDGET` in all), so
    an engine asking every round pays one vectorized computation per many rounds, and the
    rounds in between are one slice of the block computed (:class:`_RowBlock`)."""
    taken = _RowBlock.take(streams, count, transform)
    if taken is not None:
        return taken
    rows = np.empty((len(streams), count))
    missing = [stream for stream in streams if not stream.holds(transform, count)]
    if missing:
        width = max(count, LOOKAHEAD, min(16 * count, ROW_BUDGET // len(missing)))
        compute_ahead(missing, width, transform)
    for j, stream in enumerate(streams):  # every stream holds them now
        rows[j] = stream.take_kept(count)
    return rows


@dataclass(frozen=True, eq=False)
class _RowBlock:
    """Variates of several streams computed in one call by :func:`compute_ahead`: row j holds
    ``values[j]``, the variates of ``transform`` of ``streams[j]`` from index ``starts[j]``.
    Every variate is a pure function of its stream and index, so the block serves any later
    :func:`draw_rows` of the same streams (in the same order) and transform whose positions
    all lie the same distance into it, as one slice, whatever was drawn in between."""

    streams: tuple[KeyedStream, ...]
    transform: tuple
    starts: tuple[int, ...]
    values: np.ndarray

    @staticmethod
    def take(streams: Sequence[KeyedStream], count: int, transform: tuple) -> np.ndarray | None:
        """The next ``count`` variates of each stream from their common block (each stream
        advances), or None when they have none that holds them all."""
        block = streams[0]._rows if streams else None
        if block is None or block.transform != transform or block.streams != tuple(streams):
            return None
        offsets = {stream.position - start for stream, start in zip(streams, block.starts)}
        offset = offsets.pop()
        if offsets or offset < 0 or offset + count > block.values.shape[1]:
            return None
        for stream in streams:
            stream.position += count
        return block.values[:, offset : offset + count].copy()


def compute_ahead(streams: Sequence[KeyedStream], width: int, transform: tuple) -> None:
    """Make each stream hold its next ``width`` variates of ``transform`` (from its position;
    no position changes), computed for all the streams of one family (the same seed, kind,
    draw and part; any entities a, b: a network's links, an adversary's receivers) in one
    vectorized call. The values are those each stream would compute alone, bit for bit."""
    families: dict[tuple, list[KeyedStream]] = {}
    for stream in streams:
        key = (stream.seed, stream.kind, stream.draw, stream.part)
        families.setdefault(key, []).append(stream)
    for (seed, kind, draw, part), members in families.items():
        a = np.array([stream.a for stream in members], dtype=np.int64)[:, None]
        b = np.array([stream.b for stream in members], dtype=np.int64)[:, None]
        start = np.array([stream.position for stream in members], dtype=np.int64)
        index = start[:, None] + np.arange(width, dtype=np.int64)[None, :]
        values = _apply(transform, uniform_part(seed, kind, a, b, index, draw, part))
        block = _RowBlock(tuple(members), transform, tuple(start.tolist()), values)
        for stream, first, row in zip(members, block.starts, values):
            stream.keep(transform, first, row)
            stream._rows = block
