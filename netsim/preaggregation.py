"""Pre-aggregation steps and filter pipelines (pure numpy, no SimPy).

A scenario's filter is a *pipeline*: zero or more pre-aggregation steps, then one aggregation
rule of :mod:`netsim.aggregators`::

    filter = "median"                          # a rule alone
    filter = ["nnm", "median"]                 # nearest-neighbour mixing, then the median
    filter = ["bucketing(s=3)", "krum"]        # a step's parameters in parentheses
    filter = "arc+cgc"                         # the same pipeline as one string

A step maps the k inputs (rows, in sender order) to m vectors, each a combination of some
inputs, and tells the next stage how many of them may be Byzantine; the rule aggregates what
the last step returns. Every step is one small class in :data:`PRE_AGGREGATORS`, its parameters
dataclass fields checked at construction, with one method ``mix(rows, f, randomness)``.

The names, definitions and defaults follow ByzFL (LPD-EPFL's library, version 0.0.11), except
where a docstring says otherwise. A pipeline is called as a rule is (see
:class:`netsim.aggregators.AggregatorRule`), plus an optional ``randomness`` generator for the
steps that draw (bucketing); the protocols pass the stream of the receiver and round
(:func:`netsim.rng.filter_stream`), so both engines draw the same permutation.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np

from .aggregators import (
    AGGREGATORS,
    FILTER_KEY,
    SUM_RULES,
    Aggregate,
    _key_order,
    _mean,
    _prepare,
    _squared_distance_keys,
    _stacked_means,
    check_condition,
    condition_holds,
)
from .errors import ScenarioError
from .norms import norm_keys, scale_exponent, scaled_row_norms
from .rng import Stream

SEPARATOR = "+"


@dataclass(frozen=True)
class Mixed:
    """What a pre-aggregation step makes of k rows: m vectors, and where each came from.

    ``rows`` (m, d): the step's output. ``members`` (m, k) bool: the inputs each output row
    combines. ``changed`` (m,) bool: the output rows that are not one input as it came (a mean
    of several, or a clipped one). ``f``: how many output rows may be Byzantine.
    """

    rows: np.ndarray
    members: np.ndarray
    changed: np.ndarray
    f: int


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """rows / ||rows|| for nonzero rows, computed on rows scaled by the power of two above their
    largest |entry| (exact), so that a row near 1e308 does not overflow its norm to inf."""
    shift = scale_exponent(np.max(np.abs(rows), axis=1))
    scaled = np.ldexp(rows, -shift[:, None])
    norms = scaled_row_norms(scaled)
    return scaled / np.where(norms > 0, norms, 1.0)[:, None]


def _clip(rows: np.ndarray, threshold: float, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``which`` (bool) whose norm exceeds ``threshold`` scaled down to norm
    ``threshold``; returns the rows and which of them were changed."""
    with np.errstate(over="ignore"):  # a norm past the largest float is inf: clipped
        norms = scaled_row_norms(rows)
    clipped = which & (norms > threshold)
    out = rows.copy()
    if clipped.any():
        out[clipped] = _unit_rows(rows[clipped]) * threshold
    return out, clipped


def _identity_members(k: int) -> np.ndarray:
    return np.eye(k, dtype=bool)


class PreAggregator:
    """What every step shares: ``name`` (its key in :data:`PRE_AGGREGATORS`), ``condition``
    (its condition on k inputs and f faults, in words), ``draws`` (whether ``mix`` uses its
    generator). A step keeps the count (m = k, f unchanged) and accepts any k unless it says
    otherwise (``needs_more_than_f``: k > f, or k = 0)."""

    name: ClassVar[str]
    needs_more_than_f: ClassVar[bool] = False
    draws: ClassVar[bool] = False

    @property
    def condition(self) -> str:
        return "k > f" if self.needs_more_than_f else "k >= 0"

    def holds(self, k: int, f: int) -> bool:
        return not self.needs_more_than_f or k > f or k == 0

    def outputs(self, k: int, f: int) -> tuple[int, int]:
        """(m, f): the vectors it returns and how many of them may be Byzantine."""
        return k, f

    def mix(self, rows: np.ndarray, f: int, randomness: Stream | None) -> Mixed:
        raise NotImplementedError


