"""Byzantine behaviours (registry): what a Byzantine sender sends to each receiver.

An adversary answers one question, per (sender, receiver, round, simulated time): which vector
does this Byzantine sender put on the link to this receiver now (or ``None``: send nothing)?
It may equivocate (a different value for every receiver), and it is *rushing*: its
:class:`View` holds every honest message already sent (spec/README.md). Randomness comes from
the stream of the pair (sender, receiver) (:mod:`netsim.rng`, KIND 2), handed in by the engine.
An attack that needs history (``stale_replay``) keeps it in the run's :class:`RunMemory`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np

from .checks import as_choice, as_float, as_int
from .norms import scale_exponent, scaled_row_norms
from .portable import dot, norm
from .preaggregation import parse_filter, pipeline
from .registry import Registry
from .rng import Stream
from .variates import draw_rows

ADVERSARIES: Registry = Registry("adversary")


@dataclass(frozen=True)
class View:
    """What the engine shows an adversary. Byzantine agents are omniscient and rushing: they
    know the honest costs and optimum and every honest message already sent.

    - ``honest_sent``: honest sender -> the value it sent in ``round``, for the honest agents
      that have already sent it (CE: their estimate; CGC: their gradient reply, kept for the
      server's last two rounds);
    - ``honest_latest``: honest sender -> the most recent value it has sent, any round, in
      agent id order (an attack that reduces over it gets the same sum on every clock);
    - ``target``: what the receiver holds now (CE: the receiver's estimate x_i, None for a
      Byzantine receiver; CGC: the server's w_t that this reply answers);
    - ``optimum``: x_H (CE) or w* (CGC);
    - ``honest_gradients`` (CGC): every honest agent's gradient at ``target``;
    - ``filter``: the name of the receiver's filter (a rule of
      :data:`netsim.aggregators.AGGREGATORS` or a pipeline of :mod:`netsim.preaggregation`),
      None when the engine does not say (an omniscient adversary may tailor its value to it).
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
    memory: dict[str, Any] | None = None  # one dict per run, shared by every call of the run
    filter: str | None = None  # the receiver's filter (netsim.aggregators name), if the engine says


class Adversary(Protocol):
    """The behaviour of the Byzantine agents (one object, shared by all of them: collusion).

    An attack that never sends some values may also define ``withholds_from(receivers) ->
    int | None``: the first round from which one of ``receivers`` (honest peer ids, or [-1]
    for the CGC server) never gets its value. Validation then asks for a round deadline
    (``netsim.config``); without the method, a stall is caught at run time."""

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None: ...


# --- many receivers at once --------------------------------------------------------------------
#
# An engine that asks one sender's values for all its receivers at one instant may call
# :func:`batch_values` instead of ``value`` once per receiver. The answer is the same, bit for
# bit: by default it *is* the loop of ``value`` calls (so a new attack stays one small class
# with one method); a class may add a ``values`` method that computes the same rows with
# array operations (elementwise float operations give the same IEEE results on an array as on
# one vector), drawing from each receiver's own stream in the loop's order. A subclass that
# overrides ``value`` but not ``values`` gets the loop again (:func:`batch_values` checks).


@dataclass(frozen=True)
class Receivers:
    """The receivers of one Byzantine sender at one instant, for :func:`batch_values`.

    Row k is receiver ``ids[k]``: ``target[k]`` is its View ``target`` when ``has_target[k]``
    (else its target is None: a Byzantine receiver), ``rngs[k]`` its (sender, receiver) stream.
    """

    ids: np.ndarray  # (k,) int
    target: np.ndarray  # (k, d) float64
    has_target: np.ndarray  # (k,) bool
    rngs: Sequence[Stream]

    def target_of(self, k: int) -> np.ndarray | None:
        """Row k's View ``target``."""
        return self.target[k] if self.has_target[k] else None


SHARED_FIELDS = tuple(
    field.name for field in dataclasses.fields(View) if field.init and field.name != "target"
)


def loop_values(
    adversary: Adversary, sender: int, round: int, view: View, receivers: Receivers
) -> tuple[np.ndarray, np.ndarray]:
    """``value`` for each receiver in turn, with ``view``'s fields and the receiver's target:
    (values (k, d) float64, sent (k,) bool); a row not sent (``value`` said None) is zero."""
    shared = {name: getattr(view, name) for name in SHARED_FIELDS}
    values = np.zeros((len(receivers.ids), view.dim))
    sent = np.zeros(len(receivers.ids), dtype=bool)
    for k, receiver in enumerate(receivers.ids.tolist()):
        to_receiver = View(**shared, target=receivers.target_of(k))  # dataclasses.replace
        value = adversary.value(sender, receiver, round, to_receiver, receivers.rngs[k])
        if value is not None:
            values[k] = np.array(value, dtype=np.float64)
            sent[k] = True
    return values, sent


def batch_values(
    adversary: Adversary, sender: int, round: int, view: View, receivers: Receivers
) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`loop_values` returns, through the class's own ``values`` when it has one
    written for the ``value`` it uses."""
    cls = type(adversary)
    for owner in cls.__mro__:
        if "values" in vars(owner):
            if getattr(cls, "value", None) is vars(owner).get("value"):
                return adversary.values(sender, round, view, receivers)  # type: ignore[attr-defined]
            break
    return loop_values(adversary, sender, round, view, receivers)


# --- when a value arrives -----------------------------------------------------------------------
#
# An attack may also hold its messages back: an optional method
# ``hold_back(sender, receiver, round, view) -> float`` gives the simulated seconds added to the
# link's delay draw of the message it sends to ``receiver`` (0: as the link delivers it). The
# network still applies any declared bound: after GST a Byzantine message arrives within Delta
# (spec/engine.md). Withholding a message altogether is ``value`` returning None.


def checked_lag(lag: Any, sender: int, receiver: int) -> float:
    """An attack's ``hold_back`` as a float, or an error that names the attack's fault."""
    number = float(lag)
    if not (np.isfinite(number) and number >= 0.0):
        raise ValueError(
            f"adversary lag for {sender} -> {receiver} must be a finite number >= 0 "
            f"(simulated s), got {lag!r}"
        )
    return number


def held_back(
    adversary: Adversary | None, sender: int, receiver: int, round: int, view: View
) -> float:
    """How long ``adversary`` holds back its message to ``receiver`` (simulated s, checked):
    its ``hold_back``, or 0 for an attack without one."""
    hold_back = getattr(adversary, "hold_back", None)
    if hold_back is None:
        return 0.0
    return checked_lag(hold_back(sender, receiver, round, view), sender, receiver)


def batch_lags(
    adversary: Adversary, sender: int, round: int, view: View, receivers: Receivers
) -> np.ndarray | None:
    """(k,) the ``hold_back`` of each receiver (with its View ``target``), or None when the
    attack holds nothing back (it has no ``hold_back`` method)."""
    if getattr(adversary, "hold_back", None) is None:
        return None
    shared = {name: getattr(view, name) for name in SHARED_FIELDS}
    lags = np.zeros(len(receivers.ids))
    for k, receiver in enumerate(receivers.ids.tolist()):
        to_receiver = View(**shared, target=receivers.target_of(k))
        lags[k] = held_back(adversary, sender, receiver, round, to_receiver)
    return lags


def _unsent(receivers: Receivers, dim: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((len(receivers.ids), dim)), np.zeros(len(receivers.ids), dtype=bool)


def _to_all(value: np.ndarray | None, receivers: Receivers, dim: int) -> tuple:
    """One value (computed once: it does not depend on the receiver) for every receiver."""
    values, sent = _unsent(receivers, dim)
    if value is not None:
        values[:] = np.array(value, dtype=np.float64)
        sent[:] = True
    return values, sent


def _once_for_all(
    adversary: Adversary, sender: int, round: int, view: View, receivers: Receivers
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`loop_values` for an attack whose ``value`` reads neither the receiver, its target
    nor its stream: computed once (for the first receiver) and sent to all."""
    if not len(receivers.ids):
        return _unsent(receivers, view.dim)
    value = adversary.value(sender, int(receivers.ids[0]), round, view, receivers.rngs[0])
    return _to_all(value, receivers, view.dim)


def _to_peers(rows: np.ndarray, receivers: Receivers, dim: int) -> tuple:
    """``rows`` (one per receiver with a target) to those receivers, nothing to the others."""
    values, sent = _unsent(receivers, dim)
    values[receivers.has_target] = rows
    sent[:] = receivers.has_target
    return values, sent


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

    def value(self, sender: int, receiver: int, round: int, view: View, rng: Stream) -> np.ndarray:
        return rng.uniform(self.low, self.high, view.dim)

    def values(
        self, sender: int, round: int, view: View, receivers: Receivers
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`loop_values`: one U[low, high]^d draw per receiver from its own stream, every
        receiver's computed in one call (:func:`netsim.variates.draw_rows`; bounds near
        +-1e308, whose difference overflows, are handled by the transform)."""
        transform = ("uniform", float(self.low), float(self.high))
        values = draw_rows(receivers.rngs, view.dim, transform)
        return values, np.ones(len(receivers.ids), dtype=bool)


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

    def value(self, sender: int, receiver: int, round: int, view: View, rng: Stream) -> np.ndarray:
        return np.full(view.dim, NON_FINITE[self.value_kind])

    def values(
        self, sender: int, round: int, view: View, receivers: Receivers
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`loop_values`: the same filled vector to every receiver."""
        return _once_for_all(self, sender, round, view, receivers)


@ADVERSARIES.register("omission")
@dataclass(frozen=True)
class Omission:
    """Behaves like a silent (crashed) agent from round ``from_round`` on.

    Before ``from_round`` it sends the mean of the honest values (the latest estimates to a
    peer, the honest gradients at w_t to the server): a harmless value. From then on nothing.
    Without a round deadline its receivers would wait for it forever: validation refuses that
    (``netsim.config``, naming ``protocol.deadline``), and a run that stalls anyway (an attack
    of one's own that goes silent) stops with an error naming it.
    """

    from_round: int = 0

    def __post_init__(self) -> None:
        as_int(self.from_round, "from_round", low=0)

    def withholds_from(self, receivers: Sequence[int]) -> int | None:
        """The first round from which some of ``receivers`` never gets a value: ``from_round``."""
        return self.from_round

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        honest = view.honest_gradients if view.server else view.honest_latest
        if round >= self.from_round or not honest:
            return None
        return np.mean(list(honest.values()), axis=0)

    def values(
        self, sender: int, round: int, view: View, receivers: Receivers
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`loop_values`; ``value`` reads neither the receiver, its target nor its stream."""
        return _once_for_all(self, sender, round, view, receivers)


def _away(view: View) -> np.ndarray:
    """Unit vector from the optimum towards the target (any unit vector if they coincide)."""
    assert view.target is not None and view.optimum is not None
    with np.errstate(over="ignore"):
        direction = view.target - view.optimum
        length = norm(direction)
    if not np.isfinite(length):  # a diverged target (an unfiltered run): scale before the norm
        direction = direction / np.max(np.abs(direction))
        length = norm(direction)
    if length == 0.0 or not np.isfinite(length):
        direction, length = np.ones(view.dim), float(np.sqrt(view.dim))
    return direction / length


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
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        if view.target is None or view.optimum is None:
            return None
        offset = view.target - view.optimum
        if view.server:
            return -self.scale * offset
        return view.target + self.scale * offset

    def values(
        self, sender: int, round: int, view: View, receivers: Receivers
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`loop_values`: x_i + scale (x_i - x_H) for every receiver with a target, as
        one elementwise array operation."""
        if view.server:
            return loop_values(self, sender, round, view, receivers)
        if view.optimum is None:
            return _unsent(receivers, view.dim)
        target = receivers.target[receivers.has_target]
        return _to_peers(target + self.scale * (target - view.optimum), receivers, view.dim)


@ADVERSARIES.register("filter_aware")
@dataclass(frozen=True)
class FilterAware:
    """The strongest value the receiver's filter lets through, pointing away from the optimum.

    The rule: place the value, in the direction away from the optimum, at the largest
    magnitude the receiver's filter still accepts unchanged.

    - CGC server: a gradient of norm equal to the clipping threshold T, the largest honest
      gradient norm at w_t (a larger one would be clipped down to it), in direction
      -(w_t - w*): it is never clipped and pushes w away from w*.
    - CE receiver i: the point at distance r from x_i in the direction away from x_H, r being
      the distance of the farthest honest estimate that CE still keeps when the f Byzantine
      values tie with it (the (h - f)-th smallest distance among the h honest estimates i
      receives; ties go to the lower sender id).
    - A receiver that keeps every value unchanged (filter ``"none"``: the plain mean of a
      peer, the plain sum of the server) accepts any magnitude, so there is no largest one;
      the value goes ``scale`` times as far as against CE/CGC: x_i + scale * r * u to a peer,
      -scale * T * u to the server (u the unit vector away from the optimum) -- like
      ``large_norm``, whose default scale it shares.

    Which filter the receiver runs: ``against`` if given, else the View's ``filter`` (the
    engine's word), else CE's (peer) or CGC's (server). Against the library's other filters
    (median, Krum, ...) the CE or CGC rule above is used: tailored to CE/CGC, not to them.
    """

    f: int | None = None  # how many Byzantine values to make room for (default: the scenario's f)
    against: str | None = None  # the receiver's filter (default: the View's, else CE/CGC)
    scale: float = 1e3  # how much farther to go against a filter that keeps everything

    def __post_init__(self) -> None:
        if self.f is not None:
            as_int(self.f, "f", low=0)
        if self.against is not None:
            object.__setattr__(self, "against", parse_filter(self.against, key="against").name)
        as_float(self.scale, "scale", low=0.0, low_open=True)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        if view.target is None or view.optimum is None:
            return None
        away = _away(view)
        receiver_filter = self.against if self.against is not None else view.filter
        factor = self.scale if receiver_filter == "none" else 1.0
        if view.server:
            threshold = _clip_threshold(view)
            return None if threshold is None else -(factor * threshold) * away
        radius = _kept_radius(view, receiver, self.f if self.f is not None else view.f)
        return None if radius is None else view.target + (factor * radius) * away


def _clip_threshold(view: View) -> float | None:
    """T: the largest honest gradient norm at w_t, which CGC clips every larger norm down to
    when the f Byzantine gradients are at most T (None without honest gradients)."""
    if not view.honest_gradients:
        return None
    return float(scaled_row_norms(np.array(list(view.honest_gradients.values()))).max())


def _kept_radius(view: View, receiver: int, f: int) -> float | None:
    """r_i: the distance from x_i of the farthest honest estimate CE still keeps when f
    Byzantine values tie with it, i.e. the (h - f)-th smallest distance from x_i to its h honest
    peers' latest estimates (None without peers)."""
    peers = _peer_rows(view, receiver)
    if not len(peers):
        return None
    distances = np.sort(scaled_row_norms(peers - view.target))
    return float(distances[max(len(distances) - f, 1) - 1])


@ADVERSARIES.register("mimic")
@dataclass(frozen=True)
class Mimic:
    """Copies one honest agent: sends what ``target`` sends (its estimate to peers, its
    gradient at w_t to the server). Without 2f-redundancy this makes two worlds with different
    honest optima indistinguishable (CGC paper Theorem 1, CE paper Lemma 1).

    ``target`` must be honest (checked when the scenario loads); default: the lowest honest id.
    """

    target: int | None = None

    def __post_init__(self) -> None:
        if self.target is not None:
            as_int(self.target, "target", low=0)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        if view.server:
            gradients = view.honest_gradients or {}
            return gradients.get(self.target)
        return view.honest_latest.get(self.target)

    def values(
        self, sender: int, round: int, view: View, receivers: Receivers
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`loop_values`; ``value`` reads neither the receiver, its target nor its stream."""
        return _once_for_all(self, sender, round, view, receivers)


# --- attacks from the robust-aggregation literature ----------------------------------------------
#
# How a gradient attack carries over to CE: the server steps along -g (CGC paper, Eq. 17), a peer
# steps along x_j - x_i (CE paper, Eq. 7). So a reply to the server acts through g, a value v sent
# to peer i acts only through the displacement v - x_i it causes. An attack defined on the honest
# gradients (negate, scale, add noise) is applied to the honest displacements in the receiver's
# frame; this keeps every CE value translation-equivariant (shifting the problem by c shifts the
# attack by c), which a literal "-mean of the honest estimates" would not be.


def _honest_rows(view: View) -> np.ndarray | None:
    """The honest values an attack builds on, one row per honest agent in id order: the honest
    gradients at w_t (to the CGC server), every honest agent's latest estimate (to a peer)."""
    values = view.honest_gradients if view.server else view.honest_latest
    if not values:
        return None
    return np.array([values[j] for j in sorted(values)], dtype=np.float64)


def _honest_reference(view: View) -> np.ndarray | None:
    """What an honest message would be: the mean honest gradient at w_t (to the CGC server),
    the receiver's own estimate (to a peer); None when there is none."""
    if view.server:
        rows = _honest_rows(view)
        return None if rows is None else rows.mean(axis=0)
    return view.target


def _peer_rows(view: View, receiver: int) -> np.ndarray:
    """The latest estimates of the honest agents other than ``receiver`` (what an honest
    receiver hears from its honest peers), in id order; shape (k, d), k possibly 0."""
    rows = [view.honest_latest[j] for j in sorted(view.honest_latest) if j != receiver]
    return np.array(rows, dtype=np.float64).reshape(len(rows), view.dim)


def _reversed_pull(view: View, receiver: int, factor: float) -> np.ndarray | None:
    """-factor times the mean honest contribution. CGC: -factor * mean_h g_h. CE receiver i:
    x_i - factor * (m_i - x_i), m_i the mean of the honest estimates other than x_i (x_i itself
    when there are none); None for a Byzantine CE receiver (no estimate to push)."""
    if view.server:
        rows = _honest_rows(view)
        return None if rows is None else -factor * rows.mean(axis=0)
    if view.target is None:
        return None
    peers = _peer_rows(view, receiver)
    if not len(peers):
        return np.array(view.target, dtype=np.float64)
    return view.target - factor * (peers.mean(axis=0) - view.target)


def _unit(view: View, origin: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Unit vector from ``origin`` towards ``point`` (:func:`_away`'s rule when they coincide)."""
    return _away(dataclasses.replace(view, target=point, optimum=origin))


@ADVERSARIES.register("gaussian")
@dataclass(frozen=True)
class Gaussian:
    """The honest reference value plus N(0, sigma^2 I) noise, drawn independently for every
    receiver and round from the (sender, receiver) stream.

    The Gaussian baseline of the robust-aggregation literature (Blanchard et al. 2017, Krum;
    Xie, Koyejo & Gupta 2018, "Generalized Byzantine-tolerant SGD"), centred here on the honest
    value so that it is a *noisy honest message* rather than pure noise. CGC server: the mean
    honest gradient at w_t plus noise (a norm above the clipping threshold is clipped). CE
    receiver i: x_i + noise, i.e. a displacement that is pure noise; nothing to a Byzantine
    receiver.
    """

    sigma: float = 1.0

    def __post_init__(self) -> None:
        as_float(self.sigma, "sigma", low=0.0)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        reference = _honest_reference(view)
        if reference is None:
            return None
        return reference + self.sigma * rng.standard_normal(view.dim)

    def values(
        self, sender: int, round: int, view: View, receivers: Receivers
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`loop_values` to peers: x_i + sigma N(0, I), the noise drawn from each receiver
        with a target's own stream, in order (a Byzantine receiver's stream draws nothing)."""
        if view.server:
            return loop_values(self, sender, round, view, receivers)
        peers = np.flatnonzero(receivers.has_target).tolist()
        noise = draw_rows([receivers.rngs[k] for k in peers], view.dim, ("normal",))
        target = receivers.target[receivers.has_target]
        return _to_peers(target + self.sigma * noise, receivers, view.dim)


@ADVERSARIES.register("sign_flip")
@dataclass(frozen=True)
class SignFlip:
    """Reverses (and scales by ``scale``) the pull the honest values exert on the receiver.

    The sign-flipping baseline (e.g. Allen-Zhu et al., ICLR 2021; Karimireddy, He & Jaggi,
    ICML 2021, "bit flipping"): send -g instead of g. CGC server: -scale * mean_h g_h(w_t), so
    the server's step goes uphill. CE receiver i: x_i - scale * (m_i - x_i), m_i the mean of
    the latest honest estimates other than x_i: the
    displacement the honest peers cause in Eq. 7, reversed, so i is pushed away from the honest
    group (a different value for every receiver). Not x_H - scale (x_i - x_H), the reflection
    through the optimum: its displacement (1 + scale)(x_H - x_i) pulls i *towards* x_H, which
    helps; and not -mean of the estimates, which depends on where the origin is.
    ``ipm`` is this attack with ``scale = epsilon``.
    """

    scale: float = 1.0

    def __post_init__(self) -> None:
        as_float(self.scale, "scale", low=0.0, low_open=True)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        return _reversed_pull(view, receiver, self.scale)


def alie_z_max(n: int, f: int) -> float:
    """z_max of "A little is enough" (Baruch, Baruch & Goldberg 2019, Section 3): with
    s = floor(n/2 + 1) - f honest workers to win over, z_max = Phi^-1((n - s) / n), Phi the
    standard normal CDF. The probability is clamped into [1/(2n), 1 - 1/(2n)] so that z stays
    finite in the degenerate cases (n <= 2, or f > n/2). E.g. n = 6, f = 1: s = 3, z = 0."""
    supporters = n // 2 + 1 - f
    probability = min(max((n - supporters) / n, 0.5 / n), 1.0 - 0.5 / n)
    return NormalDist().inv_cdf(probability)


def _mean_and_std(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and population standard deviations of ``rows`` (k, d), computed on each
    column divided by the power of two above its largest |entry| (exact) and scaled back:
    the same bits as numpy's in the normal range, and neither overflowing (values ~1e200,
    whose squares are beyond the floats) nor vanishing (~1e-300, whose squares underflow)."""
    exponent = scale_exponent(np.max(np.abs(rows), axis=0))
    scaled = np.ldexp(rows, -exponent)
    return np.ldexp(scaled.mean(axis=0), exponent), np.ldexp(scaled.std(axis=0), exponent)


@ADVERSARIES.register("alie")
@dataclass(frozen=True)
class ALittleIsEnough:
    """Mean minus z times the coordinate-wise standard deviation of the honest values.

    "A little is enough" (Baruch, Baruch & Goldberg, NeurIPS 2019): a small shift, within the
    honest spread in every coordinate, that statistics-based filters cannot tell from honest
    noise. The honest values are the honest gradients at w_t (CGC server) or every honest
    agent's latest estimate (CE); the mean and the population standard deviation (ddof = 0)
    are taken per coordinate over them. The same value goes to every receiver (no
    equivocation). ``z`` defaults to :func:`alie_z_max` with n = (number of honest values) + f,
    i.e. assuming exactly f Byzantine agents (the View does not say how many there are); for
    n = 6, f = 1 that z is 0 and the value is the honest mean.
    """

    z: float | None = None

    def __post_init__(self) -> None:
        if self.z is not None:
            as_float(self.z, "z")

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        rows = _honest_rows(view)
        if rows is None:
            return None
        z = self.z if self.z is not None else alie_z_max(len(rows) + view.f, view.f)
        mean, spread = _mean_and_std(rows)
        with np.errstate(over="ignore"):
            return mean - z * spread

    def values(
        self, sender: int, round: int, view: View, receivers: Receivers
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`loop_values`; ``value`` reads neither the receiver, its target nor its stream."""
        return _once_for_all(self, sender, round, view, receivers)


@ADVERSARIES.register("ipm")
@dataclass(frozen=True)
class InnerProductManipulation:
    """-epsilon times the mean honest value, so that the aggregate's inner product with the
    honest direction turns negative.

    Inner-product manipulation (Xie, Koyejo & Gupta, "Fall of Empires", UAI 2019 / PMLR 115,
    2020). CGC server: -epsilon * mean_h g_h(w_t). CE receiver i, in the receiver's frame (see
    above): x_i - epsilon * (m_i - x_i), m_i the mean of the latest honest estimates other than
    x_i. The same maths as ``sign_flip`` with ``scale = epsilon``, as in the literature; the
    default epsilon = 0.1 is small, so the value stays close to the honest ones and slips
    through distance- and norm-based filters.
    """

    epsilon: float = 0.1

    def __post_init__(self) -> None:
        as_float(self.epsilon, "epsilon", low=0.0, low_open=True)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        return _reversed_pull(view, receiver, self.epsilon)


def _receiver_aggregate(
    view: View, receiver: int, value: np.ndarray, count: int, rule: str
) -> np.ndarray | None:
    """What ``receiver``'s rule makes of the honest values it hears and ``count`` copies of
    ``value``: a peer aggregates its honest peers' latest estimates around its own, the server
    the honest gradients (a sum rule's value divided by the number of inputs, so that it
    compares with a mean). None when the rule's n/f condition fails for these inputs."""
    honest = _honest_rows(view) if view.server else _peer_rows(view, receiver)
    if honest is None:
        return None
    inputs = np.vstack([honest, np.repeat(value[None, :], count, axis=0)])
    aggregate = pipeline(rule)
    if not aggregate.condition_holds(len(inputs), count):
        return None
    own = None if view.server else view.target
    with np.errstate(over="ignore", invalid="ignore"):
        result = aggregate(inputs, count, own).value
        return result / len(inputs) if aggregate.is_sum else result


def _worst_factor(damage: Callable[[float], float], high: float, steps: int) -> float:
    """The factor in [0, high] that maximises ``damage``: the best of ``steps`` evenly spaced
    factors (the first of equal ones), then 12 golden-section steps in the grid cells on either
    side of it (each step keeps one interior point and evaluates one new one), keeping the best
    factor evaluated (a deterministic line search; ``damage`` need not be unimodal, so the grid
    does the global part)."""
    grid = np.linspace(0.0, high, steps)
    scores = [damage(float(t)) for t in grid]
    best = int(np.argmax(scores))
    best_factor, best_score = float(grid[best]), scores[best]
    low_end, high_end = float(grid[max(best - 1, 0)]), float(grid[min(best + 1, steps - 1)])
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a = high_end - ratio * (high_end - low_end)
    b = low_end + ratio * (high_end - low_end)
    score_a, score_b = damage(a), damage(b)
    for step in range(13):
        for factor, score in ((a, score_a), (b, score_b)):
            if score > best_score:
                best_factor, best_score = factor, score
        if step == 12:
            break
        if score_a >= score_b:  # the maximum is in [low_end, b]: a becomes the new b
            high_end, b, score_b = b, a, score_a
            a = high_end - ratio * (high_end - low_end)
            score_a = damage(a)
        else:  # in [a, high_end]: b becomes the new a
            low_end, a, score_a = a, b, score_b
            b = low_end + ratio * (high_end - low_end)
            score_b = damage(b)
    return best_factor


@dataclass(frozen=True)
class _Optimised:
    """An attack family x(t) whose factor t is chosen each round, per receiver, to maximise
    the distance of the receiver's aggregate from the honest mean (ByzFL's "optimal" attacks:
    a line search over the factor with the receiver's filter in the loop)."""

    against: str | None = None  # the receiver's filter (default: the View's, else CE/CGC)
    high: float = 10.0  # the factor is searched in [0, high]
    steps: int = 16  # grid points of the line search

    def __post_init__(self) -> None:
        if self.against is not None:
            object.__setattr__(self, "against", parse_filter(self.against, key="against").name)
        as_float(self.high, "high", low=0.0, low_open=True, high=1e6)
        as_int(self.steps, "steps", low=2, high=1000)

    def _family(
        self, view: View, receiver: int, rows: np.ndarray
    ) -> Callable[[float], np.ndarray] | None:
        raise NotImplementedError

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        if not view.server and view.target is None:
            return None  # a Byzantine receiver: nothing to push
        rows = _honest_rows(view)
        family = None if rows is None else self._family(view, receiver, rows)
        if family is None or rows is None:
            return None
        rule = self.against or view.filter or ("cgc" if view.server else "ce")
        honest_mean, _ = _mean_and_std(rows)
        count = max(view.f, 1)

        def damage(t: float) -> float:
            aggregate = _receiver_aggregate(view, receiver, family(t), count, rule)
            if aggregate is None or not np.all(np.isfinite(aggregate)):
                return -math.inf
            return float(scaled_row_norms((aggregate / 2 - honest_mean / 2)[None, :])[0])

        return family(_worst_factor(damage, self.high, self.steps))


@ADVERSARIES.register("optimal_alie")
@dataclass(frozen=True)
class OptimalALIE(_Optimised):
    """ "A little is enough" with z optimised: mean - z std of the honest values (as ``alie``),
    z in [0, ``high``] chosen each round and per receiver so that the receiver's aggregate of
    its honest inputs and f copies lands farthest from the honest mean (ByzFL's
    ``Optimal_ALittleIsEnough``: a line search over the factor).

    CGC server: the honest gradients at w_t, aggregated by the server's filter. CE receiver i:
    every honest agent's latest estimate for the mean and std; i's filter applied around x_i
    to its honest peers' estimates and the f copies (equivocation: each receiver its own z).
    Nothing to a Byzantine receiver. ``against`` names the filter if the engine does not.
    """

    def _family(
        self, view: View, receiver: int, rows: np.ndarray
    ) -> Callable[[float], np.ndarray] | None:
        mean, spread = _mean_and_std(rows)
        return lambda z: mean - z * spread


@ADVERSARIES.register("optimal_ipm")
@dataclass(frozen=True)
class OptimalIPM(_Optimised):
    """Inner-product manipulation with epsilon optimised: -epsilon times the mean honest
    contribution (as ``ipm``: -epsilon mean_h g_h to the CGC server, x_i - epsilon (m_i - x_i)
    to CE receiver i), epsilon in [0, ``high``] chosen each round and per receiver so that the
    receiver's aggregate lands farthest from the honest mean (ByzFL's
    ``Optimal_InnerProductManipulation``). Nothing to a Byzantine receiver.
    """

    def _family(
        self, view: View, receiver: int, rows: np.ndarray
    ) -> Callable[[float], np.ndarray] | None:
        if _reversed_pull(view, receiver, 0.0) is None:
            return None
        return lambda epsilon: _reversed_pull(view, receiver, epsilon)  # type: ignore[return-value]


@ADVERSARIES.register("dissensus")
@dataclass(frozen=True)
class Dissensus:
    """Each receiver gets the value that cancels a fraction ``epsilon`` of its honest
    consensus pull, so the honest agents drift apart instead of agreeing.

    The dissensus attack (He, Karimireddy & Jaggi 2022, "Byzantine-robust decentralized
    learning via self-centered clipping", arXiv:2202.01545): Byzantine j sends honest i
    x_i - epsilon * sum_{k honest} W_ik (x_k - x_i) / sum_{j Byzantine} W_ij. With CE's equal
    weights and f Byzantine neighbours (the View gives the bound f, not the actual count; f = 0
    is taken as 1): x_i - (epsilon / f) * sum_{k honest, k != i} (x_k - x_i), a different
    direction for every receiver. If every value were kept, the f of them would add
    -epsilon times the honest pull: epsilon = 1 freezes consensus. CGC: the server is the only
    receiver, so there is nothing to split; the formula becomes -(epsilon / f) * sum_h g_h,
    the f replies together cancelling epsilon times the honest sum before clipping.
    """

    epsilon: float = 1.0

    def __post_init__(self) -> None:
        as_float(self.epsilon, "epsilon", low=0.0, low_open=True)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        byzantine = max(view.f, 1)
        if view.server:
            rows = _honest_rows(view)
            return None if rows is None else -self.epsilon * rows.sum(axis=0) / byzantine
        if view.target is None:
            return None
        pull = (_peer_rows(view, receiver) - view.target).sum(axis=0)
        return view.target - self.epsilon * pull / byzantine


class RunMemory:
    """What an adversary remembers during one run: per (attack, sender, receiver), the honest
    reference value of each round it was called for.

    One object per run, kept in the dict the engine hands every View of that run
    (``view.memory``). Determinism: the history of a pair is filled only by that pair's calls,
    which one SimPy process makes in the engine's deterministic order.
    """

    def __init__(self) -> None:
        self.history: dict[tuple[str, int, int], dict[int, np.ndarray]] = {}

    def replay(
        self, key: tuple[str, int, int], round: int, value: np.ndarray, lag: int
    ) -> np.ndarray:
        """Store ``value`` for ``round``; return the value stored for the latest round at or
        before ``round - lag`` (the oldest one stored if there is none yet)."""
        rounds = self.history.setdefault(key, {})
        rounds[round] = np.array(value, dtype=np.float64)
        eligible = [r for r in rounds if r <= round - lag]
        chosen = max(eligible) if eligible else min(rounds)
        for r in [r for r in rounds if r < chosen]:
            del rounds[r]  # never needed again: later calls look at later rounds
        return rounds[chosen].copy()


def run_memory(view: View) -> RunMemory:
    """The :class:`RunMemory` of the run ``view`` belongs to, kept in the run's ``view.memory``
    (a fresh, unshared one if the engine handed no memory)."""
    if view.memory is None:
        return RunMemory()
    memory = view.memory.get("run_memory")
    if memory is None:
        memory = view.memory["run_memory"] = RunMemory()
    return memory


@ADVERSARIES.register("stale_replay")
@dataclass(frozen=True)
class StaleReplay:
    """Replays an honest value from ``lag`` rounds earlier: genuine, but out of date.

    A replay attack, and the worst case of bounded staleness in asynchronous Byzantine SGD
    (Damaskinos et al. 2018, Kardam). CGC server: the mean honest gradient at w_{t - lag}, the
    server's state lag rounds ago (what a straggler would send). CE receiver i: x_i as it was at
    this sender's call of round r - lag, dragging i back to its own past; nothing to a
    Byzantine receiver. Before ``lag`` rounds have passed, the oldest value seen (round 0's).
    The history is kept per (sender, receiver) in the run's :class:`RunMemory`.
    """

    lag: int = 5

    def __post_init__(self) -> None:
        as_int(self.lag, "lag", low=1)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        current = _honest_reference(view)
        if current is None:
            return None
        memory = run_memory(view)
        return memory.replay(("stale_replay", sender, receiver), round, current, self.lag)


@ADVERSARIES.register("collusion")
@dataclass(frozen=True)
class Collusion:
    """The Byzantine agents all send the same value, at ``fraction`` of the largest distance
    (CE) or norm (CGC) the filter lets through, all pushing along one agreed direction.

    netsim's full-knowledge colluding attack, in the spirit of the aggregation-tailored attacks
    of Fang et al. (USENIX Security 2020). The agents coordinate through what they share: the
    adversary object and the omniscient View. The value is a deterministic function of the
    receiver and the View, never of the sender, so the f of them send identical values and
    no mutable state is needed.

    CE receiver i: x_i + fraction * r_i * u, with u = (m - x_H) / ||m - x_H||, m the mean of
    every honest latest estimate (one direction for every receiver: the whole honest group is
    dragged the same way, coherently), and r_i the (h - f)-th smallest distance from x_i to its
    h - 1 honest peers' estimates: k <= f identical values at distance D < r_i are all kept by
    CE (at most h - f - 1 honest values are closer, so they rank within the n - 1 - f nearest).
    Nothing to a Byzantine receiver. CGC server: -fraction * T * g_mean / ||g_mean||, g_mean
    the mean honest gradient and T the largest honest gradient norm at w_t (the clipping
    threshold when there are f Byzantine agents: their f equal norms <= T leave the (f+1)-th
    largest >= their norm, so none is clipped; at fraction = 1 float rounding may clip them by
    an ulp); together they cancel f * fraction * T of the honest sum's length.
    """

    fraction: float = 0.99

    def __post_init__(self) -> None:
        as_float(self.fraction, "fraction", low=0.0, high=1.0, low_open=True)

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        rows = _honest_rows(view)
        if rows is None:
            return None
        if view.server:
            threshold = float(scaled_row_norms(rows).max())
            mean = rows.mean(axis=0)
            return -self.fraction * threshold * _unit(view, np.zeros(view.dim), mean)
        if view.target is None or view.optimum is None:
            return None
        direction = _unit(view, view.optimum, rows.mean(axis=0))
        peers = _peer_rows(view, receiver)
        if not len(peers):
            return np.array(view.target, dtype=np.float64)
        distances = np.sort(scaled_row_norms(peers - view.target))
        radius = float(distances[min(max(len(distances) - view.f, 0), len(distances) - 1)])
        return view.target + self.fraction * radius * direction


def _pattern(value: Any, key: str) -> tuple[tuple[float, ...], ...]:
    """A per-receiver, per-round table: a number (everyone, every round), a list (one entry per
    round of the pattern, every receiver) or a list of such lists (one row per receiver)."""
    from .errors import ScenarioError  # here: this module's imports are shared by other edits

    rows = value if isinstance(value, (list, tuple)) else [value]
    if not rows:
        raise ScenarioError(key, "must not be empty", value, "a number, a list, or a list of lists")
    if not any(isinstance(row, (list, tuple)) for row in rows):
        rows = [rows]
    table = []
    for r, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or not row:
            raise ScenarioError(
                f"{key}[{r}]", "must be a non-empty list of numbers", row, "one entry per round"
            )
        table.append(tuple(as_float(v, f"{key}[{r}][{c}]") for c, v in enumerate(row)))
    return tuple(table)


def _orthogonal(unit: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to ``unit``: ``unit`` turned by +90 degrees in d = 2; in d > 2
    the standard basis vector least aligned with it, made orthogonal (Gram-Schmidt); zero in
    d = 1 (there is no orthogonal direction)."""
    d = len(unit)
    if d == 1:
        return np.zeros(1)
    if d == 2:
        return np.array([-unit[1], unit[0]])
    basis = np.zeros(d)
    basis[int(np.argmin(np.abs(unit)))] = 1.0
    residual = basis - float(dot(basis, unit)) * unit
    return residual / norm(residual)


@ADVERSARIES.register("desync")
@dataclass(frozen=True)
class Desync:
    """Spread the honest agents' round starts apart: a value at once to some receivers, late or
    never to the others (the weakness of the event clock, :mod:`netsim.clocks`).

    Receivers in ``early`` (default: the even ids, and the CGC server, id -1) get the value as
    their link delivers it; the others get it ``lag`` simulated seconds later (after GST still
    within Delta: the network's bound holds for Byzantine messages too) or, with
    ``lag = "withhold"`` (default), never.

    On the event clock an early receiver that hears everyone ends its round at its last arrival,
    a withheld one only at its deadline, so their next rounds start apart by up to a deadline,
    and a late starter's honest value then misses an early starter's deadline although every
    delay is within the bound. With ``absent = "eliminated"`` each such absence uses up one of
    the f eliminations, and the Byzantine value is kept. The value: to a peer, its estimate moved
    ``push`` away from the optimum, x_i + push (x_i - x_H) / ||x_i - x_H|| (CE drops it while it
    has an elimination left); to the CGC server, the gradient -push (w_t - w*) / ||w_t - w*||.
    On the lock-step clock the lag costs the honest values nothing: the attack is one silent
    or slow Byzantine sender.
    """

    early: Any = None
    lag: Any = "withhold"
    push: float = 1.0

    def __post_init__(self) -> None:
        from .errors import ScenarioError  # as in _pattern

        if self.early is not None:
            if not isinstance(self.early, (list, tuple)):
                raise ScenarioError("early", "must be a list of agent ids", self.early, "[0, 2]")
            ids = tuple(as_int(v, f"early[{k}]", low=-1) for k, v in enumerate(self.early))
            object.__setattr__(self, "early", ids)
        if self.lag != "withhold":
            if isinstance(self.lag, str):
                raise ScenarioError(
                    "lag", "unknown choice", self.lag, '"withhold" or a number >= 0 (s)'
                )
            as_float(self.lag, "lag", low=0.0)
        as_float(self.push, "push", low=0.0)

    def withholds_from(self, receivers: Sequence[int]) -> int | None:
        """Round 0 when ``lag = "withhold"`` and one of ``receivers`` is not early, else None."""
        late = any(not self.is_early(r) for r in receivers)
        return 0 if self.lag == "withhold" and late else None

    def is_early(self, receiver: int) -> bool:
        """Whether ``receiver`` hears the value as its link delivers it: by default the even
        ids and the CGC server (id -1); with ``early`` given, the ids it lists."""
        if self.early is None:
            return receiver < 0 or receiver % 2 == 0
        return receiver in self.early

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        if self.lag == "withhold" and not self.is_early(receiver):
            return None
        if view.target is None or view.optimum is None:
            return None
        if view.server:
            return -self.push * _away(view)
        return view.target + self.push * _away(view)

    def hold_back(self, sender: int, receiver: int, round: int, view: View) -> float:
        """Seconds added to the link's delay: 0 for an early receiver, ``lag`` for the others."""
        return 0.0 if self.is_early(receiver) or self.lag == "withhold" else float(self.lag)


@ADVERSARIES.register("parametric")
@dataclass(frozen=True)
class Parametric:
    """A family of attacks with continuous parameters, for the worst-case search
    (``netsim search``): per receiver and round, a point at a chosen fraction of the largest
    magnitude the receiver's filter keeps, in a chosen direction of a small basis.

    The basis at receiver i in round r: e1 = "away" and e2 = e1 turned by +90 degrees (in d > 2,
    an orthogonal vector: see :func:`_orthogonal`); the direction is
    u = cos(angle) e1 + sin(angle) e2 (angle in radians: 0 away, pi toward, +-pi/2 sideways).

    - CE receiver i: x_i + radius * r_i * u, r_i the distance of the farthest honest estimate CE
      still keeps when f Byzantine values tie with it (the (h - f)-th smallest distance from x_i
      to its honest peers' latest estimates, ``filter_aware``'s r). e1 points from x_H to x_i
      (``frame = "optimum"``) or from the mean of i's honest peers to x_i (``"honest"``). radius
      <= 1 is kept by CE; above 1 it is eliminated. Nothing to a Byzantine receiver.
    - CGC server: radius * T * u, T the largest honest gradient norm at w_t (the clipping
      threshold when f values are at most T: radius > 1 is clipped to T). e1 = -(w_t - w*) /
      ||w_t - w*|| (``"optimum"``: the step w_t - eta g moves away from w*) or minus the honest
      gradients' sum, normalised (``"honest"``: against the honest pull).

    When the value arrives: ``lag`` (simulated seconds >= 0, default 0) is added to the link's
    delay draw of the message to each receiver (:meth:`hold_back`, which both engines apply);
    after GST the network still delivers a Byzantine message within Delta, so a lag of Delta or
    more then means "at Delta". Withholding a value altogether is not part of the family.

    ``radius``, ``angle`` and ``lag`` are each a number, a list (a per-round pattern: round r
    uses entry r mod length) or a list of lists (row k for receiver k mod rows; the server is
    receiver 0). With the defaults (radius 1, angle 0, frame "optimum", lag 0) it sends
    ``filter_aware``'s value against CE and CGC, as the link delivers it.
    """

    radius: Any = 1.0
    angle: Any = 0.0
    frame: str = "optimum"
    lag: Any = 0.0

    def __post_init__(self) -> None:
        radius = _pattern(self.radius, "radius")
        for r, row in enumerate(radius):
            for c, value in enumerate(row):
                as_float(value, f"radius[{r}][{c}]", low=0.0)
        object.__setattr__(self, "radius", radius)
        object.__setattr__(self, "angle", _pattern(self.angle, "angle"))
        as_choice(self.frame, "frame", ("optimum", "honest"))
        lag = _pattern(self.lag, "lag")
        for r, row in enumerate(lag):
            for c, value in enumerate(row):
                as_float(value, f"lag[{r}][{c}]", low=0.0)  # finite, >= 0 (simulated s)
        object.__setattr__(self, "lag", lag)

    def parameters(self, receiver: int, round: int) -> tuple[float, float]:
        """(radius, angle) for ``receiver`` (the server: 0) in ``round``."""
        slot = max(receiver, 0)
        radius_row = self.radius[slot % len(self.radius)]
        angle_row = self.angle[slot % len(self.angle)]
        return radius_row[round % len(radius_row)], angle_row[round % len(angle_row)]

    def hold_back(self, sender: int, receiver: int, round: int, view: View) -> float:
        """Seconds added to the link's delay of the value to ``receiver`` (the server: 0) in
        ``round``: its ``lag`` entry (0: as the link delivers it)."""
        row = self.lag[max(receiver, 0) % len(self.lag)]
        return row[round % len(row)]

    def value(
        self, sender: int, receiver: int, round: int, view: View, rng: Stream
    ) -> np.ndarray | None:
        if view.target is None or view.optimum is None:
            return None
        radius, angle = self.parameters(receiver, round)
        if view.server:
            if not view.honest_gradients:
                return None
            rows = np.array(list(view.honest_gradients.values()))
            scale = _clip_threshold(view)
            if self.frame == "optimum":
                first = -_away(view)
            else:
                first = _unit(view, np.zeros(view.dim), -rows.sum(axis=0))
            # math.cos/sin (the C library), not numpy's SIMD-dispatched ones: portable bits
            turn = math.cos(angle) * first + math.sin(angle) * _orthogonal(first)
            return radius * scale * turn
        scale = _kept_radius(view, receiver, view.f)
        if scale is None:
            return None
        if self.frame == "optimum":
            first = _away(view)
        else:
            first = _unit(view, _peer_rows(view, receiver).mean(axis=0), view.target)
        direction = math.cos(angle) * first + math.sin(angle) * _orthogonal(first)
        return view.target + radius * scale * direction
