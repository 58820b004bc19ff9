"""Euclidean norms that do not overflow (pure numpy, fixed-order sums: :mod:`netsim.portable`)."""

from __future__ import annotations

import numpy as np

from .portable import ordered_sum, row_norms


def scale_exponent(largest: np.ndarray | float) -> np.ndarray:
    """The exponent e of the power of two just above ``largest`` >= 0 (frexp's: largest < 2**e),
    elementwise: ``np.ldexp(x, -e)`` divides by 2**e exactly and maps every |x| <= largest
    below 1, so that sums of squares neither overflow nor, for tiny entries, underflow. A zero,
    NaN or infinite ``largest`` gets e = 1 (a zero scales to zero whatever e is; a non-finite
    entry stays non-finite). The one place netsim's power-of-two scalings take their exponent.
    """
    largest = np.asarray(largest, dtype=np.float64)
    usable = np.isfinite(largest) & (largest > 0)
    return np.frexp(np.where(usable, largest, 1.0))[1]


def scaled_row_norms(rows: np.ndarray) -> np.ndarray:
    """||row|| for each row of ``rows`` (k, d), computed as s ||row / s|| with s = max |entry|,
    so that finite entries near 1e308 give a finite norm instead of overflowing to inf."""
    rows = np.asarray(rows, dtype=np.float64)
    # np.maximum.reduce is np.max without its Python wrapper (a few µs, every CGC round)
    scale = np.maximum.reduce(np.abs(rows), axis=1) if rows.size else np.zeros(rows.shape[0])
    if scale.size and np.minimum.reduce(scale) > 0:  # the common case (a zero or NaN row fails)
        return scale * row_norms(rows / scale[:, None])
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, safe * row_norms(rows / safe[:, None]), 0.0)


# Plain norms between these are exact as computed: no square of the largest entry over- or
# underflows (2^(2*500) and 2^(-2*500) are normal floats).
PLAIN_RANGE = (2.0**-500, 2.0**500)
LAST_EXPONENT = np.iinfo(np.int64).max  # the key of a non-finite row: after every finite one