@dataclass(frozen=True)
class NearestNeighbourMixing(PreAggregator):
    """NNM (Allouah, Farhadkhani, Guerraoui, Gupta, Pinot & Stephan, "Fixing by mixing: a recipe
    for optimal Byzantine ML under heterogeneity", AISTATS 2023; ByzFL's ``NNM``).

    y_i = (1 / (k - f)) sum_{j in N_i} x_j, N_i the k - f inputs nearest to x_i (x_i itself
    included, at distance 0). Ties go to the lower sender id, and distances are compared by
    exact keys at every magnitude (ByzFL's ``argpartition`` breaks ties arbitrarily). m = k
    outputs, of which f may still be Byzantine. Needs k > f (N_i not empty).
    """

    name: ClassVar[str] = "nnm"
    needs_more_than_f: ClassVar[bool] = True

    def mix(self, rows: np.ndarray, f: int, randomness: Stream | None) -> Mixed:
        k = len(rows)
        exponent, mantissa = _squared_distance_keys(rows)
        ids = np.broadcast_to(np.arange(k), (k, k))
        nearest = np.lexsort((ids, mantissa, exponent), axis=1)[:, : k - f]
        members = np.zeros((k, k), dtype=bool)
        np.put_along_axis(members, nearest, True, axis=1)
        # Each neighbourhood in sender order, averaged as _mean averages it: one stacked call.
        mixed = _stacked_means(rows[np.sort(nearest, axis=1)])
        return Mixed(mixed, members, np.full(k, k - f > 1), f)


