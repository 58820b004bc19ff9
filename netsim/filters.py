"""Robust filters (pure numpy, no SimPy): which received values an honest agent keeps.

A peer filter has the signature ``filter(own, received, f, senders) -> kept`` where ``own`` is the
receiver's estimate (d,), ``received`` the values that arrived, one row per sender (k, d),
``f`` the number of values to eliminate, ``senders`` the sender ids (ties are broken by them, so
the result never depends on the order in which messages arrived), and ``kept`` a boolean mask
over the rows of ``received``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .norms import column_sums, distance_keys, norm_keys, plain_distances, scaled_row_norms

PeerFilter = Callable[[np.ndarray, np.ndarray, int, np.ndarray | None], np.ndarray]


def comparative_elimination(
    own: np.ndarray, received: np.ndarray, f: int, senders: np.ndarray | None = None
) -> np.ndarray:
    """Keep all but the f received estimates farthest from ``own`` (CE paper, Eqs. 5-6).

    Sort the received x_j by ||x_j - x_i|| non-decreasing, ties by sender id, and eliminate the
    last f: F_i = the first k - f. The distances are compared exactly at every magnitude
    (:func:`netsim.norms.distance_keys`: 2e300 is farther than 1e300 although both square to
    +inf); a value with a NaN or infinite entry sorts last. Cost O(k d) (a selection, not a
    sort), O(k d + k log k) where a distance is outside plain arithmetic's range. The one
    implementation of CE's choice: :func:`nearest_kept` for many receivers at once.
    """
    received = np.asarray(received, dtype=np.float64)
    k = received.shape[0]
    if f < 0:
        raise ValueError(f"f must be >= 0 (got {f})")
    senders = np.arange(k) if senders is None else np.asarray(senders)
    by_sender = np.argsort(senders, kind="stable")
    ordered = received[by_sender][None]
    own = np.asarray(own, dtype=np.float64)[None]
    with np.errstate(over="ignore", invalid="ignore"):
        difference = ordered - own[:, None, :]
    kept_in_order = nearest_kept(
        difference, ordered, own, np.ones((1, k), dtype=bool), np.array([max(k - f, 0)])
    )[0]
    kept = np.zeros(k, dtype=bool)
    kept[by_sender] = kept_in_order
    return kept


def nearest_kept(
    difference: np.ndarray,
    values: np.ndarray,
    own: np.ndarray,
    present: np.ndarray,
    count: np.ndarray,
) -> np.ndarray:
    """CE's choice for B receivers at once: receiver u keeps the ``count[u]`` of its present
    values nearest to its own ``own[u]``, ties by sender id.

    ``values`` (B, k, d): row s of receiver u is sender s's value (senders in id order);
    ``difference`` = values - own[:, None, :] as the caller formed it; ``present`` (B, k) which
    values u has. Returns the (B, k) mask. Absent values are never kept.
    """
    batch, senders = present.shape
    plain, inexact = plain_distances(difference)
    if not inexact.any():  # the common case: the plain distances order the values exactly
        plain[~present] = np.nan  # NaN sorts last
        return smallest_first(plain, np.asarray(count)) & present
    exponent, mantissa = distance_keys(difference, values, own, (plain, inexact))
    ids = np.broadcast_to(np.arange(senders), (batch, senders))
    absent_last = (~present).astype(np.int64)
    order = np.lexsort((ids, mantissa, exponent, absent_last), axis=-1)
    return heads_of(order, np.asarray(count)) & present


SORT_COLUMNS = 64  # smallest_first sorts rows shorter than this (measured crossover)


def smallest_first(keys: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mask of the ``count[u]`` smallest entries of each row of ``keys`` (B, k), ties by column
    (the first columns win), NaN largest: the first ``count[u]`` columns of a stable ascending
    sort of row u, found in O(k) per row instead of O(k log k).

    With t_u the count[u]-th smallest key (:func:`numpy.partition` at count[u] - 1, which also
    sorts NaN last), row u keeps every key below t_u and, of the keys equal to t_u (NaN counts
    as equal to NaN), the first count[u] - #{key < t_u} by column. Rows shorter than
    :data:`SORT_COLUMNS` take the stable sort itself (O(k log k), fewer calls).
    """
    batch, columns = keys.shape
    count = np.asarray(count, dtype=np.int64)
    if count.shape != (batch,):
        count = np.broadcast_to(count, (batch,))
    if columns < SORT_COLUMNS:  # short rows: one stable sort costs less than the steps below
        return heads_of(np.argsort(keys, axis=-1, kind="stable"), count)
    kept = np.zeros((batch, columns), dtype=bool)
    kept[count >= columns] = True
    for c in np.unique(count[(count > 0) & (count < columns)]).tolist():
        rows = slice(None) if (count == c).all() else np.flatnonzero(count == c)
        block = keys[rows]
        threshold = np.partition(block, c - 1, axis=-1)[:, c - 1 : c]
        missing, past_numbers = np.isnan(block), np.isnan(threshold)  # NaN sorts last
        with np.errstate(invalid="ignore"):
            below = (block < threshold) | (~missing & past_numbers)
            tied = (block == threshold) | (missing & past_numbers)
        room = c - below.sum(axis=-1)
        kept[rows] = below | (tied & (np.cumsum(tied, axis=-1) <= room[:, None]))
    return kept