def norm_keys(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort keys (exponent, mantissa) of ||row|| along the last axis, ||row|| = mantissa *
    2**exponent with mantissa in [1/2, 1): the norm as if computed without overflow or
    underflow, ordered by (exponent, mantissa).

    Where the plain norm (:func:`netsim.portable.row_norms`) lies in :data:`PLAIN_RANGE` the key
    is frexp of it. Other rows are divided by the power of two above their largest |entry|
    (exact), their norm taken there and the exponent added back (:func:`scaled_norm_keys`); in
    the plain range both give the same key (a power of four under the square root) unless a
    square too small to matter to the sum underflows in one and not the other. A zero row has
    mantissa 0 and the smallest exponent; a row with a NaN or infinite entry sorts after every
    finite one. Cost: one plain norm per row, and the scaled one for the rows out of range.
    """
    rows = np.asarray(rows, dtype=np.float64)
    plain, inexact = plain_distances(rows)
    exponent, mantissa = _plain_keys(plain)
    if inexact.any():
        exponent[inexact], mantissa[inexact] = scaled_norm_keys(rows[inexact])
    return exponent, mantissa


def _plain_keys(plain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exponent, mantissa) of frexp(plain), a zero norm getting the smallest exponent."""
    mantissa, exponent = np.frexp(plain)
    return np.where(mantissa == 0, np.iinfo(np.int64).min, exponent.astype(np.int64)), mantissa


def scaled_norm_keys(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`norm_keys` computed for every row from the row divided by the power of two above
    its largest |entry|: right at every magnitude (what :func:`norm_keys` does out of range)."""
    rows = np.asarray(rows, dtype=np.float64)
    largest = np.max(np.abs(rows), axis=-1) if rows.shape[-1] else np.zeros(rows.shape[:-1])
    finite = np.isfinite(largest)
    shift = scale_exponent(largest)
    with np.errstate(invalid="ignore"):
        norm = row_norms(np.ldexp(np.where(finite[..., None], rows, 0.0), -shift[..., None]))
    mantissa, exponent = np.frexp(norm)
    exponent = exponent.astype(np.int64) + shift
    exponent = np.where(mantissa == 0, np.iinfo(np.int64).min, exponent)
    return np.where(finite, exponent, LAST_EXPONENT), np.where(finite, mantissa, 1.0)


def plain_distances(difference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """||row|| of ``difference`` (..., d) in plain arithmetic, and which rows that is not exact
    for: a norm outside :data:`PLAIN_RANGE` (it may have overflowed, or squares underflowed),
    except an exact 0 (a zero row)."""
    with np.errstate(over="ignore", invalid="ignore"):
        plain = row_norms(difference)
    if (  # np.minimum.reduce: min() without its Python wrapper (a few µs a call, many a round)
        plain.size
        and np.minimum.reduce(plain, axis=None) >= PLAIN_RANGE[0]
        and np.maximum.reduce(plain, axis=None) <= PLAIN_RANGE[1]
    ):
        return plain, np.zeros(plain.shape, dtype=bool)  # the common case (a NaN fails it)
    inexact = ~((plain >= PLAIN_RANGE[0]) & (plain <= PLAIN_RANGE[1]))
    zero = np.flatnonzero(plain == 0.0)  # exact for a zero row (CE: every receiver's own slot)
    if zero.size:
        rows = difference.reshape(-1, difference.shape[-1])[zero]
        underflowed = np.any(rows != 0.0, axis=-1) if np.count_nonzero(rows) else False
        inexact.reshape(-1)[zero] = underflowed
    return plain, inexact


def distance_keys(
    difference: np.ndarray,
    values: np.ndarray,
    own: np.ndarray,
    plain: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`norm_keys` of ||x_s - x_u|| for ``difference`` = values - own[..., None, :]
    ((..., k, d), as the caller computed it, possibly overflowed), at the cost of a plain norm:
    rows whose plain norm is exact (:func:`plain_distances`, or ``plain`` if the caller has
    it) take frexp of it; the others are recomputed exactly: from the difference scaled by a
    power of two where it is finite (its squares over- or underflowed), from x_s/2 - x_u/2
    where it overflowed. (Halving a difference of subnormals would lose its last bit: the
    distance 2^-1074 would become 0.)"""
    plain, inexact = plain_distances(difference) if plain is None else plain
    exponent, mantissa = _plain_keys(plain)
    if inexact.any():
        where = np.nonzero(inexact)
        rows = difference[where]
        finite = np.all(np.isfinite(rows), axis=-1)
        redo_exponent = np.empty(len(rows), dtype=np.int64)
        redo_mantissa = np.empty(len(rows))
        if finite.any():  # squares over- or underflowed: the difference itself, scaled exactly
            redo_exponent[finite], redo_mantissa[finite] = scaled_norm_keys(rows[finite])
        if not finite.all():  # the difference overflowed: ||x_s/2 - x_u/2||, doubled
            at = tuple(index[~finite] for index in where)
            half = values[at] / 2 - np.asarray(own)[at[:-1]] / 2  # at[:-1]: the receiver
            half_exponent, half_mantissa = scaled_norm_keys(half)
            doubled = np.where(half_mantissa == 0, half_exponent, half_exponent + 1)  # ||2 h||
            last = half_exponent == LAST_EXPONENT
            redo_exponent[~finite] = np.where(last, LAST_EXPONENT, doubled)
            redo_mantissa[~finite] = half_mantissa
        exponent[where] = redo_exponent
        mantissa[where] = redo_mantissa
    return exponent, mantissa


def column_sums(rows: np.ndarray) -> np.ndarray:
    """Column sums of ``rows`` (m, d): the plain ordered sum (:func:`netsim.portable.ordered_sum`
    over axis 0) where it is finite; a column where a partial sum overflowed is accumulated
    again divided by the power of two above its largest |entry| (exact) and scaled back, so
    +-inf only when the exact sum is out of range. Cost: one plain sum, and the scaled one for
    the columns that overflowed."""
    rows = np.asarray(rows, dtype=np.float64)
    if len(rows) == 0:
        return np.zeros(rows.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        total = ordered_sum(rows, axis=0)  # the plain sum: right wherever it is finite
    redo = ~np.isfinite(total)
    if redo.any():  # a partial sum overflowed (or an entry is not finite): the scaled sum
        columns = rows[:, redo]
        exponent = scale_exponent(np.max(np.abs(columns), axis=0))
        with np.errstate(over="ignore"):
            total[redo] = np.ldexp(ordered_sum(np.ldexp(columns, -exponent), axis=0), exponent)
    return total
