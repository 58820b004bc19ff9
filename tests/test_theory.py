"""2f-redundancy check and the costs' constants (spec/redundancy.md, spec/cgc.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import CGC_A, CGC_W_STAR

import netsim.theory
from netsim.costs import LeastSquares
from netsim.theory import check_redundancy, cost_constants

CE_A = np.array([[1, 0], [0.8, 0.5], [0.5, 0.8], [0, 1], [-0.5, 0.8], [-0.8, 0.5]])
CE_B = CE_A @ np.array([1.0, 1.0])


def rows(A: np.ndarray, B: np.ndarray) -> list[LeastSquares]:
    """One single-row cost per row of (A, B)."""
    return [LeastSquares(A[i : i + 1], B[i : i + 1]) for i in range(len(A))]


def ce_honest() -> list[LeastSquares]:
    return rows(CE_A[1:], CE_B[1:])


# --- 2f-redundancy ----------------------------------------------------------------------------


def test_redundancy_holds_on_the_ce_paper_instance():
    # n = 6, f = 1: subsets of n - 2f = 4 of the 5 honest agents, C(5, 4) = 5 of them.
    report = check_redundancy(ce_honest(), n=6, f=1)
    assert report.holds
    assert report.subset_size == 4
    assert report.subsets_total == 5
    assert report.subsets_checked == 5
    assert not report.sampled
    assert report.failing_subset is None


def test_redundancy_fails_when_two_honest_lines_meet_away_from_the_optimum():
    # n = 4, f = 1: subsets of size 2 of three honest lines x1 = 1, x2 = 1, x1 + x2 = 3.
    # Honest least squares: [[2, 1], [1, 2]] x = (4, 4) -> x_H = (4/3, 4/3), residuals
    # (1/3, 1/3, -1/3), minimum 1/3. The first subset {0, 1} meets at (1, 1), where the
    # residuals are (0, 0, 1): cost 1, gap 1 - 1/3 = 2/3.
    A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    B = np.array([1.0, 1.0, 3.0])
    report = check_redundancy(rows(A, B), n=4, f=1)
    assert not report.holds
    assert report.failing_subset == (0, 1)
    assert report.gap == pytest.approx(2.0 / 3.0)
    # The subset's minimizer (1, 1) lies sqrt(2)/3 from x_H = (4/3, 4/3) (spec/redundancy.md
    # step 2: report the distance between the minimizers).
    assert report.distance == pytest.approx(np.sqrt(2.0) / 3.0)
    assert report.subsets_checked == 1
    assert "[0, 1]" in report.explain()


def test_redundancy_fails_when_one_ce_honest_line_is_moved():
    # Shift honest agent 5's line (row (-0.8, 0.5)) so it misses (1, 1): every subset of four
    # that contains it has another minimizer than the honest aggregate.
    B = CE_B[1:].copy()
    B[4] += 0.5
    report = check_redundancy(rows(CE_A[1:], B), n=6, f=1)
    assert not report.holds
    assert report.gap > 0
    # combinations((0..4), 4) yields (0, 1, 2, 3) first, which excludes the moved line: its
    # minimizer (1, 1) still misses the moved line, so it is the first failing subset.
    assert report.failing_subset == (0, 1, 2, 3)


def test_redundancy_fails_when_an_honest_subset_is_rank_deficient():
    # Rows (1, 0), (1, 0), (0, 1) with B = 0: W*_H = {(0, 0)}; the subset {0, 1} has the
    # minimum-norm minimizer (0, 0) too (zero cost gap), but its argmin is the whole line
    # x1 = 0, so the minimizer sets differ and redundancy fails.
    A = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    report = check_redundancy(rows(A, np.zeros(3)), n=4, f=1)
    assert not report.holds
    assert report.failing_subset == (0, 1)
    assert report.gap > 0


def test_redundancy_needs_n_greater_than_2f():
    with pytest.raises(ValueError):
        check_redundancy(ce_honest(), n=2, f=1)


def test_redundancy_samples_when_there_are_more_than_ten_thousand_subsets():
    # n = 24, f = 8: subsets of n - 2f = 8 of 16 honest agents, C(16, 8) = 12870 > 10^4.
    # d = 1, Q_i = (i - x)^2 for i = 0..15: x_H = mean = 7.5, and a subset's minimizer is its own
    # mean, 7.5 only when its ids sum to 60; the sampled check stops at the first subset that
    # misses, so the test stays fast while using the real 10^4 limit.
    A = np.ones((16, 1))
    B = np.arange(16.0)
    report = check_redundancy(rows(A, B), n=24, f=8)
    assert netsim.theory.MAX_SUBSETS == 10_000
    assert report.sampled
    assert report.subsets_total == math.comb(16, 8) == 12870
    assert not report.holds
    assert report.subsets_checked in range(1, 10_001)
    assert sum(report.failing_subset) != 60
    assert "sample" in report.explain()


def test_redundancy_enumerates_up_to_the_limit_and_samples_beyond(monkeypatch):
    monkeypatch.setattr(netsim.theory, "MAX_SUBSETS", 5)
    report = check_redundancy(ce_honest(), n=6, f=1)
    assert (report.sampled, report.subsets_checked, report.subsets_total) == (False, 5, 5)
    monkeypatch.setattr(netsim.theory, "MAX_SUBSETS", 4)
    report = check_redundancy(ce_honest(), n=6, f=1)
    assert (report.sampled, report.subsets_checked, report.subsets_total) == (True, 4, 5)
    assert report.holds


def test_sampled_check_still_finds_a_failure(monkeypatch):
    # With the limit at 2 (< C(3, 2) = 3) the check samples; every size-2 subset of the three
    # lines of the hand case fails (each pair meets at (1, 1), (1, 2) or (2, 1), never at
    # x_H = (4/3, 4/3)).
    monkeypatch.setattr(netsim.theory, "MAX_SUBSETS", 2)
    A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    report = check_redundancy(rows(A, np.array([1.0, 1.0, 3.0])), n=4, f=1)
    assert report.sampled
    assert not report.holds
    assert report.subsets_checked == 1
    assert report.gap > 0


# --- constants --------------------------------------------------------------------------------


def test_cost_constants_on_diagonal_matrices():
    # A_1 = diag(1, 2), A_2 = diag(3, 1): A_i^T A_i = diag(1, 4), diag(9, 1).
    # L = 2 max(4, 9) = 18; (2/2)(diag(1, 4) + diag(9, 1)) = diag(10, 5) -> gamma = 5.
    costs = [
        LeastSquares(np.diag([1.0, 2.0]), np.zeros(2)),
        LeastSquares(np.diag([3.0, 1.0]), np.zeros(2)),
    ]
    constants = cost_constants(costs)
    assert constants.lipschitz == pytest.approx(18.0)
    assert constants.strong_convexity == pytest.approx(5.0)
    assert constants.condition_number == pytest.approx(18.0 / 5.0)


def test_strong_convexity_is_the_smallest_non_zero_eigenvalue_when_rank_deficient():
    # A_1 = (1, 0), A_2 = (2, 0): (2/2)(diag(1, 0) + diag(4, 0)) = diag(5, 0) -> gamma = 5
    # (the zero eigenvalue is the null-space direction); L = 2 * 4 = 8.
    costs = [
        LeastSquares(np.array([[1.0, 0.0]]), np.zeros(1)),
        LeastSquares(np.array([[2.0, 0.0]]), np.zeros(1)),
    ]
    constants = cost_constants(costs)
    assert constants.lipschitz == pytest.approx(8.0)
    assert constants.strong_convexity == pytest.approx(5.0)


def test_cost_constants_with_fewer_honest_rows_than_unknowns():
    # d = 4, one row each, orthogonal: r1 = (1, 1, 0, 0), r2 = (1, -1, 2, 0). A_H^T A_H has the
    # eigenvalues |r1|^2 = 2 and |r2|^2 = 6 and two zeros; (2/2) times that -> gamma = 2, and
    # L = 2 max(2, 6) = 12. m = 2 < d = 4: the 2 x 2 Gram matrix A_H A_H^T is reduced.
    costs = [
        LeastSquares(np.array([[1.0, 1.0, 0.0, 0.0]]), np.zeros(1)),
        LeastSquares(np.array([[1.0, -1.0, 2.0, 0.0]]), np.zeros(1)),
    ]
    constants = cost_constants(costs)
    assert constants.lipschitz == pytest.approx(12.0, rel=1e-14)
    assert constants.strong_convexity == pytest.approx(2.0, rel=1e-14)


def test_cost_constants_when_the_smaller_gram_matrix_is_singular_too():
    # m = 3 < d = 4 with r2 = 2 r1: r1 = (1, 1, 0, 0), r2 = (2, 2, 0, 0), r3 = (0, 0, 3, 0).
    # A_H^T A_H has 2 + 8 = 10 along (1, 1, 0, 0) and 9 along e3; (2/3) times: 20/3 and 6, so
    # gamma = 6, and L = 2 max(2, 8, 9) = 18. A_H A_H^T = [[2, 4, 0], [4, 8, 0], [0, 0, 9]] has
    # a zero eigenvalue, which must be skipped as the d x d matrix's zeros are.
    costs = [
        LeastSquares(np.array([[1.0, 1.0, 0.0, 0.0]]), np.zeros(1)),
        LeastSquares(np.array([[2.0, 2.0, 0.0, 0.0]]), np.zeros(1)),
        LeastSquares(np.array([[0.0, 0.0, 3.0, 0.0]]), np.zeros(1)),
    ]
    constants = cost_constants(costs)
    assert constants.lipschitz == pytest.approx(18.0, rel=1e-14)
    assert constants.strong_convexity == pytest.approx(6.0, rel=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_strong_convexity_of_an_underdetermined_honest_cost_matches_the_full_hessian(seed):
    """m < d: the smallest non-zero eigenvalue from the m x m Gram matrix is that of the d x d
    Hessian (2/|H|) A_H^T A_H, by LAPACK, to rounding."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(5, 12))
    costs = [LeastSquares(rng.normal(size=(2, d)), np.zeros(2)) for _ in range(2)]  # m = 4
    stacked = np.vstack([c.A for c in costs])
    eigenvalues = np.linalg.eigvalsh(2.0 / 2 * stacked.T @ stacked)
    non_zero = eigenvalues[eigenvalues > 1e-9 * eigenvalues[-1]]
    assert len(non_zero) == 4
    assert cost_constants(costs).strong_convexity == pytest.approx(non_zero[0], rel=1e-10)


