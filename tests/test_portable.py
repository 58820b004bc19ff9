"""netsim.portable: fixed-order kernels, checked against the maths (hand cases, exact sums, the
Moore-Penrose conditions, math.exp), against their own stacking, and, as a source check, no
BLAS/LAPACK or SIMD-dispatched numpy function on the path of a run."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim import portable
from netsim.costs import LeastSquares, lipschitz_constants

EPS = np.finfo(np.float64).eps
PACKAGE = Path(portable.__file__).resolve().parent


# --- ordered_sum ------------------------------------------------------------------------------


def test_the_summation_tree_is_the_documented_one():
    # n = 4: (t0 + t2) + (t1 + t3) = (1e16 - 1e16) + (1 + 1) = 2 exactly; left to right it is
    # ((1e16 + 1) - 1e16) + 1 = 1, since 1e16 + 1 rounds to 1e16.
    assert portable.ordered_sum(np.array([1e16, 1.0, -1e16, 1.0])) == 2.0
    # n = 3: (t0 + t1) + t2 = (1 + 1e16) - 1e16 = 0, where t0 + (t1 + t2) would give 1.
    assert portable.ordered_sum(np.array([1.0, 1e16, -1e16])) == 0.0
    # n = 5: s = (t0 + t2, t1 + t3) with s0 += t4, then s0 + s1.
    t = np.array([1e16, 1.0, -1e16, 1.0, 1.0])
    assert portable.ordered_sum(t) == ((1e16 + -1e16) + 1.0) + (1.0 + 1.0)
    assert portable.ordered_sum(np.zeros((3, 0))).tolist() == [0.0, 0.0, 0.0]
    assert portable.ordered_sum(np.array([[7.0]])).tolist() == [7.0]


@given(
    seed=st.integers(0, 2**31),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 40)),
)
@settings(max_examples=100, deadline=None)
def test_the_sum_does_not_depend_on_layout_or_stacking(seed, shape):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 10.0 ** rng.integers(-5, 5, size=shape)
    rows, columns = shape[0], shape[1]
    reference = np.array(
        [[portable.ordered_sum(x[i, j]) for j in range(columns)] for i in range(rows)]
    )
    for variant in (x, np.asfortranarray(x), x.transpose(2, 0, 1).copy().transpose(1, 2, 0)):
        assert np.array_equal(portable.ordered_sum(variant, axis=-1), reference)
    # summing over a middle axis is the same tree over the same numbers (up to TREE_MAX terms;
    # a longer last axis is summed by numpy's pairwise summation)
    if shape[2] <= portable.TREE_MAX:
        moved = np.ascontiguousarray(np.moveaxis(x, 2, 1))
        assert np.array_equal(portable.ordered_sum(moved, axis=1), reference)
    # and within the tree's error bound of the exact sum
    exact = np.array([[math.fsum(x[i, j]) for j in range(shape[1])] for i in range(shape[0])])
    bound = math.ceil(math.log2(shape[2]) + 1) * EPS * np.abs(x).sum(axis=-1)
    assert np.all(np.abs(reference - exact) <= bound)


@given(
    seed=st.integers(0, 2**31),
    shape=st.tuples(st.integers(2, 9), st.integers(1, 12), st.integers(1, 12)),
    cache=st.integers(1, 64),
)
@settings(max_examples=60, deadline=None)
def test_sums_and_norms_in_cache_sized_blocks_give_the_same_bits(seed, shape, cache):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 10.0 ** rng.integers(-5, 5, size=shape)
    whole = portable.ordered_sum(x, axis=1), portable.row_norms(x)
    default = portable.CACHE_ELEMENTS
    try:
        portable.CACHE_ELEMENTS = cache  # a block of a few rows (at least one) at a time
        blocked = portable.ordered_sum(x, axis=1), portable.row_norms(x)
    finally:
        portable.CACHE_ELEMENTS = default
    for a, b in zip(whole, blocked):
        assert a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))


@given(seed=st.integers(0, 2**31), n=st.integers(8, 300), rows=st.integers(1, 9))
@settings(max_examples=80, deadline=None)
def test_pairwise_by_slabs_is_numpys_pairwise_summation_of_each_row(seed, n, rows):
    # numpy's add.reduce of a contiguous row: 8 running sums, combined as
    # ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), the n % 8 last terms one by one, and
    # above 128 terms the halves (a multiple of 8 first) summed apart. The slab-by-slab version
    # must give the same bits; zeros of either sign, infinities and NaN included.
    rng = np.random.default_rng(seed)
    terms = rng.normal(size=(n, rows)) * 10.0 ** rng.integers(-300, 300, size=(n, rows))
    terms[rng.random((n, rows)) < 0.05] = -0.0
    if seed % 5 == 0:
        terms[rng.integers(n), rng.integers(rows)] = rng.choice([np.inf, -np.inf, np.nan])
    with np.errstate(over="ignore", invalid="ignore"):
        expected = np.add.reduce(np.ascontiguousarray(terms.T), axis=-1)
        got = portable._pairwise_leading(terms)
    assert np.array_equal(got.view(np.uint64), expected.view(np.uint64))


def test_pairwise_order_by_hand():
    # 9 terms: r_j = t_j for j < 8, ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then
    # + t_8. With t = (1e16, 1, -1e16, 1, 0, 0, 0, 0, 1): 1e16 + 1 and -1e16 + 1 round to
    # +-1e16 (the spacing there is 2, ties to even), so the first half is 0, the second 0, and
    # the sum 0 + t_8 = 1. Left to right it would be 2: ((1e16 + 1) - 1e16) + 1 + ... + 1.
    t = np.array([1e16, 1.0, -1e16, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    assert portable._pairwise_leading(t[:, None])[0] == 1.0
    assert np.add.reduce(t) == 1.0


@given(seed=st.integers(0, 2**31), rows=st.integers(1, 40), d=st.integers(1, 20))
@settings(max_examples=60, deadline=None)
def test_row_norms_by_slabs_give_the_same_bits(seed, rows, d):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3, d)) * 10.0 ** rng.integers(-100, 100, size=(rows, 3, d))
    by_row = portable.row_norms(x)
    default = portable.SLAB_ROWS
    try:
        portable.SLAB_ROWS = 4  # blocks of 4 rows (the last one partial, mostly): the slab path
        by_slab = portable.row_norms(x)
    finally:
        portable.SLAB_ROWS = default
    assert np.array_equal(by_slab.view(np.uint64), by_row.view(np.uint64))


# --- products ---------------------------------------------------------------------------------


@given(seed=st.integers(0, 2**31), k=st.integers(1, 8), m=st.integers(1, 6), d=st.integers(1, 30))
@settings(max_examples=100, deadline=None)
def test_stacked_products_equal_each_one_alone(seed, k, m, d):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k, m, d))
    x = rng.normal(size=(k, d))
    y = rng.normal(size=(k, m))
    stacked_ax = portable.matvec(A, x)
    stacked_aty = portable.rmatvec(A, y)
    for i in range(k):
        assert np.array_equal(stacked_ax[i], portable.matvec(A[i], x[i]))
        assert np.array_equal(stacked_aty[i], portable.rmatvec(A[i], y[i]))
        exact = [math.fsum(A[i, r] * x[i]) for r in range(m)]
        assert np.allclose(stacked_ax[i], exact, rtol=0, atol=d * EPS * np.abs(A[i]).sum())
    assert np.allclose(portable.matmul(A[0], A[0].T), A[0] @ A[0].T, rtol=1e-13, atol=1e-13)
    many = rng.normal(size=(5, d))
    blocked = portable.blocked_matvec(A[0], many)
    assert all(np.array_equal(blocked[j], portable.matvec(A[0], many[j])) for j in range(5))


def test_row_norms_by_hand():
    assert portable.row_norms(np.array([[3.0, 4.0], [0.0, 0.0], [-5.0, 12.0]])).tolist() == [
        5.0,
        0.0,
        13.0,
    ]
    assert portable.norm(np.array([1.0, 2.0, 2.0])) == 3.0
    assert portable.dot(np.array([1.0, 2.0]), np.array([3.0, -4.0])) == -5.0


# --- pseudo-inverse, solve, eigenvalues -------------------------------------------------------


def test_pseudo_inverse_by_hand():
    # a row (3, 4): A^+ = A^T / ||A||^2
    assert np.allclose(portable.pseudo_inverse([[3.0, 4.0]]), [[3 / 25], [4 / 25]], rtol=1e-15)
    # rank 1 diagonal: the zero singular value is dropped
    diagonal = portable.pseudo_inverse([[2.0, 0.0], [0.0, 0.0]])
    assert np.array_equal(diagonal, [[0.5, 0.0], [0.0, 0.0]])
    # a repeated row: the pseudo-inverse splits it, A^+ = [1/2, 1/2] / 1 for A = [[1], [1]]
    assert np.allclose(portable.pseudo_inverse([[1.0], [1.0]]), [[0.5, 0.5]], rtol=1e-15)
    assert np.array_equal(portable.pseudo_inverse(np.zeros((2, 3))), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        portable.pseudo_inverse([[np.nan, 1.0]])


@st.composite
def low_rank_matrices(draw: st.DrawFn, size: int = 8) -> tuple[np.ndarray, int, int]:
    """A (m, d) = a product of normal (m, r) and (r, d) factors times 2^exponent: of rank r
    (with probability 1), at scales from 2^-100 to 2^100; and the seed that drew it."""
    seed = draw(st.integers(0, 2**31))
    m, d, rank = (draw(st.integers(1, size)) for _ in range(3))
    rank = min(rank, m, d)
    rng = np.random.default_rng(seed)
    exponent = draw(st.integers(-100, 100))
    return rng.normal(size=(m, rank)) @ rng.normal(size=(rank, d)) * 2.0**exponent, rank, seed


@given(low_rank_matrices())
@settings(max_examples=150, deadline=None)
def test_pseudo_inverse_meets_the_moore_penrose_conditions(case):
    A, rank, _ = case
    m, d = A.shape
    X = portable.pseudo_inverse(A)
    scale = np.abs(A).max()
    cond = np.linalg.cond(A / scale) if rank == min(m, d) else 1.0
    if rank < min(m, d):
        singular = np.linalg.svd(A / scale, compute_uv=False)
        cond = singular[0] / singular[rank - 1]
    tol = 1e-11 * cond**2
    assert np.allclose(A @ X @ A / scale, A / scale, atol=tol)
    assert np.allclose(X @ A @ X * scale, X * scale, atol=tol * max(1, cond))
    assert np.allclose((A @ X).T, A @ X, atol=tol)
    assert np.allclose((X @ A).T, X @ A, atol=tol)


def test_solve_by_hand_and_singular():
    assert np.allclose(portable.solve([[2.0, 1.0], [1.0, 3.0]], [3.0, 5.0]), [0.8, 1.4], rtol=1e-15)
    assert np.array_equal(portable.solve([[0.0, 1.0], [1.0, 0.0]], [2.0, 3.0]), [3.0, 2.0])
    with pytest.raises(np.linalg.LinAlgError):
        portable.solve([[1.0, 2.0], [2.0, 4.0]], [1.0, 1.0])


@given(seed=st.integers(0, 2**31), k=st.integers(1, 12))
@settings(max_examples=60, deadline=None)
def test_symmetric_eigenvalues_match_the_characteristic_values(seed, k):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(k, k)))
    values = np.sort(rng.normal(size=k) * 10.0 ** rng.integers(-3, 3))
    S = (Q * values) @ Q.T
    found = portable.symmetric_eigenvalues(S)
    assert np.allclose(found, values, atol=1e-12 * np.abs(values).max())


def test_symmetric_eigenvalues_by_hand():
    assert np.allclose(portable.symmetric_eigenvalues([[2.0, 1.0], [1.0, 2.0]]), [1.0, 3.0])
    assert portable.symmetric_eigenvalues(np.diag([3.0, -1.0, 2.0])).tolist() == [-1.0, 2.0, 3.0]
    assert portable.symmetric_eigenvalues(np.zeros((2, 2))).tolist() == [0.0, 0.0]


@given(
    seed=st.integers(0, 2**31),
    exponent=st.integers(-150, 150),
    count=st.integers(1, 6),
)
@settings(max_examples=100, deadline=None)
def test_two_by_two_eigenvalues_in_closed_form_at_every_scale(seed, exponent, count):
    # [[a, b], [b, c]]: (a + c)/2 -+ sqrt(((a - c)/2)^2 + b^2), whatever the scale (b^2 alone
    # would overflow at 1e155 and vanish at 1e-155); a stack gives each matrix's own bits.
    rng = np.random.default_rng(seed)
    stack = rng.normal(size=(count, 2, 2)) * 10.0**exponent
    stack = stack + np.swapaxes(stack, 1, 2)
    spectra = portable.Spectra(stack)
    for index in (0, 1):
        found = spectra.eigenvalues(index)
        for b, S in enumerate(stack):
            expected = np.linalg.eigvalsh(S)[index]
            assert abs(found[b] - expected) <= 4 * EPS * np.abs(S).max()
            assert found[b] == portable.Spectrum(S).eigenvalue(index)


def test_least_squares_by_hand():
    # x + y = 2 twice (rows (1, 1) and (2, 2), b = 2 and 4): W* is the line x + y = 2, the
    # minimum-norm point (1, 1), the row space spanned by (1, 1) / sqrt(2).
    x, basis = portable.least_squares([[1.0, 1.0], [2.0, 2.0]], [2.0, 4.0])
    assert np.allclose(x, [1.0, 1.0], rtol=1e-15)
    assert basis.shape == (1, 2)
    assert np.allclose(np.abs(basis), [[2**-0.5, 2**-0.5]], rtol=1e-15)
    # Full column rank: the basis is the identity exactly (W* is one point), and an
    # inconsistent system gives the mean: rows 1, 1 with b = 1, 3 -> x = 2.
    x, basis = portable.least_squares([[1.0], [1.0]], [1.0, 3.0])
    assert x[0] == pytest.approx(2.0, rel=1e-15) and basis.tolist() == [[1.0]]
    x, basis = portable.least_squares([[2.0, 0.0], [0.0, 4.0], [0.0, 0.0]], [2.0, 2.0, 5.0])
    assert np.allclose(x, [1.0, 0.5], rtol=1e-15) and np.array_equal(basis, np.eye(2))
    # The zero matrix: x = 0, an empty basis.
    x, basis = portable.least_squares(np.zeros((2, 3)), [1.0, 1.0])
    assert x.tolist() == [0.0, 0.0, 0.0] and basis.shape == (0, 3)


@given(low_rank_matrices(size=12))
@settings(max_examples=60, deadline=None)
def test_factorizations_do_not_depend_on_the_memory_layout(case):
    # The same numbers in C or Fortran order (or as a transposed view) must give the same bits:
    # the sums run in an order fixed by the shape, never by the layout.
    A, _, seed = case
    b = np.random.default_rng(seed).normal(size=A.shape[0])
    layouts = (A, np.asfortranarray(A), np.ascontiguousarray(A.T).T)
    results = [portable.least_squares(M, b) for M in layouts]
    for point, basis in results[1:]:
        assert np.array_equal(point.view(np.uint64), results[0][0].view(np.uint64))
        assert np.array_equal(basis.view(np.uint64), results[0][1].view(np.uint64))
    H = portable.gram(A)
    tridiagonals = [portable._tridiagonal(M) for M in (H, np.asfortranarray(H))]
    for x, y in zip(*tridiagonals):
        assert np.array_equal(x.view(np.uint64), y.view(np.uint64))


@given(low_rank_matrices(size=12))
@settings(max_examples=60, deadline=None)
def test_each_right_hand_side_is_solved_on_its_own(case):
    # Several right-hand sides solved together (as the pseudo-inverse's columns, or a solution
    # with the row-space basis) must each give the bits they give alone: the reflections act
    # on each row separately, whatever the rows around it.
    A, _, seed = case
    rhs = np.random.default_rng(seed).normal(size=(3, A.shape[0]))
    together, basis = portable._minimum_norm(A, rhs)
    for row, expected in zip(rhs, together):
        alone, alone_basis = portable._minimum_norm(A, row[None, :])
        assert np.array_equal(alone[0].view(np.uint64), expected.view(np.uint64))
        assert np.array_equal(alone_basis.view(np.uint64), basis.view(np.uint64))


@given(low_rank_matrices(size=12))
@settings(max_examples=150, deadline=None)
def test_least_squares_is_the_minimum_norm_solution_and_spans_the_row_space(case):
    A, rank, seed = case
    m, d = A.shape
    b = np.random.default_rng(seed + 1).normal(size=m) * np.abs(A).max()
    x, basis = portable.least_squares(A, b)
    singular = np.linalg.svd(A, compute_uv=False)
    cond = singular[0] / singular[rank - 1]
    expected = np.linalg.pinv(A, rcond=1e-10) @ b  # the numerical rank is `rank`
    assert np.allclose(x, expected, rtol=1e-9 * cond, atol=1e-9 * cond * np.abs(expected).max())
    # An orthonormal basis of the row space: r = rank rows, B B^T = I, B^T B = A^+ A.
    assert basis.shape == (rank, d)
    assert np.allclose(basis @ basis.T, np.eye(rank), atol=1e-12)
    projector = np.linalg.pinv(A, rcond=1e-10) @ A
    assert np.allclose(basis.T @ basis, projector, atol=1e-9 * cond)
    if rank == d:
        assert np.array_equal(basis, np.eye(d))


def test_least_squares_lipschitz_is_twice_the_largest_squared_singular_value():
    A = np.array([[3.0, 0.0, 0.0], [0.0, 4.0, 0.0]])  # singular values 4 and 3
    assert LeastSquares(A, np.zeros(2)).lipschitz() == pytest.approx(32.0, rel=1e-15)
    assert LeastSquares(A.T, np.zeros(3)).lipschitz() == pytest.approx(32.0, rel=1e-15)


# --- exp --------------------------------------------------------------------------------------


def test_exp_is_within_one_ulp_of_the_c_library():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.uniform(-745, 709.78, 50_000), rng.uniform(-1, 1, 50_000), rng.normal(size=10_000)]
    )
    ours = portable.exp(x)
    reference = np.array([math.exp(v) for v in x])
    positive = reference > 0
    ulps = np.abs(ours[positive] - reference[positive]) / np.spacing(reference[positive])
    assert ulps.max() <= 1.0
    assert np.mean(ulps == 0) > 0.85  # mostly the correctly rounded value


def test_exp_special_values():
    values = portable.exp(np.array([0.0, -0.0, 1.0, np.inf, -np.inf, np.nan, 710.0, -746.0]))
    assert values[0] == 1.0 and values[1] == 1.0
    assert abs(values[2] - math.e) <= np.spacing(math.e)  # fdlibm: within 1 ulp of e
    assert values[3] == np.inf and values[4] == 0.0 and np.isnan(values[5])
    assert values[6] == np.inf and values[7] == 0.0
    # the smallest subnormal: e^-745.13 rounds to 2^-1074
    assert portable.exp(np.array([-745.13]))[0] == 5e-324


# --- the run path uses none of the CPU-dependent functions ------------------------------------

RUN_PATH = [
    "costs.py",
    "filters.py",
    "norms.py",
    "aggregators.py",
    "adversaries.py",
    "delays.py",
    "philox.py",
    "variates.py",
    "step_sizes.py",
    "clocks.py",
    "rng.py",
    "simulation.py",
    "protocols",
    "engine",
    "fast",
]
# numpy functions whose float64 result depends on the BLAS kernel or on numpy's SIMD dispatch
CPU_DEPENDENT = {"dot", "vdot", "inner", "matmul", "einsum", "tensordot", "exp", "expm1", "log",
                 "log1p", "log2", "log10", "power", "sin", "cos", "tan", "arctan", "arctan2",
                 "sinh", "cosh", "tanh", "hypot", "cbrt", "exp2", "float_power"}  # fmt: skip


def _run_path_files() -> list[Path]:
    files = []
    for entry in RUN_PATH:
        path = PACKAGE / entry
        files.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    return files


def test_no_blas_lapack_or_dispatched_transcendental_on_the_run_path():
    offences = []
    for path in _run_path_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            where = f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.MatMult):
                offences.append(f"{where}: the @ operator (BLAS)")
            if isinstance(node, ast.Attribute):
                if node.attr == "linalg" and not _is_linalg_error(node, tree):
                    offences.append(f"{where}: numpy.linalg (LAPACK)")
                if (
                    node.attr in CPU_DEPENDENT
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "np"
                ):
                    offences.append(f"{where}: np.{node.attr}")
                if node.attr == "dot" and not (
                    isinstance(node.value, ast.Name) and node.value.id == "portable"
                ):
                    offences.append(f"{where}: .dot (BLAS)")
    assert not offences, "\n".join(offences)


def _is_linalg_error(node: ast.Attribute, tree: ast.AST) -> bool:
    """np.linalg.LinAlgError (the exception class) is fine."""
    for parent in ast.walk(tree):
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return parent.attr == "LinAlgError"
    return False


def test_spectrum_counts_and_extreme_eigenvalues_by_hand():
    # [[2, 1], [1, 2]]: eigenvalues 1 and 3; tridiagonal already, Sturm counts by hand:
    # sigma = 2: q0 = 0 -> nudged negative (1 below), q1 = 0 - 1/q0 > 0 -> 1 eigenvalue below 2.
    spectrum = portable.Spectrum([[2.0, 1.0], [1.0, 2.0]])
    assert [spectrum.count_below(s) for s in (0.5, 1.5, 2.0, 2.5, 3.5)] == [0, 1, 1, 1, 2]
    assert spectrum.eigenvalue(0) == pytest.approx(1.0, abs=4 * portable.EPS * 3)
    assert spectrum.eigenvalue(1) == pytest.approx(3.0, abs=4 * portable.EPS * 3)
    # A 4 x 4 path-graph Laplacian (tridiagonal): eigenvalues 2 - 2 cos(k pi / 4); a dense
    # matrix goes through the Householder reduction first.
    laplacian = np.diag([1.0, 2.0, 2.0, 1.0]) - np.eye(4, k=1) - np.eye(4, k=-1)
    expected = [2 - 2 * math.cos(k * math.pi / 4) for k in range(4)]
    assert np.allclose(portable.symmetric_eigenvalues(laplacian), expected, atol=1e-14)
    dense = np.array([[4.0, 1.0, 2.0], [1.0, 3.0, 0.5], [2.0, 0.5, 5.0]])
    assert np.allclose(portable.symmetric_eigenvalues(dense), np.linalg.eigvalsh(dense), atol=1e-14)
    with pytest.raises(IndexError):
        spectrum.eigenvalue(2)


@given(seed=st.integers(0, 2**31), k=st.integers(1, 6), count=st.integers(1, 7))
@settings(max_examples=60, deadline=None)
def test_a_matrix_gives_the_same_eigenvalues_alone_and_in_a_stack(seed, k, count):
    """Spectra bisects a stack at once; each matrix must get the bits it gets alone (runs that
    compute L for one cost or for all honest costs at once must agree), and every eigenvalue
    must match LAPACK's to the reduction's accuracy."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(count, k + 1, k)) * 10.0 ** rng.integers(-3, 4, size=(count, 1, 1))
    stack = np.einsum("bij,bik->bjk", A, A)
    together = portable.Spectra(stack)
    for index in range(k):
        values = together.eigenvalues(index)
        for b in range(count):
            alone = portable.Spectrum(stack[b]).eigenvalue(index)
            assert values[b] == alone
            reference = np.linalg.eigvalsh(stack[b])[index]
            assert abs(alone - reference) <= 8 * k * portable.EPS * np.abs(stack[b]).sum()


