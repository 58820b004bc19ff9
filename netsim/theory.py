"""What the papers promise, computed (pure numpy): 2f-redundancy and the costs' constants.

- 2f-redundancy (spec/redundancy.md): for every S subset of H with |S| = n - 2f,
  argmin sum_{i in S} Q_i = argmin sum_{i in H} Q_i. For least squares this holds iff
  rank(A_S) = rank(A_H) (same null space, since null(A_H) is inside null(A_S)) and a minimizer
  x_S of S minimizes H: ||A_H x_S - B_H||^2 = min_x ||A_H x - B_H||^2.
- Constants (spec/ce.md, spec/cgc.md): L (or mu) = max_{i in H} 2 lambda_max(A_i^T A_i), the
  Lipschitz constant of every honest gradient; gamma (or lambda) = the smallest non-zero
  eigenvalue of (2/|H|) sum_{i in H} A_i^T A_i, the strong convexity of the honest average.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import portable
from .costs import LeastSquares, lipschitz_constants

MAX_SUBSETS = 10_000


@dataclass(frozen=True)
class RedundancyReport:
    """Outcome of :func:`check_redundancy`."""

    holds: bool
    subset_size: int
    subsets_checked: int
    subsets_total: int
    sampled: bool
    failing_subset: tuple[int, ...] | None = None  # positions in the honest list
    gap: float = 0.0  # excess cost of the subset's minimizer over the honest minimum
    distance: float = 0.0  # distance from the subset's (minimum-norm) minimizer to W*
    reason: str = ""  # what is wrong with the failing subset, in words

    def explain(self) -> str:
        how = (
            f"a random sample of {self.subsets_checked} of {self.subsets_total}"
            if self.sampled
            else f"all {self.subsets_checked}"
        )
        if self.holds:
            return f"2f-redundancy holds on {how} honest subsets of size {self.subset_size}"
        where = "a random sample" if self.sampled else f"all {self.subsets_total} subsets"
        return (
            f"the honest subset {list(self.failing_subset or ())} (size {self.subset_size}) "
            f"{self.reason} (subset {self.subsets_checked} checked, of {where})"
        )


def check_redundancy(
    honest_costs: Sequence[LeastSquares], n: int, f: int, rtol: float = 1e-9, seed: int = 0
) -> RedundancyReport:
    """Check 2f-redundancy of least-squares honest costs (spec/redundancy.md).

    Every subset of ``n - 2f`` honest costs must have the honest minimizers as its own; the
    check enumerates the subsets when there are at most 10^4 and samples 10^4 otherwise.
    ``rtol`` scales with ||B_H||^2 + 1.
    """
    if not 2 * f < n:
        raise ValueError(f"2f-redundancy needs n - 2f > 0 (n={n}, f={f})")
    size = n - 2 * f
    A_H = np.vstack([c.A for c in honest_costs])
    B_H = np.concatenate([c.B for c in honest_costs])
    x_H = np.linalg.lstsq(A_H, B_H, rcond=None)[0]
    best = float(np.sum((A_H @ x_H - B_H) ** 2))
    rank_H = np.linalg.matrix_rank(A_H)
    row_projector = np.linalg.pinv(A_H) @ A_H  # distance to W* = x_H + null(A_H)
    tol = rtol * (float(B_H @ B_H) + 1.0)
    h = len(honest_costs)
    if size > h:
        return RedundancyReport(
            False,
            size,
            0,
            0,
            False,
            tuple(range(h)),
            math.inf,
            math.inf,
            f"is all there is: {h} honest agents < n - 2f = {size}",
        )
    total = math.comb(h, size)
    if total <= MAX_SUBSETS:
        subsets = itertools.combinations(range(h), size)
        sampled = False
    else:
        rng = np.random.default_rng(seed)
        subsets = (tuple(sorted(rng.choice(h, size, replace=False))) for _ in range(MAX_SUBSETS))
        sampled = True
    checked = 0
    for subset in subsets:
        checked += 1
        A_S = np.vstack([honest_costs[i].A for i in subset])
        B_S = np.concatenate([honest_costs[i].B for i in subset])
        x_S = np.linalg.lstsq(A_S, B_S, rcond=None)[0]
        gap = float(np.sum((A_H @ x_S - B_H) ** 2)) - best
        distance = float(np.linalg.norm(row_projector @ (x_S - x_H)))
        rank_S = np.linalg.matrix_rank(A_S)
        if rank_S != rank_H:
            reason = (
                f"has rank {rank_S} < {rank_H}: its minimizers form a larger set than the "
                "honest ones"
            )
            return RedundancyReport(
                False, size, checked, total, sampled, tuple(subset), math.inf, distance, reason
            )
        if gap > tol:
            reason = (
                f"has other minimizers: its minimizer lies {distance:.3g} from the honest "
                f"ones and costs the honest aggregate {gap:.3g} more than the optimum"
            )
            return RedundancyReport(
                False, size, checked, total, sampled, tuple(subset), gap, distance, reason
            )
    return RedundancyReport(True, size, checked, total, sampled)


@dataclass(frozen=True)
class CostConstants:
    """L (Lipschitz of every honest gradient) and gamma (strong convexity of the honest mean)."""

    lipschitz: float
    strong_convexity: float

    @property
    def condition_number(self) -> float:
        return self.lipschitz / self.strong_convexity if self.strong_convexity > 0 else math.inf


def cost_constants(honest_costs: Sequence[LeastSquares]) -> CostConstants:
    """L = max_i 2 lambda_max(A_i^T A_i); gamma = smallest non-zero eigenvalue of
    (2/|H|) sum_i A_i^T A_i (the CGC paper's constants for least squares).

    sum_i A_i^T A_i = A_H^T A_H, with A_H (m, d) the honest rows stacked, and A_H^T A_H (d, d)
    and A_H A_H^T (m, m) have the same non-zero eigenvalues, so the smaller of the two is
    reduced: with fewer honest rows than unknowns (an underdetermined honest cost, m < d) an
    m x m matrix instead of a d x d one. Eigenvalues at or below 10 d eps lambda_max count as
    zero (numpy.linalg.matrix_rank's relative tolerance for the d x d Hessian, whichever Gram
    matrix is reduced).

    Remembered for the last few sets of cost objects: reading a scenario whose CGC step comes
    from Theorem 2 and summarizing its run ask for the same constants (costs are frozen)."""
    return _cost_constants(tuple(honest_costs))


@functools.lru_cache(maxsize=16)
def _cost_constants(honest_costs: tuple[LeastSquares, ...]) -> CostConstants:
    lipschitz = max(lipschitz_constants(honest_costs))
    # Portable (netsim.portable): these constants set the default CGC step, so the run.
    stacked = np.vstack([c.A for c in honest_costs])  # A_H (m, d)
    rows, dim = stacked.shape
    smaller = stacked.T if rows < dim else stacked  # gram(X) = X^T X: (m, m) or (d, d)
    # the mean Hessian (2/|H|) A_H^T A_H, or (2/|H|) A_H A_H^T: the same non-zero eigenvalues
    scaled_gram = 2.0 / len(honest_costs) * portable.gram(smaller)
    spectrum = portable.Spectrum(scaled_gram)  # only the two eigenvalues needed are computed
    largest = spectrum.eigenvalue(spectrum.size - 1)
    # Relative tolerance (as numpy.linalg.matrix_rank): scale-free, so 1e-8 A is fine.
    tol = max(largest, 0.0) * dim * np.finfo(float).eps * 10
    zero = spectrum.count_below(tol)  # eigenvalues at or below rounding level
    smallest = spectrum.eigenvalue(zero) if zero < spectrum.size else 0.0
    return CostConstants(lipschitz, smallest if smallest > tol else 0.0)


@dataclass(frozen=True)
class CGCConstants:
    """The constants of the CGC paper's Theorem 2 (spec/cgc.md, Eqs. 20-22).

    mu: Lipschitz constant of every honest gradient; lam: relaxed strong convexity of the honest
    average; alpha = lam / (3 mu) - f / n (needs > 0); eta_bar = 6 alpha / (n mu) (needs
    0 < eta < eta_bar); rho(eta) = 1 - (n mu)^2 eta (eta_bar - eta).
    """

    n: int
    f: int
    mu: float
    lam: float

    @property
    def alpha(self) -> float:
        return self.lam / (3.0 * self.mu) - self.f / self.n

    @property
    def eta_bar(self) -> float:
        return 6.0 * self.alpha / (self.n * self.mu)

    def rho(self, eta: float) -> float:
        """Rate of Theorem 2: ||w_t - w*||^2 <= rho^t ||w_0 - w*||^2 when 0 < eta < eta_bar.

        1 - (n mu)^2 eta (eta_bar - eta), computed as 1 - x (6 alpha - x) with x = n mu eta (the
        same number, since (n mu)^2 eta eta_bar = 6 alpha n mu eta), so that a huge mu does not
        overflow on the way (Python's ``**`` raises OverflowError)."""
        x = self.n * self.mu * eta
        return 1.0 - x * (6.0 * self.alpha - x)

    def covers(self, eta: float) -> bool:
        """Whether Theorem 2 applies to step ``eta`` (alpha > 0 and 0 < eta < eta_bar)."""
        return self.alpha > 0 and 0 < eta < self.eta_bar


def cgc_constants(honest_costs: Sequence[LeastSquares], n: int, f: int) -> CGCConstants:
    """mu = max_{i in H} 2 lambda_max(A_i^T A_i), lam = smallest non-zero eigenvalue of
    (2/|H|) sum_{i in H} A_i^T A_i (spec/cgc.md, "For least squares")."""
    constants = cost_constants(honest_costs)
    return CGCConstants(n=n, f=f, mu=constants.lipschitz, lam=constants.strong_convexity)
