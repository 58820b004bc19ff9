"""Independent references for the aggregation rules, shared by their tests (plain numpy)."""

from __future__ import annotations

import itertools

import numpy as np


def smea_by_definition(X: np.ndarray, f: int) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Every subset of k - f rows with lambda_max of its empirical covariance (eigvalsh);
    returns the subsets in lexicographic order and their lambdas."""
    subsets = list(itertools.combinations(range(len(X)), len(X) - f))
    lambdas = []
    for subset in subsets:
        S = X[list(subset)]
        deviations = S - S.mean(axis=0)
        lambdas.append(np.linalg.eigvalsh(deviations.T @ deviations / len(S))[-1])
    return subsets, np.array(lambdas)