def heads_of(order: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mask (B, k) of the first ``count[u]`` columns of each row's ``order`` (B, k), a
    permutation of range(k) per row: kept[u, order[u, j]] = j < count[u] (one flat scatter,
    not ``np.put_along_axis``, ~8 µs a call slower)."""
    batch, columns = order.shape
    kept = np.zeros(batch * columns, dtype=bool)
    flat = order + (np.arange(batch) * columns)[:, None]
    kept[flat.reshape(-1)] = (np.arange(columns)[None, :] < count[:, None]).reshape(-1)
    return kept.reshape(batch, columns)


def keep_all(
    own: np.ndarray, received: np.ndarray, f: int, senders: np.ndarray | None = None
) -> np.ndarray:
    """No filter: every received value enters the aggregate (projected consensus)."""
    return np.ones(np.asarray(received).shape[0], dtype=bool)


PEER_FILTERS: dict[str, PeerFilter] = {
    "ce": comparative_elimination,
    "none": keep_all,
}


@dataclass(frozen=True)
class ClippedGradients:
    """Result of :func:`comparative_gradient_clipping`."""

    gradients: np.ndarray  # (n, d): g_hat, the gradients after clipping
    threshold: float  # ||g_{i_{n-f}}||: the (f+1)-th largest norm
    clipped: np.ndarray  # (n,) bool: scaled down (in the f largest, norm above the threshold)

    @property
    def total(self) -> np.ndarray:
        """sum_j g_hat_j, the server's step direction (CGC paper, Eq. 17), summed so that no
        partial sum overflows (:func:`netsim.norms.column_sums`)."""
        return column_sums(self.gradients)


def comparative_gradient_clipping(
    gradients: np.ndarray, f: int, senders: np.ndarray | None = None
) -> ClippedGradients:
    """Clip the f largest-norm gradients to the norm of the (f+1)-th largest (CGC paper, Eq. 16).

    Sort the n gradients by norm, ties by sender id: ||g_{i_1}|| <= ... <= ||g_{i_n}||. With
    threshold = ||g_{i_{n-f}}||, g_hat_j = (threshold / ||g_j||) g_j for the f largest whose
    norm is above it and g_hat_j = g_j otherwise. The norms are compared exactly at every
    magnitude: by the plain norms where all of them are in plain range
    (:func:`netsim.norms.plain_distances`: they are exact there, and order the rows as the
    exact keys do), by :func:`netsim.norms.norm_keys` otherwise; equal norms tie. A threshold
    of 0 is the paper's termination rule (the caller stops). Needs n > f; every row must be
    finite (the server treats a non-finite gradient as missing, i.e. zero, before calling
    this). Cost O(n d + n log n). The one implementation of CGC: the ``cgc`` aggregator calls
    it too.
    """
    gradients = np.asarray(gradients, dtype=np.float64)
    n = gradients.shape[0]
    if not 0 <= f < n:
        raise ValueError(f"CGC needs 0 <= f < n (got f={f}, n={n})")
    plain, inexact = plain_distances(gradients)
    if inexact.any():  # a norm out of plain range: order by the exact keys
        exponent, mantissa = norm_keys(gradients)
        keys: tuple[np.ndarray, ...] = (mantissa, exponent)
    else:  # the common case: the plain norms order the rows as the exact keys would
        keys = (plain,)
    if senders is None:  # ties by row: a stable sort
        order = np.argsort(keys[0], kind="stable") if len(keys) == 1 else np.lexsort(keys)
    else:
        order = np.lexsort((np.asarray(senders), *keys))
    pivot = order[n - f - 1]
    largest = order[n - f :]
    clipped = np.zeros(n, dtype=bool)
    if len(keys) == 1:
        clipped[largest] = plain[largest] > plain[pivot]
    else:
        clipped[largest] = (exponent[largest] > exponent[pivot]) | (
            (exponent[largest] == exponent[pivot]) & (mantissa[largest] > mantissa[pivot])
        )
    norms = np.empty(n)  # ||g|| of the pivot and the f largest: the only ones used (row-wise)
    norms[order[n - f - 1 :]] = scaled_row_norms(gradients[order[n - f - 1 :]])
    threshold = float(norms[pivot])
    out = gradients.copy()
    # Unit direction first, then the threshold: threshold / norm would underflow for norms
    # near 1e308 and lose the direction's precision.
    out[clipped] = gradients[clipped] / norms[clipped][:, None] * threshold
    return ClippedGradients(gradients=out, threshold=threshold, clipped=clipped)


def plain_sum(gradients: np.ndarray, f: int, senders: np.ndarray | None = None) -> ClippedGradients:
    """No filter at the server: every gradient enters the sum unchanged. The reported threshold
    is the largest norm, so the termination rule fires only when every gradient is zero."""
    gradients = np.asarray(gradients, dtype=np.float64)
    norms = scaled_row_norms(gradients)
    return ClippedGradients(
        gradients=gradients.copy(),
        threshold=float(norms.max()) if norms.size else 0.0,
        clipped=np.zeros(gradients.shape[0], dtype=bool),
    )


GradientFilter = Callable[[np.ndarray, int, np.ndarray | None], ClippedGradients]

GRADIENT_FILTERS: dict[str, GradientFilter] = {
    "cgc": comparative_gradient_clipping,
    "none": plain_sum,
}