# The spec's CGC instance (spec/reference_numbers.py): agent 5 is Byzantine.
CGC_MATRICES = [np.array(a) for a in CGC_A]


def symmetric_2x2_eigenvalues(M: np.ndarray) -> tuple[float, float]:
    """Closed form for [[a, b], [b, c]]: (a + c)/2 -/+ sqrt(((a - c)/2)^2 + b^2)."""
    a, b, c = M[0, 0], M[0, 1], M[1, 1]
    centre, radius = (a + c) / 2, math.hypot((a - c) / 2, b)
    return centre - radius, centre + radius


def test_cost_constants_of_the_spec_cgc_instance():
    honest = [LeastSquares(A, A @ CGC_W_STAR) for A in CGC_MATRICES[:5]]
    # mu = max_i 2 lambda_max(A_i^T A_i); lambda = lambda_min((2/|H|) sum_i A_i^T A_i).
    mu = max(2 * symmetric_2x2_eigenvalues(A.T @ A)[1] for A in CGC_MATRICES[:5])
    lam = symmetric_2x2_eigenvalues(2 / 5 * sum(A.T @ A for A in CGC_MATRICES[:5]))[0]
    # The closed forms agree with the spec's printed mu = 2.667433, lambda = 1.808626.
    assert mu == pytest.approx(2.667433, abs=1e-6)
    assert lam == pytest.approx(1.808626, abs=1e-6)
    constants = cost_constants(honest)
    assert constants.lipschitz == pytest.approx(mu, rel=1e-12)
    assert constants.strong_convexity == pytest.approx(lam, rel=1e-12)
    # And the instance is 2f-redundant: every honest A_i is invertible with A_i w* = B_i.
    assert check_redundancy(honest, n=6, f=1).holds
