"""Robust filters (pure numpy, no SimPy): which received values an honest agent keeps.

A peer filter has the signature ``filter(own, received, f, senders) -> kept`` where ``own`` is the
receiver's estimate (d,), ``received`` the values that arrived, one row per sender (k, d),
``f`` the number of values to eliminate, ``senders`` the sender ids (ties are broken by them, so
the result never depends on the order in which messages arrived), and ``kept`` a boolean mask
over the rows of ``received``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PeerFilter = Callable[[np.ndarray, np.ndarray, int, np.ndarray | None], np.ndarray]


def comparative_elimination(
    own: np.ndarray, received: np.ndarray, f: int, senders: np.ndarray | None = None
) -> np.ndarray:
    """Keep all but the f received estimates farthest from ``own`` (CE paper, Eqs. 5-6).

    Sort the received x_j by ||x_j - x_i|| non-decreasing, ties by sender id, and eliminate the
    last f: F_i = the first k - f. A distance that overflows float64 (e.g. a value of 1e308)
    counts as +inf, so it sorts last. Cost O(k d + k log k).
    """
    received = np.asarray(received, dtype=np.float64)
    k = received.shape[0]
    if f < 0:
        raise ValueError(f"f must be >= 0 (got {f})")
    senders = np.arange(k) if senders is None else np.asarray(senders)
    kept = np.zeros(k, dtype=bool)
    if f >= k:
        return kept
    with np.errstate(over="ignore", invalid="ignore"):
        distance = np.linalg.norm(received - own, axis=1)
    distance = np.where(np.isnan(distance), np.inf, distance)
    order = np.lexsort((senders, distance))
    kept[order[: k - f]] = True
    return kept


def keep_all(
    own: np.ndarray, received: np.ndarray, f: int, senders: np.ndarray | None = None
) -> np.ndarray:
    """No filter: every received value enters the aggregate (projected consensus)."""
    return np.ones(np.asarray(received).shape[0], dtype=bool)


PEER_FILTERS: dict[str, PeerFilter] = {
    "ce": comparative_elimination,
    "none": keep_all,
}