def test_lipschitz_constants_batched_equal_one_at_a_time():
    rng = np.random.default_rng(5)
    costs = [LeastSquares(rng.normal(size=(m, 3)), rng.normal(size=m)) for m in (1, 2, 2, 4, 1)]
    batched = lipschitz_constants(costs)
    fresh = [LeastSquares(c.A.copy(), c.B.copy()) for c in costs]
    assert batched == [c.lipschitz() for c in fresh]  # alone: its own stack of one
    gram_max = [2 * np.linalg.eigvalsh(c.A.T @ c.A).max() for c in costs]
    assert np.allclose(batched, gram_max, rtol=1e-13)


@given(seed=st.integers(0, 2**31), b=st.integers(1, 5), m=st.integers(1, 4), k=st.integers(1, 20))
@settings(max_examples=60, deadline=None)
def test_stacked_matmul_is_matmul_of_each_pair_bit_for_bit(seed, b, m, k):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(b, m, k)) * 10.0 ** rng.integers(-5, 6, size=(b, 1, 1))
    B = rng.normal(size=(b, k, m + 1))
    stacked = portable.stacked_matmul(A, B)
    for i in range(b):
        assert np.array_equal(stacked[i], portable.matmul(A[i], B[i]))


@given(
    seed=st.integers(0, 2**31),
    m=st.integers(0, 40),
    k=st.integers(1, 40),
    exponent=st.integers(-150, 150),
)
@settings(max_examples=80, deadline=None)
def test_gram_is_matmul_of_the_transpose_bit_for_bit_and_symmetric(seed, m, k, exponent):
    """A^T A's entry (j, i) is the same products as (i, j) in the same order: gram computes
    half of them and mirrors, with the bits of the full product."""
    A = np.random.default_rng(seed).normal(size=(m, k)) * 10.0**exponent
    G = portable.gram(A)
    assert np.array_equal(G, portable.matmul(A.T, A))
    assert np.array_equal(G, G.T)


