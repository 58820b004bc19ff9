"""The constants of the CGC paper's Theorem 2 (spec/cgc.md, Eqs. 20-22).

mu = max_{i in H} 2 lambda_max(A_i^T A_i); lam = smallest non-zero eigenvalue of
(2/|H|) sum_{i in H} A_i^T A_i; alpha = lam / (3 mu) - f / n; eta_bar = 6 alpha / (n mu);
rho(eta) = 1 - (n mu)^2 eta (eta_bar - eta) = 1 + (eta n mu)^2 - 6 (eta n mu) alpha.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import CGC_A, CGC_W_STAR
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.costs import LeastSquares
from netsim.theory import CGCConstants, cgc_constants

# The spec's CGC instance (spec/reference_numbers.py): n = 6, f = 1, agent 5 Byzantine,
# honest B_i = A_i w* with w* = (1, -1).
SPEC_A = [np.array(a) for a in CGC_A]
SPEC_W_STAR = CGC_W_STAR
SPEC_N, SPEC_F, SPEC_HONEST = 6, 1, [0, 1, 2, 3, 4]
# Absolute rounding allowance for a gradient 2 A^T (A w - B) computed at |w| <= 10 with entries
# of A of order 1: about 20 eps * ||A||^2 * ||w|| ~ 1e-13 at most.
GRADIENT_SLACK = 1e-12


def spec_honest_costs() -> list[LeastSquares]:
    return [LeastSquares(SPEC_A[i], SPEC_A[i] @ SPEC_W_STAR) for i in SPEC_HONEST]


def same_costs(A: np.ndarray, count: int) -> list[LeastSquares]:
    """``count`` honest agents with the same matrix A (B = 0: only A matters here)."""
    return [LeastSquares(A, np.zeros(len(A))) for _ in range(count)]


# --- the spec instance ------------------------------------------------------------------------


def test_cgc_constants_of_the_spec_instance_follow_the_spec_formulas():
    honest = [SPEC_A[i] for i in SPEC_HONEST]
    mu = max(2 * np.linalg.eigvalsh(A.T @ A).max() for A in honest)
    # Every honest A_i is invertible, so the average Hessian has full rank: lam is its
    # smallest eigenvalue.
    lam = np.linalg.eigvalsh(2 / len(honest) * sum(A.T @ A for A in honest)).min()
    alpha = lam / (3 * mu) - SPEC_F / SPEC_N
    eta_bar = 6 * alpha / (SPEC_N * mu)
    eta = eta_bar / 2
    rho = 1 - (SPEC_N * mu) ** 2 * eta * (eta_bar - eta)

    constants = cgc_constants(spec_honest_costs(), SPEC_N, SPEC_F)
    assert (constants.n, constants.f) == (SPEC_N, SPEC_F)
    assert constants.mu == pytest.approx(mu, rel=1e-12)
    assert constants.lam == pytest.approx(lam, rel=1e-12)
    assert constants.alpha == pytest.approx(alpha, rel=1e-12)
    assert constants.eta_bar == pytest.approx(eta_bar, rel=1e-12)
    assert constants.rho(eta) == pytest.approx(rho, rel=1e-12)
    assert constants.covers(eta)
    # And the spec's printed values (reference_numbers.md, 6 decimals).
    assert mu == pytest.approx(2.667433, abs=1e-6)
    assert lam == pytest.approx(1.808626, abs=1e-6)
    assert alpha == pytest.approx(0.059347, abs=1e-6)
    assert eta_bar == pytest.approx(0.022249, abs=1e-6)
    assert rho == pytest.approx(0.968302, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=2, max_size=2), st.sampled_from(SPEC_HONEST))
def test_spec_instance_mu_bounds_every_honest_gradient_difference(w, i):
    # Assumption 3: ||grad Q_i(w) - grad Q_i(w*)|| <= mu ||w - w*||, and grad Q_i(w*) = 0.
    mu = cgc_constants(spec_honest_costs(), SPEC_N, SPEC_F).mu
    cost = spec_honest_costs()[i]
    w = np.array(w)
    difference = cost.gradient(w) - cost.gradient(SPEC_W_STAR)
    # GRADIENT_SLACK: each computed gradient (|w| <= 10, entries of A ~ 1) is off by ~1e-14.
    bound = mu * np.linalg.norm(w - SPEC_W_STAR)
    assert np.linalg.norm(difference) <= bound * (1 + 1e-12) + GRADIENT_SLACK


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=2, max_size=2))
def test_spec_instance_lam_is_a_strong_convexity_constant_of_the_honest_average(w):
    # Assumption 4 with W* = {w*}: <grad Q(w), w - w*> >= lam ||w - w*||^2,
    # Q = (1/|H|) sum_{i in H} Q_i.
    costs = spec_honest_costs()
    lam = cgc_constants(costs, SPEC_N, SPEC_F).lam
    w = np.array(w)
    average_gradient = sum(c.gradient(w) for c in costs) / len(costs)
    gap = w - SPEC_W_STAR
    slack = GRADIENT_SLACK * np.linalg.norm(gap)  # rounding of the computed gradient
    assert average_gradient @ gap >= lam * (gap @ gap) * (1 - 1e-12) - slack


def test_spec_instance_lam_is_attained_along_the_weakest_direction():
    # lam is the best constant: along the eigenvector of the smallest eigenvalue of the average
    # Hessian, <grad Q(w), w - w*> = lam ||w - w*||^2.
    costs = spec_honest_costs()
    lam = cgc_constants(costs, SPEC_N, SPEC_F).lam
    hessian = 2 / len(costs) * sum(c.A.T @ c.A for c in costs)
    weakest = np.linalg.eigh(hessian)[1][:, 0]
    w = SPEC_W_STAR + 3.0 * weakest
    average_gradient = sum(c.gradient(w) for c in costs) / len(costs)
    assert average_gradient @ (w - SPEC_W_STAR) == pytest.approx(lam * 9.0, rel=1e-10)


@pytest.mark.parametrize("scale", [1e-8, 1e-4, 1.0, 1e4, 1e8])
def test_cgc_constants_scale_with_the_costs_and_alpha_does_not(scale):
    # A_i -> s A_i multiplies every Q_i by s^2: the gradients, their Lipschitz constant mu and
    # the curvature lam all scale by s^2, so alpha = lam / (3 mu) - f / n, a ratio, is the same
    # (a problem stated in other units is no more or less robust). Powers of 10 up to 1e8 keep
    # every entry and eigenvalue (~ s^2) far inside float64.
    base = cgc_constants(spec_honest_costs(), SPEC_N, SPEC_F)
    scaled_costs = [
        LeastSquares(scale * SPEC_A[i], scale * SPEC_A[i] @ SPEC_W_STAR) for i in SPEC_HONEST
    ]
    scaled = cgc_constants(scaled_costs, SPEC_N, SPEC_F)
    assert scaled.mu == pytest.approx(scale**2 * base.mu, rel=1e-12)
    assert scaled.lam == pytest.approx(scale**2 * base.lam, rel=1e-12)
    assert scaled.alpha == pytest.approx(base.alpha, rel=1e-10)


# --- hand cases -------------------------------------------------------------------------------


def test_cgc_constants_with_diag_1_2_for_every_agent_and_no_fault():
    # A_i = diag(1, 2): A^T A = diag(1, 4), mu = 2 * 4 = 8; the average Hessian is
    # (2/5) * 5 * diag(1, 4) = diag(2, 8), lam = 2. n = 6, f = 0 (5 honest agents given):
    # alpha = 2/24 - 0 = 1/12; eta_bar = 6 (1/12) / (6 * 8) = 1/96;
    # rho(1/192) = 1 - 48^2 (1/192)(1/192) = 1 - 1/16 = 15/16.
    constants = cgc_constants(same_costs(np.diag([1.0, 2.0]), 5), n=6, f=0)
    assert constants.mu == pytest.approx(8.0, rel=1e-14)
    assert constants.lam == pytest.approx(2.0, rel=1e-14)
    assert constants.alpha == pytest.approx(1 / 12, rel=1e-14)
    assert constants.eta_bar == pytest.approx(1 / 96, rel=1e-14)
    assert constants.rho(1 / 192) == pytest.approx(15 / 16, rel=1e-14)
    assert constants.covers(1 / 192)


def test_cgc_constants_with_diag_1_2_and_one_fault_have_negative_alpha():
    # Same costs, f = 1: alpha = 2/24 - 1/6 = -1/12 < 0, eta_bar = -1/96: no step is covered.
    constants = cgc_constants(same_costs(np.diag([1.0, 2.0]), 5), n=6, f=1)
    assert constants.alpha == pytest.approx(-1 / 12, rel=1e-14)
    assert constants.eta_bar == pytest.approx(-1 / 96, rel=1e-14)
    for eta in (1e-9, 1e-3, 1 / 192, 0.1, -1 / 192):
        assert not constants.covers(eta)


def test_cgc_constants_with_identity_costs_and_one_fault_in_six():
    # A_i = I: mu = 2, lam = 2; alpha = 2/6 - 1/6 = 1/6; eta_bar = 6 (1/6) / (6 * 2) = 1/12;
    # rho(1/24) = 1 - 12^2 (1/24)(1/24) = 1 - 1/4 = 3/4 (= 1 - 9 alpha^2 = 1 - 9/36).
    constants = cgc_constants(same_costs(np.eye(2), 5), n=6, f=1)
    assert constants.mu == pytest.approx(2.0, rel=1e-14)
    assert constants.lam == pytest.approx(2.0, rel=1e-14)
    assert constants.alpha == pytest.approx(1 / 6, rel=1e-14)
    assert constants.eta_bar == pytest.approx(1 / 12, rel=1e-14)
    assert constants.rho(1 / 24) == pytest.approx(3 / 4, rel=1e-14)


def test_rho_stays_finite_for_costs_at_the_largest_allowed_magnitude():
    # A_i = 1e100 I: mu = lam = 2e200, (n mu)^2 = 1.44e402 overflows; rho does not depend on
    # the scale: with alpha = 1/6 and eta = eta_bar / 2 (x = n mu eta = 3 alpha), rho =
    # 1 - 3 alpha (6 alpha - 3 alpha) = 1 - 9 alpha^2 = 3/4, as at scale 1.
    constants = cgc_constants(same_costs(np.eye(2) * 1e100, 5), n=6, f=1)
    assert constants.rho(constants.eta_bar / 2) == pytest.approx(3 / 4, rel=1e-12)


def test_cgc_constants_take_mu_from_the_worst_agent_and_lam_from_the_average():
    # A_0 = diag(2, 0), A_1 = diag(0, 1): 2 lambda_max = 8 and 2, so mu = 8; the average
    # Hessian (2/2)(diag(4, 0) + diag(0, 1)) = diag(4, 1), lam = 1 (neither agent alone is
    # strongly convex). n = 3, f = 0: alpha = 1/24, eta_bar = 6 (1/24) / 24 = 1/96.
    costs = [
        LeastSquares(np.diag([2.0, 0.0]), np.zeros(2)),
        LeastSquares(np.diag([0.0, 1.0]), np.zeros(2)),
    ]
    constants = cgc_constants(costs, n=3, f=0)
    assert constants.mu == pytest.approx(8.0, rel=1e-14)
    assert constants.lam == pytest.approx(1.0, rel=1e-14)
    assert constants.alpha == pytest.approx(1 / 24, rel=1e-14)
    assert constants.eta_bar == pytest.approx(1 / 96, rel=1e-14)


def test_cgc_constants_lam_is_the_smallest_non_zero_eigenvalue_when_w_star_is_a_line():
    # Every agent has the single row (1, 1): A^T A = [[1, 1], [1, 1]], eigenvalues 0 and 2.
    # mu = 2 * 2 = 4; the average Hessian 2 [[1, 1], [1, 1]] has eigenvalues 0 and 4: the
    # minimizers form a line and the relaxed strong convexity is lam = 4 (not 0).
    costs = same_costs(np.array([[1.0, 1.0]]), 3)
    constants = cgc_constants(costs, n=3, f=0)
    assert constants.mu == pytest.approx(4.0, rel=1e-14)
    assert constants.lam == pytest.approx(4.0, rel=1e-14)


def test_cgc_constants_with_rows_of_different_counts():
    # A_0 = [[1, 0], [0, 1], [1, 1]] (3 rows): A^T A = [[2, 1], [1, 2]], eigenvalues 1 and 3,
    # 2 lambda_max = 6. A_1 = [[0, 1]]: A^T A = diag(0, 1), 2 lambda_max = 2. mu = 6. The
    # average Hessian (2/2)([[2, 1], [1, 2]] + diag(0, 1)) = [[2, 1], [1, 3]]: eigenvalues
    # 5/2 -/+ sqrt(1/4 + 1) = (5 - sqrt 5)/2, so lam = (5 - sqrt 5)/2 ~ 1.382.
    costs = [
        LeastSquares(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.zeros(3)),
        LeastSquares(np.array([[0.0, 1.0]]), np.zeros(1)),
    ]
    constants = cgc_constants(costs, n=2, f=0)
    assert constants.mu == pytest.approx(6.0, rel=1e-14)
    assert constants.lam == pytest.approx((5 - 5**0.5) / 2, rel=1e-13)


# --- identities of alpha, eta_bar, rho for any constants --------------------------------------


@st.composite
def covered_constants(draw):
    """CGCConstants with alpha > 0: 3f < n and lam / mu in (3f/n, 0.99] (lam <= mu always
    holds for real costs: the average's curvature is at most the largest agent's). alpha is at
    least v (1 - 3f/n) / 3 >= 0.01 / (3 * 40) ~ 8e-5, far from 0, and at most 0.33, so
    1 - 9 alpha^2 >= 0.01 stays clear of 0 too."""
    n = draw(st.integers(1, 40))
    f = draw(st.integers(0, (n - 1) // 3))
    mu = draw(st.floats(0.01, 100.0))
    v = draw(st.floats(0.01, 0.99))
    ratio = 3 * f / n + v * (1 - 3 * f / n)
    return CGCConstants(n=n, f=f, mu=mu, lam=ratio * mu)


@st.composite
def any_constants(draw):
    n = draw(st.integers(1, 40))
    f = draw(st.integers(0, n - 1))
    mu = draw(st.floats(0.01, 100.0))
    lam = draw(st.floats(0.0, 1.0)) * mu
    return CGCConstants(n=n, f=f, mu=mu, lam=lam)


@settings(max_examples=100, deadline=None)
@given(any_constants())
def test_alpha_and_eta_bar_follow_eqs_20_and_21(constants):
    n, f, mu, lam = constants.n, constants.f, constants.mu, constants.lam
    alpha = lam / (3 * mu) - f / n
    assert constants.alpha == pytest.approx(alpha, rel=1e-12, abs=1e-15)
    assert constants.eta_bar == pytest.approx(6 * alpha / (n * mu), rel=1e-12, abs=1e-15)


@settings(max_examples=100, deadline=None)
@given(any_constants(), st.floats(-2.0, 2.0))
def test_rho_equals_its_expanded_form_for_any_step(constants, u):
    # rho = 1 + (eta n mu)^2 - 6 (eta n mu) alpha (spec/cgc.md); eta ranges over a few eta_bar
    # either side (u is eta in units of 1 / (n mu), where the terms are of order 1).
    n_mu = constants.n * constants.mu
    eta = u / n_mu
    expanded = 1 + (eta * n_mu) ** 2 - 6 * (eta * n_mu) * constants.alpha
    # The terms are at most ~ 1 + 4 + 12: a relative error of 1e-12 on them.
    assert constants.rho(eta) == pytest.approx(expanded, abs=1e-12 * 20)


@settings(max_examples=100, deadline=None)
@given(any_constants())
def test_rho_at_half_eta_bar_is_one_minus_9_alpha_squared(constants):
    assert constants.rho(constants.eta_bar / 2) == pytest.approx(
        1 - 9 * constants.alpha**2, abs=1e-12
    )


@settings(max_examples=100, deadline=None)
@given(covered_constants(), st.floats(1e-3, 1 - 1e-3))
def test_rho_is_in_0_1_for_every_covered_step(constants, u):
    # eta = u eta_bar: rho = 1 - (n mu)^2 u (1 - u) eta_bar^2 = 1 - 36 alpha^2 u (1 - u).
    # 36 alpha^2 u (1 - u) <= 9 alpha^2 < 1 since alpha < 1/3 (lam < mu), and it is far above
    # rounding: alpha >= 8e-5 and u (1 - u) >= 1e-3 give >= 2e-10.
    eta = u * constants.eta_bar
    assert constants.covers(eta)
    rho = constants.rho(eta)
    assert 0 <= rho < 1
    assert rho == pytest.approx(1 - 36 * constants.alpha**2 * u * (1 - u), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(covered_constants(), st.floats(1e-3, 1 - 1e-3))
def test_half_eta_bar_gives_the_smallest_rho(constants, u):
    # rho is a parabola in eta with its minimum at eta_bar / 2 (Theorem 2's best rate).
    assert constants.rho(constants.eta_bar / 2) <= constants.rho(u * constants.eta_bar) + 1e-15


@settings(max_examples=100, deadline=None)
@given(covered_constants())
def test_rho_is_one_at_the_ends_of_the_covered_interval(constants):
    assert constants.rho(0.0) == pytest.approx(1.0, abs=1e-15)
    assert constants.rho(constants.eta_bar) == pytest.approx(1.0, abs=1e-15)


@settings(max_examples=100, deadline=None)
@given(covered_constants(), st.floats(1e-3, 10.0))
def test_rho_exceeds_one_outside_0_eta_bar_and_covers_is_false(constants, u):
    # eta < 0 or eta > eta_bar: eta (eta_bar - eta) < 0, so rho > 1, and Theorem 2 is silent.
    for eta in (-u * constants.eta_bar, (1 + u) * constants.eta_bar):
        assert constants.rho(eta) > 1
        assert not constants.covers(eta)


@settings(max_examples=100, deadline=None)
@given(covered_constants())
def test_covers_is_false_at_zero_and_at_eta_bar(constants):
    assert not constants.covers(0.0)
    assert not constants.covers(constants.eta_bar)
    assert constants.covers(constants.eta_bar / 2)


@st.composite
def uncovered_constants(draw):
    """CGCConstants with alpha <= 0: f >= 1 and lam / mu <= min(1, 3f/n)."""
    n = draw(st.integers(2, 40))
    f = draw(st.integers(1, n - 1))
    mu = draw(st.floats(0.01, 100.0))
    ratio = draw(st.floats(0.0, 1.0)) * min(1.0, 3 * f / n)
    return CGCConstants(n=n, f=f, mu=mu, lam=ratio * mu)


@settings(max_examples=100, deadline=None)
@given(uncovered_constants(), st.floats(1e-12, 10.0))
def test_covers_is_false_for_every_step_when_alpha_is_not_positive(constants, eta):
    # alpha = lam/(3 mu) - f/n <= f/n - f/n = 0 (up to rounding of the product 3f/n * mu / mu).
    assert constants.alpha <= 1e-15
    assert not constants.covers(eta)
    assert not constants.covers(-eta)


def test_covers_is_false_when_f_over_n_reaches_lam_over_3_mu():
    # mu = lam = 2: alpha = 1/3 - f/n. n = 3, f = 1 gives alpha = 0 exactly -> eta_bar = 0;
    # n = 4, f = 2 gives alpha = 1/3 - 1/2 < 0.
    for n, f in ((3, 1), (4, 2)):
        constants = CGCConstants(n=n, f=f, mu=2.0, lam=2.0)
        assert constants.alpha <= 0
        for eta in (1e-12, 1e-3, 0.1, 1.0):
            assert not constants.covers(eta)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 6), st.integers(1, 3))
def test_cgc_constants_of_random_costs_follow_the_spec_formulas(seed, agents, rows):
    # Random Gaussian A_i (agents x (rows x 3)): stacked, they have full rank 3 with
    # probability 1 once agents * rows >= 3; otherwise lam is the smallest non-zero eigenvalue.
    rng = np.random.default_rng(seed)
    matrices = [rng.normal(size=(rows, 3)) for _ in range(agents)]
    costs = [LeastSquares(A, np.zeros(rows)) for A in matrices]
    mu = max(2 * np.linalg.svd(A, compute_uv=False).max() ** 2 for A in matrices)
    # The non-zero eigenvalues of (2/|H|) sum A_i^T A_i are 2/|H| times the squared non-zero
    # singular values of the stacked matrix.
    singular = np.linalg.svd(np.vstack(matrices), compute_uv=False)
    lam = 2 / agents * singular[singular > 1e-8 * singular.max()].min() ** 2
    constants = cgc_constants(costs, n=agents + 1, f=1)
    assert constants.mu == pytest.approx(mu, rel=1e-10)
    assert constants.lam == pytest.approx(lam, rel=1e-8)
