"""Convex costs (pure numpy): value, gradient, minimum set and projection onto it.

The interface is :class:`Cost`; least squares (spec/README.md) is the one cost both papers use:

    Q_i(x) = ||B_i - A_i x||^2,   grad Q_i(x) = 2 A_i^T (A_i x - B_i),
    X_i = argmin Q_i = A_i^+ B_i + null(A_i),
    [z]_{X_i} = z - A_i^+ (A_i z - B_i)                      (CE paper, closed form of Eq. 9)

with A_i^+ the Moore-Penrose pseudo-inverse. The projection is exact for rank-deficient A_i and
for inconsistent systems (then X_i is the affine set of least-squares solutions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .norms import scaled_row_norms


@runtime_checkable
class Cost(Protocol):
    """A convex, differentiable cost Q: R^d -> R with a computable projection onto argmin Q."""

    @property
    def dim(self) -> int: ...

    def value(self, x: np.ndarray) -> float: ...

    def gradient(self, x: np.ndarray) -> np.ndarray: ...

    def project(self, z: np.ndarray) -> np.ndarray:
        """Euclidean projection of ``z`` (shape (d,) or (k, d)) onto argmin Q."""
        ...

    def minimizer(self) -> np.ndarray:
        """The minimum-norm point of argmin Q, i.e. the projection of 0."""
        ...


@dataclass(frozen=True, eq=False)
class LeastSquares:
    """Q(x) = ||B - A x||^2 with A of shape (m, d), B of shape (m,)."""

    A: np.ndarray
    B: np.ndarray
    pinv: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        A = np.atleast_2d(np.asarray(self.A, dtype=np.float64))
        B = np.atleast_1d(np.asarray(self.B, dtype=np.float64))
        if B.shape != (A.shape[0],):
            raise ValueError(f"B has shape {B.shape}, expected ({A.shape[0]},)")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "B", B)
        object.__setattr__(self, "pinv", np.linalg.pinv(A))

    @property
    def dim(self) -> int:
        return int(self.A.shape[1])

    def value(self, x: np.ndarray) -> float:
        residual = self.B - self.A @ x
        return float(residual @ residual)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """2 A^T (A x - B)."""
        return 2.0 * self.A.T @ (self.A @ x - self.B)

    def project(self, z: np.ndarray) -> np.ndarray:
        """[z]_X = z - A^+ (A z - B), row-wise for a stack of points."""
        z = np.asarray(z, dtype=np.float64)
        return (
            z - (self.A @ z.T - self.B[:, None]).T @ self.pinv.T
            if z.ndim == 2
            else (z - self.pinv @ (self.A @ z - self.B))
        )

    def minimizer(self) -> np.ndarray:
        """A^+ B, the minimum-norm least-squares solution."""
        return self.pinv @ self.B

    def lipschitz(self) -> float:
        """Lipschitz constant of the gradient: 2 lambda_max(A^T A)."""
        return float(2.0 * np.linalg.eigvalsh(self.A.T @ self.A).max())


@dataclass(frozen=True, eq=False)
class OptimumSet:
    """W* = point + null space: the minimizers of an aggregate least-squares cost.

    ``point`` is the minimum-norm minimizer; ``row_projector`` projects onto the row space of the
    stacked matrix, so the distance of x to W* is ||row_projector (x - point)||. When the stacked
    matrix has rank d, W* = {point} and the distance is the Euclidean distance to it.
    """

    point: np.ndarray
    row_projector: np.ndarray

    @property
    def unique(self) -> bool:
        return bool(np.allclose(self.row_projector, np.eye(len(self.point))))

    def distance(self, x: np.ndarray) -> np.ndarray | float:
        """Euclidean distance to W* of ``x`` (shape (d,) -> float, (k, d) -> (k,))."""
        diff = (np.asarray(x, dtype=np.float64) - self.point) @ self.row_projector.T
        distance = scaled_row_norms(np.atleast_2d(diff))
        return float(distance[0]) if diff.ndim == 1 else distance


def aggregate_optimum(costs: Sequence[LeastSquares]) -> OptimumSet:
    """Minimizers of sum_i Q_i for least-squares costs: stack the rows and solve (closed form).

    x_H = argmin_x sum_{i in H} ||B_i - A_i x||^2 = A_H^+ B_H (minimum-norm when not unique).
    """
    A = np.vstack([cost.A for cost in costs])
    B = np.concatenate([cost.B for cost in costs])
    point = np.linalg.lstsq(A, B, rcond=None)[0]
    pinv = np.linalg.pinv(A)
    return OptimumSet(point=point, row_projector=pinv @ A)