@dataclass(frozen=True)
class Bucketing(PreAggregator):
    """Bucketing (Karimireddy, He & Jaggi, "Byzantine-robust learning on heterogeneous datasets
    via bucketing", ICLR 2022; ByzFL's ``Bucketing``).

    Shuffle the k inputs with a random permutation pi, cut them into ceil(k / s) buckets of s
    consecutive inputs (the last one may be smaller) and return each bucket's mean. Each
    Byzantine input lands in one bucket, so at most f outputs are Byzantine. The permutation is
    drawn from the receiver's filter stream for the round (:func:`netsim.rng.filter_stream`);
    called without a generator, the buckets follow sender order.

    Parameter ``s`` (bucket size), an integer >= 1; default 2 (the paper's experiments; ByzFL's
    default is 1, which leaves the inputs unchanged).
    """

    s: int = 2
    name: ClassVar[str] = "bucketing"
    draws: ClassVar[bool] = True  # the permutation

    def __post_init__(self) -> None:
        if isinstance(self.s, bool) or not isinstance(self.s, int) or not 1 <= self.s <= 10**6:
            raise ScenarioError(FILTER_KEY, "bucketing: bad parameter s", self.s, "1 <= s <= 1e6")

    def outputs(self, k: int, f: int) -> tuple[int, int]:
        return -(-k // self.s), f

    def mix(self, rows: np.ndarray, f: int, randomness: Stream | None) -> Mixed:
        k = len(rows)
        order = np.arange(k) if randomness is None else randomness.permutation(k)
        buckets = [order[start : start + self.s] for start in range(0, k, self.s)]
        members = np.zeros((len(buckets), k), dtype=bool)
        for b, bucket in enumerate(buckets):
            members[b, bucket] = True
        mixed = np.array([_mean(rows[np.sort(bucket)]) for bucket in buckets])
        changed = np.array([len(bucket) > 1 for bucket in buckets], dtype=bool)
        return Mixed(mixed.reshape(len(buckets), rows.shape[1]), members, changed, f)


@dataclass(frozen=True)
class StaticClipping(PreAggregator):
    """Static clipping (ByzFL's ``Clipping``): y_i = min(1, c / ||x_i||) x_i.

    Parameter ``c`` > 0 (in the inputs' units); default 2, as ByzFL. m = k, f unchanged.
    """

    c: float = 2.0
    name: ClassVar[str] = "clipping"

    def __post_init__(self) -> None:
        c = self.c
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < math.inf:
            raise ScenarioError(FILTER_KEY, "clipping: bad parameter c", c, "0 < c < inf")
        object.__setattr__(self, "c", float(c))  # one canonical name: c=2 and c=2.0 alike

    def mix(self, rows: np.ndarray, f: int, randomness: Stream | None) -> Mixed:
        out, clipped = _clip(rows, float(self.c), np.ones(len(rows), dtype=bool))
        return Mixed(out, _identity_members(len(rows)), clipped, f)


@dataclass(frozen=True)
class AdaptiveRobustClipping(PreAggregator):
    """ARC, adaptive robust clipping (Allouah, Guerraoui, Gupta, Jellouli, Rizk & Stephan, "The
    vital role of gradient clipping in Byzantine-resilient distributed learning", arXiv
    2405.14432, 2024; ByzFL's ``ARC``).

    With c = floor(2 f (k - f) / k) (integer arithmetic; ByzFL rounds the float product), the c
    inputs of largest norm are clipped to the norm of the (c+1)-th largest:
    y_i = min(1, ||x_(k-c)|| / ||x_i||) x_i, norms in ascending order. Norms are compared by
    exact keys, ties to the lower sender id (the later sender counts as larger). m = k, f
    unchanged. Needs k > f.
    """

    name: ClassVar[str] = "arc"
    needs_more_than_f: ClassVar[bool] = True

    def mix(self, rows: np.ndarray, f: int, randomness: Stream | None) -> Mixed:
        k = len(rows)
        count = (2 * f * (k - f)) // k if k else 0
        if count == 0:
            return Mixed(rows.copy(), _identity_members(k), np.zeros(k, dtype=bool), f)
        order = _key_order(*norm_keys(rows))  # ascending norms, ties by sender
        with np.errstate(over="ignore"):
            threshold = float(scaled_row_norms(rows[order[k - count - 1]][None, :])[0])
        largest = np.zeros(k, dtype=bool)
        largest[order[k - count :]] = True
        out, clipped = _clip(rows, threshold, largest)
        return Mixed(out, _identity_members(k), clipped, f)


PRE_AGGREGATORS: dict[str, type[PreAggregator]] = {
    cls.name: cls
    for cls in (NearestNeighbourMixing, Bucketing, StaticClipping, AdaptiveRobustClipping)
}
"""Pre-aggregation steps by name (a new one: one frozen dataclass subclassing
:class:`PreAggregator`, its parameters as fields, with ``mix``, added here)."""


# --- pipelines --------------------------------------------------------------------------------

ALIASES = {"cwmed": "median", "cwtm": "trimmed_mean"}
"""Other names of netsim's rules, as the NNM paper's code and much of the literature spell them
(coordinate-wise median, coordinate-wise trimmed mean): accepted as the last stage, recorded
under netsim's name."""

_STEP = re.compile(r"\s*([a-z_]+)\s*(?:\((.*)\))?\s*$")


def _parse_number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _step_label(step: PreAggregator) -> str:
    values = [f"{field.name}={getattr(step, field.name)!r}" for field in fields(step)]
    return f"{step.name}({', '.join(values)})" if values else step.name


@dataclass(frozen=True)
class Pipeline:
    """Pre-aggregation ``steps``, then aggregation ``rule`` (a name in
    :data:`netsim.aggregators.AGGREGATORS`), called as a rule is.

    ``name`` is the canonical spelling (``"nnm+median"``, ``"bucketing(s=3)+krum"``): what the
    results record. A pipeline of the rule alone is that rule, bit for bit.
    """

    steps: tuple[PreAggregator, ...]
    rule: str

    @property
    def name(self) -> str:
        return SEPARATOR.join([*(_step_label(step) for step in self.steps), self.rule])

    @property
    def is_sum(self) -> bool:
        """Whether ``value`` is a sum (the rule is ``cgc`` or ``cge``), not a mean."""
        return self.rule in SUM_RULES

    @property
    def random(self) -> bool:
        """Whether a step draws (and so wants the receiver's ``randomness``)."""
        return any(step.draws for step in self.steps)

    def condition_holds(self, k: int, f: int) -> bool:
        """Whether every stage accepts the k and f it receives (k inputs, f faults at the
        start; a step may change both: bucketing makes ceil(k / s) buckets)."""
        for step in self.steps:
            if not step.holds(k, f):
                return False
            k, f = step.outputs(k, f)
        return condition_holds(self.rule, k, f)

    def check(self, k: int, f: int) -> None:
        """Raise :class:`ScenarioError` (key ``protocol.filter``) naming the first stage whose
        condition fails for the k inputs and f faults it receives."""
        stage_k, stage_f = k, f
        for step in self.steps:
            if not step.holds(stage_k, stage_f):
                raise ScenarioError(
                    FILTER_KEY,
                    f"{self.name}: step {_step_label(step)} needs {step.condition}",
                    f"k={stage_k}, f={stage_f}",
                    f"0 <= f <= {stage_k - 1} for k={stage_k}",
                )
            stage_k, stage_f = step.outputs(stage_k, stage_f)
        try:
            check_condition(self.rule, stage_k, stage_f)
        except ScenarioError as err:
            if not self.steps:
                raise
            raise ScenarioError(
                FILTER_KEY,
                f"{self.name}: {err.problem}, and it receives {stage_k} vectors from the steps "
                f"before it ({k} inputs)",
                err.value,
                err.allowed,
            ) from None

    def __call__(
        self,
        values: np.ndarray,
        f: int,
        own: np.ndarray | None = None,
        senders: np.ndarray | None = None,
        randomness: Stream | None = None,
    ) -> Aggregate:
        """The rule applied to what the steps make of the finite inputs.

        Non-finite rows are excluded first (as every rule does: f' = max(0, f - #excluded)).
        An input is *kept* when it enters a vector the rule keeps, and *changed* when it
        enters only modified (mixed with others, or clipped). For a sum rule after steps that
        change the count (bucketing: m buckets from k' inputs), the sum is scaled by k'/m so
        that it still stands for a sum over the inputs. ``scores`` are the rule's only when
        there is no step (they refer to the steps' outputs otherwise).
        """
        rule = AGGREGATORS[self.rule]
        if not self.steps:
            return rule(values, f, own, senders)
        self.check(np.asarray(values).shape[0], f)
        # The rule "none" accepts any k with f = 0: only the preparation, no condition.
        inputs, own = _prepare("none", values, 0, own, senders)
        inputs = replace(inputs, f=max(0, int(f) - int(inputs.excluded.sum())))
        if len(inputs.rows) == 0:
            return inputs.empty(own, self.is_sum)
        rows, f_now = inputs.rows, inputs.f
        members = _identity_members(len(rows))
        changed = np.zeros(len(rows), dtype=bool)
        for step in self.steps:
            mixed = step.mix(rows, f_now, randomness)
            # An output row is changed if the step changed it or it mixes changed rows.
            changed = mixed.changed | (mixed.members & changed[None, :]).any(axis=1)
            members = (mixed.members[:, :, None] & members[None, :, :]).any(axis=1)
            rows, f_now = mixed.rows, mixed.f
        result = rule(rows, f_now, own)
        entered = result.kept
        modified = entered & (result.changed | changed)
        kept = (members & entered[:, None]).any(axis=0)
        kept_changed = (members & modified[:, None]).any(axis=0)
        value = result.value
        if self.is_sum and len(rows) != len(inputs.rows):
            value = value * (len(inputs.rows) / len(rows))
        return inputs.result(
            value,
            kept,
            kept_changed,
            threshold=result.threshold,
            iterations=result.iterations,
            converged=result.converged,
        )


def _parse_step(text: str, key: str) -> PreAggregator:
    match = _STEP.match(text)
    if match is None or match.group(1) not in PRE_AGGREGATORS:
        raise ScenarioError(
            key, "unknown pre-aggregation step", text, " | ".join(sorted(PRE_AGGREGATORS))
        )
    cls = PRE_AGGREGATORS[match.group(1)]
    names = [field.name for field in fields(cls)]
    parameters: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in (match.group(2) or "").split(","))):
        name, _, number = item.partition("=")
        name = name.strip()
        if name not in names:
            allowed = ", ".join(names) if names else "none"
            raise ScenarioError(key, f"{cls.name}: unknown parameter", name, allowed)
        try:
            parameters[name] = _parse_number(number.strip())
        except ValueError:
            raise ScenarioError(
                key, f"{cls.name}: parameter {name} must be a number", number.strip(), "a number"
            ) from None
    return cls(**parameters)


