"""The CE update (CE paper, Eq. 7) of many receivers at once, bit for bit the reference's.

For each receiver u of a batch: ``values[u, s]`` is what u uses for sender s and
``present[u, s]`` whether it uses it at all (a finite value that arrived in time, or, with
``absent = "stale"``, the sender's most recent finite value, flagged ``stale[u, s]``). With m_u
absent values and f_u = max(0, f - m_u) (spec/ce.md, "Missing messages"):

- ``ce``: keep the k_u - f_u present values nearest to x_u, ranked by (||x_s - x_u||, sender
  id), compared exactly at every magnitude, a non-finite value last (CE paper, Eqs. 5-6;
  :func:`netsim.filters.nearest_kept`, the one implementation the reference engine also
  calls); ``none``: keep every present value;
  aggregate a_u = x_u + eta_u sum_{kept} (x_s - x_u);
- any other rule of :mod:`netsim.aggregators`, or a pipeline of :mod:`netsim.preaggregation`:
  called per receiver on its present values, and a_u = x_u + eta_u (n - 1 - f) (rule value -
  x_u) (see :mod:`netsim.protocols.ce`); a pipeline that draws gets the stream of receiver
  ``receivers[u]`` in round ``rounds[u]`` under ``seed``, as in the reference.

Exactness. CE's choice is :func:`netsim.filters.nearest_kept` on the stacked (B, n, d)
differences, the function the reference calls with B = 1: each row gets the same products and
the same fixed-order sum as in the reference's call. The sum over kept values is one
:func:`netsim.portable.ordered_sum` over (G, m, d) stacks of receivers that keep the same
number m, in the reference's row order (in-time senders by id, then stale senders by id): the
summation tree depends only on m, so each (m, d) slab is summed as the reference sums its
(m, d) array and the bits agree (tests/test_fast_engine.py checks this on random stacks and
through the whole engine). The projection onto X_u is :class:`netsim.costs.StackedProjection`,
bit for bit ``LeastSquares.project``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..filters import nearest_kept
from ..portable import ordered_sum
from ..preaggregation import pipeline
from ..rng import filter_stream


@dataclass
class PeerStep:
    """Result of :func:`peer_step` for a batch of B receivers (arrays over (B, n) senders)."""

    aggregate: np.ndarray  # (B, d) before projection
    kept: np.ndarray  # (B, n) bool: entered the aggregate
    changed: np.ndarray  # (B, n) bool: entered modified (aggregators that clip)
    skipped: np.ndarray  # (B,) bool: too few values for the rule's n/f condition


def peer_step(
    rule: str,
    own: np.ndarray,
    values: np.ndarray,
    present: np.ndarray,
    stale: np.ndarray | None,
    eta: Sequence[float],
    n: int,
    f: int,
    receivers: Sequence[int] | None = None,
    rounds: Sequence[int] | None = None,
    seed: int = 0,
) -> PeerStep:
    """Filter and aggregate for B receivers (module docstring); ``own`` (B, d), ``values``
    (B, n, d), ``present``/``stale`` (B, n) bool (``stale`` None: no stale value), ``eta`` the
    step of each receiver's round."""
    batch, senders, _ = values.shape
    k = present.sum(axis=1)  # the present senders (ndarray.sum: count_nonzero without a wrapper)
    f_left = np.maximum(0, f - ((n - 1) - k))
    # The reference's row order: the in-time senders by id, then the stale ones by id.
    if stale is None or not stale.any():
        row_key = None  # every present row is in time: sender id order
    else:
        ids = np.broadcast_to(np.arange(senders), (batch, senders))
        row_key = np.where(present, stale * senders + ids, 2 * senders)
    changed = np.zeros((batch, senders), dtype=bool)
    skipped = np.zeros(batch, dtype=bool)
    if rule in ("ce", "none"):
        eta = np.asarray(eta, dtype=np.float64)
        if rule == "none":
            aggregate = _sum_step(own, values, present, row_key, eta)
            return PeerStep(aggregate, present.copy(), changed, skipped)
        with np.errstate(over="ignore", invalid="ignore"):
            difference = values - own[:, None, :]  # x_s - x_u, as the reference subtracts
        kept = nearest_kept(difference, values, own, present, k - f_left)
        aggregate = _sum_step(own, values, kept, row_key, eta, difference)
        return PeerStep(aggregate, kept, changed, skipped)
    if row_key is None:
        row_key = np.where(present, np.arange(senders), 2 * senders)
    kept = np.zeros((batch, senders), dtype=bool)
    aggregate = np.empty_like(own)
    rows = np.argsort(row_key, axis=1, kind="stable")
    rule_of = pipeline(rule)
    if rule_of.random and (receivers is None or rounds is None):
        raise ValueError(f"{rule} draws: peer_step needs the receivers and their rounds")
    receivers = [] if receivers is None else receivers
    rounds = [] if rounds is None else rounds
    for u in range(batch):
        index = rows[u, : k[u]]
        received = values[u][index]
        x = own[u]
        with np.errstate(over="ignore", invalid="ignore"):
            if rule_of.condition_holds(len(received), int(f_left[u])):
                randomness = (
                    filter_stream(seed, int(receivers[u]), int(rounds[u]))
                    if rule_of.random
                    else None
                )
                result = rule_of(
                    received, int(f_left[u]), own=x, senders=index, randomness=randomness
                )
                kept[u, index] = result.kept
                changed[u, index] = result.changed
                aggregate[u] = x + eta[u] * (n - 1 - f) * (result.value - x)
            else:
                skipped[u] = True
                aggregate[u] = x
    return PeerStep(aggregate, kept, changed, skipped)


def _sum_step(
    own: np.ndarray,
    values: np.ndarray,
    kept: np.ndarray,
    row_key: np.ndarray | None,
    eta: np.ndarray,
    difference: np.ndarray | None = None,
) -> np.ndarray:
    """x_u + eta_u sum_{kept rows, reference order} (x_s - x_u), grouped by kept count
    (``row_key`` None: every kept row in sender id order; ``difference``: x_s - x_u, if
    already computed)."""
    aggregate = np.empty_like(own)
    count = kept.sum(axis=1)
    senders, dim = values.shape[1], values.shape[2]
    in_id_order = row_key is None or bool((row_key[kept] < senders).all())  # no stale row
    if not in_id_order:
        assert row_key is not None
        order = np.argsort(np.where(kept, row_key, 2 * senders + 1), axis=1, kind="stable")
    if count.min() == count.max():  # one group: every receiver keeps the same number
        sizes = [(int(count[0]), None)]
    else:
        sizes = [(m, np.flatnonzero(count == m)) for m in np.unique(count).tolist()]
    for m, group in sizes:
        rows = slice(None) if group is None else group
        x = own[rows]
        with np.errstate(over="ignore", invalid="ignore"):
            if in_id_order and difference is not None:
                # the kept rows of each receiver, in increasing sender id (C order)
                # (compress on the flattened rows: a third of the time of a 2-D boolean index)
                flat = np.reshape(difference[rows], (-1, dim)).compress(kept[rows].ravel(), axis=0)
                stacked = flat.reshape(len(x), m, dim)
            else:
                if in_id_order:
                    index = np.nonzero(kept[rows])[1].reshape(len(x), m)
                else:
                    index = order[rows, :m]
                selected = np.arange(len(x))[:, None] if group is None else group[:, None]
                stacked = values[selected, index] - x[:, None, :]
            total = ordered_sum(stacked, axis=1)
            aggregate[rows] = x + eta[rows][:, None] * total
    return aggregate
