"""Convex costs (pure numpy): value, gradient, minimum set and projection onto it.

The interface is :class:`Cost`; least squares (spec/README.md) is the one cost both papers use:

    Q_i(x) = ||B_i - A_i x||^2,   grad Q_i(x) = 2 A_i^T (A_i x - B_i),
    X_i = argmin Q_i = A_i^+ B_i + null(A_i),
    [z]_{X_i} = z - A_i^+ (A_i z - B_i)                      (CE paper, closed form of Eq. 9)

with A_i^+ the Moore-Penrose pseudo-inverse. The projection is exact for rank-deficient A_i and
for inconsistent systems (then X_i is the affine set of least-squares solutions).

Every product and the pseudo-inverse are computed by :mod:`netsim.portable` (fixed-order sums,
no BLAS or LAPACK), so an estimate has the same bits on every CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from . import portable
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
        object.__setattr__(self, "pinv", portable.pseudo_inverse(A))

    @property
    def dim(self) -> int:
        return int(self.A.shape[1])

    def value(self, x: np.ndarray) -> float:
        residual = self.B - portable.matvec(self.A, x)
        return float(portable.dot(residual, residual))

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """2 A^T (A x - B)."""
        return 2.0 * portable.rmatvec(self.A, portable.matvec(self.A, x) - self.B)

    def project(self, z: np.ndarray) -> np.ndarray:
        """[z]_X = z - A^+ (A z - B), row-wise for a stack of points (the same bits as each
        point alone)."""
        z = np.asarray(z, dtype=np.float64)
        return z - portable.matvec(self.pinv, portable.matvec(self.A, z) - self.B)

    def minimizer(self) -> np.ndarray:
        """A^+ B, the minimum-norm least-squares solution."""
        return portable.matvec(self.pinv, self.B)

    def lipschitz(self) -> float:
        """Lipschitz constant of the gradient: 2 lambda_max(A^T A) = 2 lambda_max(A A^T), from
        the smaller of the two Gram matrices (computed once: validation and the run's summary
        both ask; it decides the default CGC step, so it is computed portably)."""
        cached = self.__dict__.get("_lipschitz")
        if cached is None:
            lipschitz_constants([self])
            cached = self.__dict__["_lipschitz"]
        return cached


def lipschitz_constants(costs: Sequence[LeastSquares]) -> list[float]:
    """Each cost's :meth:`LeastSquares.lipschitz`, the largest eigenvalues of Gram matrices of
    one size found in one stacked bisection (:class:`netsim.portable.Spectra`: the same bits as
    one at a time); cached on the costs."""
    todo: dict[tuple[int, int], list[LeastSquares]] = {}
    for cost in costs:
        if "_lipschitz" not in cost.__dict__:
            todo.setdefault(cost.A.shape, []).append(cost)
    for (m, d), group in todo.items():
        size = min(m, d)
        A = np.stack([cost.A if m <= d else cost.A.T for cost in group])  # the smaller Gram
        spectra = portable.Spectra(portable.stacked_matmul(A, np.swapaxes(A, 1, 2)))
        for cost, largest in zip(group, spectra.eigenvalues(size - 1)):
            object.__setattr__(cost, "_lipschitz", 2.0 * float(largest))
    return [cost.lipschitz() for cost in costs]


def shape_groups(costs: Sequence[Cost]) -> list[list[int]]:
    """The indices of ``costs`` grouped by the shape of A, in first-seen order (the costs of
    one group stack into one (k, m, d) array)."""
    shapes: dict[tuple[int, ...], list[int]] = {}
    for index, cost in enumerate(costs):
        shapes.setdefault(cost.A.shape, []).append(index)  # type: ignore[attr-defined]
    return list(shapes.values())


CHECK_ROWS = 8  # CheckedStack: rows of the first stacked result recomputed one by one


class CheckedStack:
    """A stacked computation that must equal the one-cost-at-a-time one bit for bit: the first
    call also computes :data:`CHECK_ROWS` of its rows one by one (the first, the last and rows
    evenly spread between) and compares them (:func:`same_bits`); if any differs, this and
    every later call use the one-by-one result. With :mod:`netsim.portable` the two run the
    same element-wise operations on the same numbers, so they agree by construction (the tests
    compare every row); the check guards that argument at a bounded cost. Subclasses set
    ``stacked`` (False: never stack, e.g. a cost that is not :class:`LeastSquares`), and their
    one-by-one computation takes the rows to compute (None: all of them)."""

    stacked: bool
    checked: bool = False

    def _checked(
        self,
        stacked: Callable[[], np.ndarray],
        one_by_one: Callable[[np.ndarray | None], np.ndarray],
    ) -> np.ndarray:
        if not self.stacked:
            return one_by_one(None)
        result = stacked()
        if not self.checked and len(result):  # the first call with rows to compare
            self.checked = True
            last = len(result) - 1
            spread = {round(i * last / (CHECK_ROWS - 1)) for i in range(CHECK_ROWS)}
            rows = np.array(sorted(spread), dtype=np.int64)
            if not same_bits(result[rows], one_by_one(rows)):
                self.stacked = False
                return one_by_one(None)
        return result


class StackedProjection(CheckedStack):
    """[z_u]_{X_u} = z_u - A_u^+ (A_u z_u - B_u) for many points, each onto its own cost's
    minimum set, bit for bit :meth:`LeastSquares.project` of each point alone.

    The costs of one shape (m, d) are stacked, (k, m, d), and projected with two stacked
    matrix-vector products of :mod:`netsim.portable`: the same element-wise products and the
    same fixed-order sums as the single (m, d) product, so the bits agree
    (tests/test_stacked_projection.py holds this over random shapes and scales). As a guard,
    the first call is also computed cost by cost (:class:`CheckedStack`). Costs that are not
    :class:`LeastSquares` are always projected one by one.
    """

    def __init__(self, costs: Sequence[Cost]):
        self.costs = list(costs)
        self.stacked = all(type(cost) is LeastSquares for cost in self.costs)
        self.group_of = np.zeros(len(self.costs), dtype=np.int64)
        self.row_of = np.zeros(len(self.costs), dtype=np.int64)
        self.groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (A, B, pinv) stacks
        if not self.stacked:
            return
        for group, members in enumerate(shape_groups(self.costs)):
            self.group_of[members] = group
            self.row_of[members] = np.arange(len(members))
            chosen = [self.costs[i] for i in members]
            self.groups.append(
                (
                    np.stack([cost.A for cost in chosen]),
                    np.stack([cost.B for cost in chosen]),
                    np.stack([cost.pinv for cost in chosen]),
                )
            )

    def __call__(self, points: np.ndarray, owners: np.ndarray) -> np.ndarray:
        """Row u of ``points`` (k, d) projected onto the minimum set of cost ``owners[u]``."""
        return self._checked(
            lambda: self._stacked(points, owners),
            lambda rows: self._one_by_one(points, owners, rows),
        )

    def _one_by_one(
        self, points: np.ndarray, owners: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows ``rows`` (None: all) of the projection, each cost alone."""
        rows = np.arange(len(points)) if rows is None else rows
        projected = np.empty((len(rows), points.shape[1]))
        for k, u in enumerate(rows.tolist()):
            projected[k] = self.costs[int(owners[u])].project(points[u].copy())
        return projected

    def _stacked(self, points: np.ndarray, owners: np.ndarray) -> np.ndarray:
        if len(self.groups) == 1:
            return self._project_group(0, np.ascontiguousarray(points), self.row_of[owners])
        projected = np.empty(points.shape)
        group_of = self.group_of[owners]
        for group in np.unique(group_of).tolist():
            chosen = group_of == group
            rows = self.row_of[owners[chosen]]
            projected[chosen] = self._project_group(group, points[chosen], rows)
        return projected

    def _project_group(self, group: int, points: np.ndarray, rows: np.ndarray) -> np.ndarray:
        A, B, pinv = self.groups[group]
        residual = portable.matvec(A[rows], points) - B[rows]
        return points - portable.matvec(pinv[rows], residual)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit on the rows finite in both, and finite in the same rows (a non-finite
    update is discarded whatever its bits)."""
    finite = np.isfinite(a).all(axis=1)
    if not np.array_equal(finite, np.isfinite(b).all(axis=1)):
        return False
    return bool(np.array_equal(a[finite].view(np.uint64), b[finite].view(np.uint64)))


@dataclass(frozen=True, eq=False)
class OptimumSet:
    """W* = point + null space: the minimizers of an aggregate least-squares cost.

    ``point`` is the minimum-norm minimizer; ``basis`` (r, d) has orthonormal rows spanning the
    row space of the stacked matrix, so the distance of x to W* is ||basis (x - point)||. When
    the stacked matrix has rank d (``basis`` is then the identity), W* = {point} and the
    distance is the Euclidean distance to it, computed as such.
    """

    point: np.ndarray
    basis: np.ndarray

    @property
    def unique(self) -> bool:
        """Whether W* is a single point: the stacked matrix has full column rank d."""
        return len(self.basis) == len(self.point)

    def distance(self, x: np.ndarray) -> np.ndarray | float:
        """Euclidean distance to W* of ``x`` (shape (d,) -> float, (k, d) -> (k,))."""
        x = np.asarray(x, dtype=np.float64)
        diff = np.atleast_2d(x) - self.point
        if not self.unique:
            diff = portable.blocked_matvec(self.basis, diff)  # the component off W*'s directions
        distance = scaled_row_norms(diff)
        return float(distance[0]) if x.ndim == 1 else distance


def aggregate_optimum(costs: Sequence[LeastSquares]) -> OptimumSet:
    """Minimizers of sum_i Q_i for least-squares costs: stack the rows and solve (closed form).

    x_H = argmin_x sum_{i in H} ||B_i - A_i x||^2 = A_H^+ B_H (minimum-norm when not unique),
    with an orthonormal basis of A_H's row space (the directions in which W* is pinned down).
    Portable (:mod:`netsim.portable`): the adversaries see x_H.
    """
    A = np.vstack([cost.A for cost in costs])
    B = np.concatenate([cost.B for cost in costs])
    point, basis = portable.least_squares(A, B)
    return OptimumSet(point=point, basis=basis)