def parse_filter(value: Any, rules: Sequence[str] | None = None, key: str = FILTER_KEY) -> Pipeline:
    """The pipeline a scenario's ``filter`` names: a rule name, a list of step names then a
    rule name, or the same joined by ``+``. ``rules`` restricts the final rule (a protocol's
    filters); a step's parameters go in parentheses: ``bucketing(s=3)``, ``clipping(c=5)``."""
    allowed_rules = tuple(rules) if rules is not None else tuple(AGGREGATORS)
    if isinstance(value, str):
        parts = value.split(SEPARATOR)
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        parts = list(value)
    else:
        raise ScenarioError(
            key,
            "a filter is a rule name or a list of step names then a rule name",
            value,
            " | ".join(allowed_rules),
        )
    *steps, rule = (part.strip() for part in parts)
    rule = ALIASES.get(rule, rule)
    if rule not in allowed_rules:
        step = _STEP.match(rule)
        problem = (
            "the last stage must be an aggregation rule, not a pre-aggregation step"
            if step is not None and step.group(1) in PRE_AGGREGATORS
            else "unknown choice"
        )
        raise ScenarioError(key, problem, rule, " | ".join(allowed_rules))
    return Pipeline(tuple(_parse_step(step, key) for step in steps), rule)


@functools.lru_cache(maxsize=256)
def pipeline(name: str) -> Pipeline:
    """The pipeline of a canonical filter name (as :attr:`Pipeline.name` spells it)."""
    return parse_filter(name)