def test_gram_of_small_integers_is_exact():
    """Integer entries below 2^20: every product and partial sum is an exact integer, so the
    Gram matrix is the integer one, whatever the order of the sums."""
    A = np.random.default_rng(3).integers(-(2**20), 2**20, size=(300, 7)).astype(np.float64)
    exact = np.array(
        [
            [sum(int(a) * int(b) for a, b in zip(A[:, i], A[:, j])) for j in range(7)]
            for i in range(7)
        ],
        dtype=np.float64,
    )
    assert np.array_equal(portable.gram(A), exact)


def test_log_is_within_one_ulp_of_the_c_library():
    rng = np.random.default_rng(0)
    positive = rng.integers(1, 0x7FF0000000000000, size=200_000, dtype=np.int64)
    x = np.concatenate(
        [
            positive.astype(np.uint64).view(np.float64),  # every exponent, subnormals included
            rng.random(50_000),
            1.0 + rng.normal(size=20_000) * 1e-7,  # |f| < 2^-20: e_log.c's short form
            1.0 + rng.normal(size=20_000) * 1e-3,
            [5e-324, 2.0**-1022, 1.0 - 2.0**-53, 1.0 + 2.0**-52, 1.7976931348623157e308],
        ]
    )
    ours = portable.log(x)
    expected = np.array([math.log(v) for v in x])
    assert np.all(np.abs(ours - expected) <= np.spacing(np.abs(expected)))


def test_log_special_values_and_shapes():
    values = portable.log(np.array([1.0, 2.0, 0.0, -0.0, -1.0, np.inf, -np.inf, np.nan]))
    assert values[0] == 0.0 and values[1] == math.log(2.0)
    assert values[2] == -np.inf and values[3] == -np.inf
    assert np.isnan(values[4]) and values[5] == np.inf and np.all(np.isnan(values[6:]))
    assert portable.log(np.ones((3, 4))).shape == (3, 4)
    assert float(portable.log(math.e)) == pytest.approx(1.0, abs=2.3e-16)
