"""Euclidean norms that do not overflow (pure numpy, fixed-order sums: :mod:`netsim.portable`)."""

from __future__ import annotations

import numpy as np

from .portable import row_norms


def scaled_row_norms(rows: np.ndarray) -> np.ndarray:
    """||row|| for each row of ``rows`` (k, d), computed as s ||row / s|| with s = max |entry|,
    so that finite entries near 1e308 give a finite norm instead of overflowing to inf."""
    rows = np.asarray(rows, dtype=np.float64)
    scale = np.max(np.abs(rows), axis=1) if rows.size else np.zeros(rows.shape[0])
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, safe * row_norms(rows / safe[:, None]), 0.0)
