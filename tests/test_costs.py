"""Least-squares costs: value, gradient, projection onto argmin, minimizer, Lipschitz constant,
and the honest aggregate's optimum set (spec/README.md, "Least-squares costs")."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from netsim.costs import LeastSquares, OptimumSet, aggregate_optimum

# The CE paper instance netsim uses (spec/ce.md): honest rows 1..5, B = A (1, 1).
CE_A = np.array([[1, 0], [0.8, 0.5], [0.5, 0.8], [0, 1], [-0.5, 0.8], [-0.8, 0.5]])
CE_B = CE_A @ np.array([1.0, 1.0])


def project_onto_row(a: np.ndarray, b: float, z: np.ndarray) -> np.ndarray:
    """The hand formula for one row: [z] = z - a (a^T z - b) / ||a||^2."""
    return z - a * (a @ z - b) / (a @ a)


# --- value and gradient --------------------------------------------------------------------------


def test_value_is_the_squared_residual_on_a_hand_case():
    # A = [[1, 2], [0, 1]], B = (1, 1), x = (1, 1): B - A x = (1 - 3, 1 - 1) = (-2, 0) -> 4.
    cost = LeastSquares(np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([1.0, 1.0]))
    assert cost.value(np.array([1.0, 1.0])) == pytest.approx(4.0)


def test_gradient_on_a_hand_case():
    # A = [[1, 2]], B = (3,), x = 0: A x - B = -3, so 2 A^T (A x - B) = 2 (1, 2)(-3) = (-6, -12).
    cost = LeastSquares(np.array([[1.0, 2.0]]), np.array([3.0]))
    np.testing.assert_allclose(cost.gradient(np.zeros(2)), [-6.0, -12.0])
    # x = (1, 1) solves A x = B, so the gradient vanishes there.
    np.testing.assert_allclose(cost.gradient(np.ones(2)), [0.0, 0.0], atol=1e-15)


matrices = st.integers(1, 4).flatmap(
    lambda m: st.integers(1, 4).flatmap(
        lambda d: st.tuples(
            hnp.arrays(np.float64, (m, d), elements=st.integers(-3, 3).map(float)),
            hnp.arrays(np.float64, (m,), elements=st.floats(-5, 5)),
            hnp.arrays(np.float64, (d,), elements=st.floats(-5, 5)),
            hnp.arrays(np.float64, (d,), elements=st.floats(-5, 5)),
        )
    )
)


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_gradient_equals_two_At_residual_and_central_difference(case):
    A, B, x, _ = case
    cost = LeastSquares(A, B)
    expected = 2.0 * A.T @ (A @ x - B)
    np.testing.assert_allclose(cost.gradient(x), expected, rtol=1e-12, atol=1e-12)
    # Q is quadratic, so the central difference (Q(x + h e) - Q(x - h e)) / 2h is exact up to
    # rounding: the third derivative is zero. h = 1e-3 keeps the rounding error ~1e-10.
    h = 1e-3
    numeric = np.array(
        [(cost.value(x + h * e) - cost.value(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    )
    np.testing.assert_allclose(numeric, expected, rtol=1e-6, atol=1e-6)


# --- projection onto argmin ----------------------------------------------------------------------


def test_projection_onto_a_single_row_is_the_hand_formula():
    rng = np.random.default_rng(7)
    for _ in range(20):
        a = rng.normal(size=3)
        b = float(rng.normal())
        z = rng.normal(size=3) * 4
        cost = LeastSquares(a[None, :], np.array([b]))
        np.testing.assert_allclose(cost.project(z), project_onto_row(a, b, z), atol=1e-12)


def test_spec_reference_projection_of_origin_onto_row_08_05():
    # a = (0.8, 0.5), b = 0.8 + 0.5 = 1.3, z = 0: a^T z - b = -1.3, ||a||^2 = 0.89,
    # so [0] = a * 1.3 / 0.89 = (1.04 / 0.89, 0.65 / 0.89) = (1.168539.., 0.730337..).
    a = CE_A[1]
    assert CE_B[1] == pytest.approx(1.3)
    expected = np.array([1.04 / 0.89, 0.65 / 0.89])
    np.testing.assert_allclose(project_onto_row(a, 1.3, np.zeros(2)), expected)
    cost = LeastSquares(CE_A[1:2], CE_B[1:2])
    np.testing.assert_allclose(cost.project(np.zeros(2)), expected, atol=1e-12)


def test_spec_reference_projection_of_3_minus2_onto_row_0_1():
    # a = (0, 1), b = 1, z = (3, -2): a^T z - b = -3, ||a||^2 = 1,
    # so [z] = (3, -2) + 3 (0, 1) = (3, 1).
    cost = LeastSquares(CE_A[3:4], CE_B[3:4])
    np.testing.assert_allclose(cost.project(np.array([3.0, -2.0])), [3.0, 1.0], atol=1e-12)


# Rank-deficient systems with a hand basis of null(A): z - [z] must be orthogonal to it.
RANK_DEFICIENT = [
    pytest.param(
        np.array([[1.0, 2.0, -1.0]]),
        np.array([4.0]),
        np.array([[2.0, -1.0, 0.0], [1.0, 0.0, 1.0]]),
        id="1x3",
    ),
    pytest.param(
        np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]),
        np.array([2.0, -1.0]),
        np.array([[1.0, 1.0, -1.0]]),
        id="2x3",
    ),
    # Two identical rows with different right-hand sides: inconsistent, argmin is x1 + x2 = 2.
    pytest.param(
        np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]),
        np.array([1.0, 3.0]),
        np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]),
        id="identical-rows",
    ),
]


@pytest.mark.parametrize(("A", "B", "null_basis"), RANK_DEFICIENT)
def test_projection_is_idempotent_lands_in_argmin_and_moves_orthogonally_to_null_space(
    A, B, null_basis
):
    np.testing.assert_allclose(A @ null_basis.T, 0.0)  # the hand basis really spans null(A)
    cost = LeastSquares(A, B)
    rng = np.random.default_rng(3)
    for z in rng.normal(size=(10, 3)) * 5:
        p = cost.project(z)
        np.testing.assert_allclose(cost.project(p), p, atol=1e-12)
        # argmin ||B - A x||^2 = {x : A^T A x = A^T B} (normal equations).
        np.testing.assert_allclose(A.T @ A @ p, A.T @ B, atol=1e-10)
        np.testing.assert_allclose(null_basis @ (z - p), 0.0, atol=1e-10)


def test_projection_with_two_identical_inconsistent_rows_hits_the_mean_right_hand_side():
    # Rows (1, 1, 0) with b = 1 and b = 3: least squares gives x1 + x2 = 2. Projecting 0 onto that
    # plane by the one-row formula: a * 2 / ||a||^2 = (1, 1, 0).
    cost = LeastSquares(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]), np.array([1.0, 3.0]))
    np.testing.assert_allclose(cost.project(np.zeros(3)), [1.0, 1.0, 0.0], atol=1e-12)


def test_projection_of_a_stack_equals_row_by_row():
    A = np.array([[1.0, 2.0, -1.0], [0.0, 1.0, 3.0]])
    cost = LeastSquares(A, np.array([1.0, -2.0]))
    stack = np.random.default_rng(11).normal(size=(6, 3)) * 3
    projected = cost.project(stack)
    assert projected.shape == stack.shape
    for row, p in zip(stack, projected, strict=True):
        np.testing.assert_allclose(p, cost.project(row), atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(matrices)
def test_projection_is_non_expansive(case):
    A, B, z1, z2 = case
    cost = LeastSquares(A, B)
    moved = np.linalg.norm(cost.project(z1) - cost.project(z2))
    assert moved <= np.linalg.norm(z1 - z2) * (1 + 1e-9) + 1e-9


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_projection_lands_in_argmin_for_any_matrix(case):
    A, B, z, _ = case
    p = LeastSquares(A, B).project(z)
    np.testing.assert_allclose(A.T @ A @ p, A.T @ B, atol=1e-8)


# --- minimizer and Lipschitz constant ------------------------------------------------------------


def test_minimizer_is_the_minimum_norm_solution():
    # x1 + x2 = 2: solutions (1 + t, 1 - t); ||.||^2 = 2 + 2 t^2 is least at t = 0 -> (1, 1).
    cost = LeastSquares(np.array([[1.0, 1.0]]), np.array([2.0]))
    np.testing.assert_allclose(cost.minimizer(), [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(cost.minimizer(), cost.project(np.zeros(2)), atol=1e-12)


def test_minimizer_of_a_full_rank_square_system_solves_it():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    # A (1, -1) = (1, -2).
    cost = LeastSquares(A, np.array([1.0, -2.0]))
    np.testing.assert_allclose(cost.minimizer(), [1.0, -1.0], atol=1e-12)


def test_lipschitz_of_a_diagonal_matrix_is_twice_the_largest_square():
    # A = diag(3, 1, 2): A^T A = diag(9, 1, 4), lambda_max = 9, L = 18.
    assert LeastSquares(np.diag([3.0, 1.0, 2.0]), np.zeros(3)).lipschitz() == pytest.approx(18.0)
    # A tall matrix with a zero row: A^T A = diag(1, 16) -> L = 32.
    tall = np.array([[1.0, 0.0], [0.0, -4.0], [0.0, 0.0]])
    assert LeastSquares(tall, np.zeros(3)).lipschitz() == pytest.approx(32.0)


def test_lipschitz_bounds_the_gradient_difference():
    A = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 3.0]])
    cost = LeastSquares(A, np.array([1.0, 0.0, -1.0]))
    L = cost.lipschitz()
    rng = np.random.default_rng(5)
    for _ in range(50):
        x, y = rng.normal(size=(2, 2)) * 3
        diff = np.linalg.norm(cost.gradient(x) - cost.gradient(y))
        assert diff <= L * np.linalg.norm(x - y) * (1 + 1e-12)


# --- aggregate optimum ---------------------------------------------------------------------------


def test_honest_optimum_of_the_ce_paper_instance_is_1_1():
    honest = [LeastSquares(CE_A[i : i + 1], CE_B[i : i + 1]) for i in range(1, 6)]
    optimum = aggregate_optimum(honest)
    assert optimum.unique
    np.testing.assert_allclose(optimum.point, [1.0, 1.0], atol=1e-12)
    assert optimum.distance(np.array([1.0, 1.0])) == pytest.approx(0.0, abs=1e-12)
    # (4, 5) - (1, 1) = (3, 4): distance 5.
    assert optimum.distance(np.array([4.0, 5.0])) == pytest.approx(5.0)


def test_rank_deficient_aggregate_measures_distance_to_the_affine_set():
    # Rows (1, 1) b = 2 and (2, 2) b = 4: W* = {x1 + x2 = 2}, minimum-norm point (1, 1),
    # null direction (1, -1).
    optimum = aggregate_optimum(
        [
            LeastSquares(np.array([[1.0, 1.0]]), np.array([2.0])),
            LeastSquares(np.array([[2.0, 2.0]]), np.array([4.0])),
        ]
    )
    assert not optimum.unique
    np.testing.assert_allclose(optimum.point, [1.0, 1.0], atol=1e-12)
    for t in (-3.0, 0.5, 10.0):
        moved = np.array([1.0, 1.0]) + t * np.array([1.0, -1.0])
        assert optimum.distance(moved) == pytest.approx(0.0, abs=1e-12)
    # (2, 2) is |2 + 2 - 2| / ||(1, 1)|| = sqrt(2) away from the line x1 + x2 = 2.
    assert optimum.distance(np.array([2.0, 2.0])) == pytest.approx(np.sqrt(2.0))
    stacked = optimum.distance(np.array([[2.0, 2.0], [3.0, -1.0], [0.0, 0.0]]))
    # (3, -1) is on the line; (0, 0) is |0 - 2| / sqrt(2) = sqrt(2) away.
    np.testing.assert_allclose(stacked, [np.sqrt(2.0), 0.0, np.sqrt(2.0)], atol=1e-12)


def test_aggregate_of_inconsistent_costs_is_the_least_squares_solution():
    # d = 1: Q_1 = (1 - x)^2, Q_2 = (3 - x)^2 (rows 1 and 1): the sum is least at the mean, x = 2.
    optimum = aggregate_optimum(
        [
            LeastSquares(np.array([[1.0]]), np.array([1.0])),
            LeastSquares(np.array([[1.0]]), np.array([3.0])),
        ]
    )
    assert optimum.unique
    np.testing.assert_allclose(optimum.point, [2.0])


def test_optimum_set_distance_with_identity_basis_is_euclidean():
    optimum = OptimumSet(point=np.array([1.0, -1.0]), basis=np.eye(2))
    assert optimum.unique
    # (4, 3) - (1, -1) = (3, 4): distance 5.
    assert optimum.distance(np.array([4.0, 3.0])) == pytest.approx(5.0)
