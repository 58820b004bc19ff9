"""Fixed-order arithmetic: the same bits on every CPU, BLAS kernel and numpy build (pure numpy).

Everything that enters a run's estimates and trace is computed here from the five operations
IEEE 754 rounds exactly (``+ - * /`` and ``sqrt``), applied element by element, in an order
this module fixes. No BLAS or LAPACK call, no numpy reduction whose order numpy chooses, no
SIMD-dispatched transcendental function. The reason: OpenBLAS picks its kernel by CPU (SSE3,
AVX2, AVX-512), and each kernel sums a dot product in its own order, so ``A @ x`` differs by
an ulp between an Intel AVX-512 host and an AMD AVX2 host; a run then drifts apart in the last
bits and its trace hash differs. numpy's ``np.exp`` on float64 likewise has its own AVX-512
code path.

* :func:`ordered_sum` -- the sum of n terms along an axis by a fixed binary tree (term i is
  added to term i + h, h = n // 2, then again on the first h, ...; an odd last term is added to
  the first): log2(n) vectorized adds, O(log n) ulps of rounding error. A long last axis
  (more than 7 terms) is summed row by row by numpy's pairwise summation, whose order is
  also fixed by n alone.
* :func:`dot`, :func:`matvec`, :func:`rmatvec`, :func:`matmul` -- products and one ordered
  sum. Stacked operands give bit for bit the rows of the one-at-a-time call (the same
  element-wise operations on the same numbers), which is why the fast engines can stack costs.
* :func:`row_norms` -- sqrt(sum of squares), ordered.
* :func:`pseudo_inverse`, :func:`least_squares` -- a complete orthogonal decomposition by
  Householder reflections (QR with column pivoting, then a QR of R^T) instead of LAPACK's
  SVD; :func:`solve` -- Gaussian elimination with partial pivoting; :class:`Spectrum` --
  Householder tridiagonalization, then bisection on Sturm counts, one eigenvalue at a time
  (:func:`symmetric_eigenvalues`: all of them; 2 x 2 matrices in closed form).
* :func:`exp` -- e^x from fdlibm's algorithm (argument reduction by ln 2, a rational
  approximation on [-ln2/2, ln2/2]; error below 1 ulp), in element-wise operations.

Cost: the kernels are a few vectorized numpy calls per operation, comparable to BLAS for the
small sizes a simulation uses (d up to a few hundred); the matrix factorizations are set-up
work, once per cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EPS = float(np.finfo(np.float64).eps)
SCALAR_STACK = 4  # Spectra: stacks up to this size run the Sturm recurrence in Python floats
TREE_MAX = 7  # ordered_sum: longer last axes are summed by numpy's pairwise summation
CACHE_ELEMENTS = 1 << 17  # ordered_sum's tree and row_norms: blocks of ~1 MiB, kept in cache
# row_norms sums the squares slab by slab for rows of this many terms, this many rows or more,
# a block of this many rows at a time (0.55x-0.6x the time at 10^4-10^6 rows of 10 terms, 0.8x
# at 16; slower for fewer rows or longer ones)
SLAB_TERMS = (8, 16)
SLAB_ROWS = 8192


def ordered_sum(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sum along ``axis`` in a fixed order (module docstring); an empty axis sums to 0.

    For n terms t_0..t_{n-1}: with h = n // 2, s_i = t_i + t_{i+h} for i < h, and for odd n
    s_0 += t_{n-1}; repeat on s_0..s_{h-1}. n = 2: t_0 + t_1; n = 3: (t_0 + t_1) + t_2;
    n = 4: (t_0 + t_2) + (t_1 + t_3).

    Along the last axis with more than :data:`TREE_MAX` terms the sum is numpy's own
    ``add.reduce`` of each contiguous row instead: its pairwise summation (8 running sums over
    blocks of at most 128 terms, blocks combined by halving) is plain C whose order depends on
    n only, the same on every CPU, and streams a long row several times faster than the tree.
    Either way a row's sum depends only on its n values, never on the rows around it, which
    is also why a large array is summed a block of its first axis at a time (the tree's
    intermediate sums then stay in cache; the same bits). Rows of at most 128 terms laid out
    with the last axis outermost in memory (term j of every row in one contiguous slab) are
    summed in numpy's pairwise order slab by slab (:func:`_pairwise_leading`), the same bits.
    """
    x = np.asarray(x, dtype=np.float64)
    axis = axis + x.ndim if axis < 0 else axis
    if axis == x.ndim - 1 and x.shape[axis] > TREE_MAX:
        if x.shape[axis] <= PAIRWISE_BLOCK and _last_outermost(x):  # a row's terms: slabs apart
            return _pairwise_leading(x.transpose((axis, *range(axis))))
        return np.add.reduce(np.ascontiguousarray(x), axis=-1)
    if axis > 0 and x.size > 2 * CACHE_ELEMENTS and x.shape[0] > 1:
        step = max(1, CACHE_ELEMENTS * x.shape[0] // x.size)
        blocks = [_tree_sum(x[start : start + step], axis) for start in range(0, len(x), step)]
        return np.concatenate(blocks)
    return _tree_sum(x, axis)


PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: longer rows are split in two, a multiple of 8 first


def _pairwise_leading(terms: np.ndarray) -> np.ndarray:
    """numpy's pairwise summation of each row, for rows laid out along the leading axis:
    ``terms`` (n, ...), n > :data:`TREE_MAX`, gives what ``np.add.reduce`` gives for the rows
    of ``np.moveaxis(terms, 0, -1)`` made contiguous, bit for bit, as whole-slab operations
    instead of one short inner loop per row (~3x faster for n = 10 when each slab
    ``terms[j]`` is contiguous; any layout gives the same bits).

    numpy's order (``pairwise_sum`` in its loops_utils.h): for 8 <= n <= 128, eight running
    sums r_j = t_j + t_{j+8} + t_{j+16} + ... over the first n - n % 8 terms, then
    ((r_0 + r_1) + (r_2 + r_3)) + ((r_4 + r_5) + (r_6 + r_7)), then the last n % 8 terms one
    by one; above 128, the sum of the first h terms plus the sum of the rest, h = n // 2
    rounded down to a multiple of 8. tests/test_portable.py holds the two against each other.
    """
    n = terms.shape[0]
    if n > PAIRWISE_BLOCK:
        half = n // 2
        half -= half % 8
        return _pairwise_leading(terms[:half]) + _pairwise_leading(terms[half:])
    full = n - n % 8
    running = terms[0:8]
    if full > 8:
        running = running + terms[8:16]
        for start in range(16, full, 8):
            running += terms[start : start + 8]
    pairs = running[0::2] + running[1::2]  # r_0 + r_1, r_2 + r_3, r_4 + r_5, r_6 + r_7
    total = (pairs[0] + pairs[1]) + (pairs[2] + pairs[3])
    for last in range(full, n):
        total += terms[last]
    return total


def _last_sum(products: np.ndarray) -> np.ndarray:
    """:func:`ordered_sum` along the last axis of ``products`` (a fresh float64 product
    array) with fewer checks: for a C-contiguous one, the tree up to :data:`TREE_MAX` terms
    and numpy's pairwise sum of each row above; any other layout (a product keeps its
    operands' layout: a Fortran-ordered operand gives a Fortran-ordered product) goes to
    :func:`ordered_sum`."""
    if not products.flags.c_contiguous:
        return ordered_sum(products, axis=-1)
    if products.shape[-1] > TREE_MAX:
        return np.add.reduce(products, axis=-1)
    return _tree_sum(products, products.ndim - 1)


def _tree_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """:func:`ordered_sum`'s binary tree along ``axis``."""
    lead = (slice(None),) * axis  # index along ``axis`` only, whatever follows it
    n = x.shape[axis]
    if n == 0:
        return np.zeros(x.shape[:axis] + x.shape[axis + 1 :])
    if n == 1:
        return x[(*lead, 0)].copy()
    while n > 3:
        half = n // 2
        head = x[(*lead, slice(0, half))] + x[(*lead, slice(half, 2 * half))]
        if n % 2:
            head[(*lead, 0)] += x[(*lead, 2 * half)]
        x, n = head, half
    total = x[(*lead, 0)] + x[(*lead, 1)]  # the last level: s_0 + s_1 (+ s_2 for n = 3)
    if n == 3:
        total += x[(*lead, 2)]
    return total


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """sum_k a_k b_k along the last axis (broadcasting); a float for two vectors."""
    result = ordered_sum(np.multiply(a, b, dtype=np.float64), axis=-1)
    return float(result) if result.ndim == 0 else result


def matvec(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A x for A (..., m, d) and x (..., d): (..., m), stacks broadcast."""
    x = np.asarray(x, dtype=np.float64)
    return ordered_sum(A * x[..., None, :], axis=-1)


def rmatvec(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A^T y for A (..., m, d) and y (..., m): (..., d), stacks broadcast."""
    y = np.asarray(y, dtype=np.float64)
    return ordered_sum(A * y[..., :, None], axis=-2)


BLOCK_ELEMENTS = 1 << 16  # products held at a time by the products below (512 KiB: in cache)


def matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A B for A (m, k) and B (k, p): (m, p). Entry (i, j) is the ordered sum of
    A_il B_lj over l, with l the last, contiguous axis of the products (numpy's pairwise
    summation past :data:`TREE_MAX` terms); a block of A's rows at a time (memory
    O(BLOCK_ELEMENTS + m p))."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    B_columns = np.ascontiguousarray(np.asarray(B, dtype=np.float64).T)  # (p, k)
    out = np.empty((A.shape[0], B_columns.shape[0]))
    step = max(1, BLOCK_ELEMENTS // max(1, B_columns.size))
    for start in range(0, A.shape[0], step):
        block = A[start : start + step]
        out[start : start + step] = ordered_sum(block[:, None, :] * B_columns[None], axis=-1)
    return out


def gram(A: np.ndarray) -> np.ndarray:
    """A^T A for A (m, k): (k, k), bit for bit ``matmul(A.T, A)`` at about half its cost.

    Entry (i, j) is the ordered sum over l of A_li A_lj; the products of (j, i) are the same
    numbers (IEEE multiplication is commutative) summed in the same order, so only the entries
    with j >= i are computed, a block of rows at a time, and the rest are mirrored."""
    columns = np.ascontiguousarray(np.asarray(A, dtype=np.float64).T)  # (k, m)
    k = columns.shape[0]
    out = np.empty((k, k))
    step = max(1, BLOCK_ELEMENTS // max(1, columns.size))
    for start in range(0, k, step):
        block = columns[start : start + step]
        out[start : start + step, start:] = ordered_sum(
            block[:, None, :] * columns[None, start:], axis=-1
        )
    lower = np.tril_indices(k, -1)
    out[lower] = out.T[lower]
    return out


def stacked_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A_b B_b for stacks A (b, m, k) and B (b, k, p): (b, m, p), each product bit for bit
    :func:`matmul` of its pair (the same products, summed over k in the same order), a block of
    the stack at a time."""
    A = np.asarray(A, dtype=np.float64)
    B_columns = np.ascontiguousarray(np.swapaxes(np.asarray(B, dtype=np.float64), 1, 2))
    out = np.empty((A.shape[0], A.shape[1], B_columns.shape[1]))
    per_pair = max(1, A.shape[1] * B_columns.shape[1] * B_columns.shape[2])
    step = max(1, BLOCK_ELEMENTS // per_pair)
    for start in range(0, A.shape[0], step):
        stop = start + step
        products = A[start:stop, :, None, :] * B_columns[start:stop, None, :, :]
        out[start:stop] = ordered_sum(products, axis=-1)
    return out


def blocked_matvec(M: np.ndarray, points: np.ndarray) -> np.ndarray:
    """M x for one matrix M (m, d) and many points (k, d): (k, m), a block of points at a
    time (the same bits as :func:`matvec`, memory O(BLOCK_ELEMENTS + k m))."""
    points = np.asarray(points, dtype=np.float64)
    out = np.empty((points.shape[0], M.shape[0]))
    step = max(1, BLOCK_ELEMENTS // max(1, M.size))
    for start in range(0, points.shape[0], step):
        out[start : start + step] = matvec(M, points[start : start + step])
    return out


def row_norms(rows: np.ndarray) -> np.ndarray:
    """||row||_2 along the last axis: sqrt(ordered_sum(row * row)). Overflows to inf for
    entries beyond ~1e154 (:func:`netsim.norms.scaled_row_norms` scales first).

    A large array goes a block of rows at a time, its squares kept in cache. Many short rows
    (:data:`SLAB_TERMS` terms, :data:`SLAB_ROWS` rows and up) have each block's squares
    written a slab per column and summed slab by slab in numpy's own order
    (:func:`_pairwise_leading`) instead of one short reduction loop per row: the same bits."""
    rows = np.asarray(rows, dtype=np.float64)
    terms = rows.shape[-1] if rows.ndim else 0
    slabs = SLAB_TERMS[0] <= terms <= SLAB_TERMS[1] and rows.size >= SLAB_ROWS * terms
    if rows.ndim < 2 or (rows.size <= 2 * CACHE_ELEMENTS and not slabs):
        return np.sqrt(ordered_sum(rows * rows, axis=-1))
    flat = rows.reshape(-1, terms)
    sums = np.empty(len(flat))
    step = SLAB_ROWS if slabs else max(1, CACHE_ELEMENTS // max(1, terms))
    for start in range(0, len(flat), step):
        block = flat[start : start + step]
        if slabs:
            squares = np.empty(block.T.shape)
            np.multiply(block.T, block.T, out=squares)
            sums[start : start + step] = _pairwise_leading(squares)
        else:
            sums[start : start + step] = ordered_sum(block * block, axis=-1)
    return np.sqrt(sums).reshape(rows.shape[:-1])


def _last_outermost(x: np.ndarray) -> bool:
    """Whether ``x``'s last axis is its outermost in memory and the others are in C order:
    ``np.moveaxis(x, -1, 0)`` is C-contiguous (the layout :func:`ordered_sum` sums along the
    last axis slab by slab). From the strides: a C-contiguous array answers in one test."""
    if x.ndim < 2 or x.flags.c_contiguous:
        return False
    expected = x.itemsize
    for axis in range(x.ndim - 2, -1, -1):  # the leading axes, innermost first
        if x.shape[axis] > 1 and x.strides[axis] != expected:
            return False
        expected *= x.shape[axis]
    return x.shape[-1] <= 1 or x.strides[-1] == expected


def norm(vector: np.ndarray) -> float:
    """||vector||_2 of a 1-d array, as :func:`row_norms`."""
    return float(row_norms(vector))


@dataclass(frozen=True)
class _QR:
    """What :func:`_householder` returns: column j of M P is column ``order[j]`` of M;
    ``r_columns`` (k, r) = R^T, R (r, k) upper trapezoidal; ``qt_rhs`` (p, r): the first r
    entries of Q^T applied to each right-hand side; ``reflectors``: (v, tau) per step."""

    order: np.ndarray
    r_columns: np.ndarray
    qt_rhs: np.ndarray
    reflectors: list[tuple[np.ndarray, float]]

    def expand(self, z: np.ndarray) -> np.ndarray:
        """Q [z; 0] for each row z of ``z`` (p, r): (p, m), the reflections in reverse order."""
        m = len(self.reflectors[0][0]) if self.reflectors else z.shape[1]
        out = np.zeros((z.shape[0], m))
        out[:, : z.shape[1]] = z
        for i in range(len(self.reflectors) - 1, -1, -1):
            v, tau = self.reflectors[i]
            block = out[:, i:]
            block -= (tau * _last_sum(block * v))[:, None] * v[None, :]  # matvec(block, v)
        return out


def _householder(columns: np.ndarray, rhs: np.ndarray, tolerance: float | None) -> _QR:
    """Householder QR of M = ``columns``.T (m, k), with Q^T applied to R = ``rhs``.T (m, p).

    Both are passed as rows (a column of M is a row of ``columns``: contiguous, so each
    reflection is a row-wise ordered dot product). Step i reflects the trailing column block by
    H = I - tau v v^T, v = x - alpha e_1, alpha = -sign(x_1) ||x|| (sign(0) = +), tau =
    1 / (||x|| (||x|| + |x_1|)) = 2 / v^T v, x the pivot column below row i. With a
    ``tolerance``, the remaining column of largest norm is the pivot (column pivoting; the
    first of equal norms) and the factorization stops when no remaining column is longer than
    the tolerance: r steps, M P = Q [R; 0] with |R_ii| > tolerance. Without one, columns are
    taken in order and it stops at the first column that is exactly in the span of the earlier
    ones.
    """
    k, m = np.shape(columns)
    # C's rows, then Y's, in one C-ordered array: a step reflects the trailing rows of C and
    # every row of Y in one operation (each row on its own: the same bits as two)
    both = np.empty((k + len(rhs), m))
    both[:k] = columns
    both[k:] = rhs
    C, Y = both[:k], both[k:]
    order = np.arange(k)
    reflectors: list[tuple[np.ndarray, float]] = []
    for i in range(min(k, m)):
        if tolerance is None:
            size = math.sqrt(_last_sum(C[i, i:] * C[i, i:]))  # norm(C[i, i:])
            if not size > 0.0:
                break
        else:
            norms = row_norms(C[i:, i:])
            pivot = i + int(norms.argmax())  # first of equal norms: a fixed choice
            size = float(norms[pivot - i])
            if not size > tolerance:
                break
            if pivot != i:  # swap two rows (copies of whole rows: cheaper than fancy indexing)
                row = C[i].copy()
                C[i] = C[pivot]
                C[pivot] = row
                order[i], order[pivot] = order[pivot], order[i]
        v = C[i, i:].copy()
        head = float(v[0])
        alpha = -size if head >= 0.0 else size
        v[0] = head - alpha
        tau = 1.0 / (size * (size + abs(head)))
        block = both[i + 1 :, i:]  # C's rows below i and Y's
        if len(block):
            block -= (tau * _last_sum(block * v))[:, None] * v[None, :]  # matvec(block, v)
        C[i, i] = alpha
        C[i, i + 1 :] = 0.0
        reflectors.append((v, tau))
    rank = len(reflectors)
    return _QR(order, C[:, :rank].copy(), Y[:, :rank].copy(), reflectors)


def _substitute(T: np.ndarray, y: np.ndarray, lower: bool) -> np.ndarray:
    """z with T z_c = y_c for each row y_c of ``y`` (p, r), T (r, r) triangular with a non-zero
    diagonal: forward (``lower``) or back substitution, each inner sum ordered."""
    z = np.zeros_like(y)
    r = T.shape[0]
    for i in range(r) if lower else range(r - 1, -1, -1):
        known = slice(0, i) if lower else slice(i + 1, r)
        z[:, i] = (y[:, i] - _last_sum(T[i, known] * z[:, known])) / T[i, i]
    return z


def _minimum_norm(A: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X (p, d) with X_c = A^+ rhs_c for each row rhs_c of ``rhs`` (p, m), and an orthonormal
    basis (r, d) of A's row space (the identity when r = d). See :func:`pseudo_inverse`."""
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    m, d = A.shape
    if not np.all(np.isfinite(A)):
        raise ValueError("pseudo_inverse: the matrix has a non-finite entry")
    scale = float(np.max(np.abs(A))) if A.size else 0.0
    if scale == 0.0:
        return np.zeros((len(rhs), d)), np.zeros((0, d))
    scaled = A / scale  # entries in [-1, 1]: nothing below overflows or underflows early
    first = _householder(scaled.T, rhs, max(m, d) * EPS * norm(scaled.reshape(-1)))
    R = first.r_columns.T  # (r, d), columns in first.order
    X = np.empty((len(rhs), d))
    if len(R) == d:  # full column rank: A P = Q R, R square
        X[:, first.order] = _substitute(R, first.qt_rhs, lower=False)
        with np.errstate(over="ignore"):  # 1 / tiny: inf, for the caller to refuse
            return X / scale, np.eye(d)
    second = _householder(R, np.zeros((0, d)), None)  # R^T = Z [T; 0]
    rank = len(second.reflectors)  # < len(R) only if R lost rank to rounding: drop the rest
    T_transposed = second.r_columns[:rank]  # (r, r) lower triangular
    z = _substitute(T_transposed, first.qt_rhs[:, :rank], lower=True)
    # Z_1 z for the solutions and Z_1 I for the basis in one pass over the reflections (each
    # row is reflected on its own: the same bits as two passes)
    expanded = second.expand(np.vstack([z, np.eye(rank)]))
    X[:, first.order] = expanded[: len(z)]
    basis = np.empty((rank, d))
    basis[:, first.order] = expanded[len(z) :]
    with np.errstate(over="ignore"):
        return X / scale, basis


def pseudo_inverse(A: np.ndarray) -> np.ndarray:
    """The Moore-Penrose pseudo-inverse A^+ (d, m) of A (m, d), in fixed-order arithmetic.

    A complete orthogonal decomposition by Householder reflections instead of LAPACK's SVD:
    QR with column pivoting, A P = Q_1 R (rank r: the pivots above the tolerance
    max(m, d) eps ||A||_F, numpy's default relative tolerance), and, when r < d, a second
    QR R^T = Z_1 T, so that A = Q_1 T^T (P Z_1)^T and A^+ = P Z_1 T^-T Q_1^T (when r = d,
    A^+ = P R^-1 Q_1^T). Agrees with ``numpy.linalg.pinv`` to rounding for matrices whose rank
    is clear (tests/test_portable.py); a singular value within the tolerance of zero may be
    kept by one and dropped by the other.
    """
    A = np.atleast_2d(np.asarray(A, dtype=np.float64))
    return _minimum_norm(A, np.eye(A.shape[0]))[0].T.copy()


def least_squares(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The minimum-norm least-squares solution x = A^+ B of A x = B, and an orthonormal basis
    (r, d) of A's row space (the identity when A has full column rank; the projector onto the
    row space is basis^T basis), without forming A^+."""
    X, basis = _minimum_norm(A, np.asarray(B, dtype=np.float64).reshape(1, -1))
    return X[0], basis


def solve(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with M x = b for a square M (k, k) and b (k,) or (k, p), by Gaussian elimination with
    partial pivoting (the first row of largest |entry| in the column). Raises
    ``numpy.linalg.LinAlgError`` when a pivot is 0 or non-finite (M singular)."""
    M = np.array(M, dtype=np.float64)
    x = np.array(b, dtype=np.float64)
    vector = x.ndim == 1
    if vector:
        x = x[:, None]
    k = M.shape[0]
    if M.shape != (k, k) or x.shape[0] != k:
        raise ValueError(f"solve: shapes {M.shape} and {np.shape(b)} do not match")
    for column in range(k):
        pivot = column + int(np.argmax(np.abs(M[column:, column])))
        if not (np.isfinite(M[pivot, column]) and M[pivot, column] != 0.0):
            raise np.linalg.LinAlgError("Singular matrix")
        if pivot != column:
            M[[column, pivot]] = M[[pivot, column]]
            x[[column, pivot]] = x[[pivot, column]]
        factors = M[column + 1 :, column] / M[column, column]
        M[column + 1 :, column:] -= factors[:, None] * M[column, column:][None, :]
        x[column + 1 :] -= factors[:, None] * x[column][None, :]
    for row in range(k - 1, -1, -1):
        if row + 1 < k:
            x[row] = x[row] - ordered_sum(M[row, row + 1 :, None] * x[row + 1 :], axis=0)
        x[row] = x[row] / M[row, row]
    return x[:, 0] if vector else x


def symmetric_eigenvalues(S: np.ndarray) -> np.ndarray:
    """Every eigenvalue of a symmetric matrix S (k, k), ascending (:class:`Spectrum`)."""
    spectrum = Spectrum(S)
    return np.array([spectrum.eigenvalue(i) for i in range(spectrum.size)])


class Spectra:
    """The eigenvalues of a stack of symmetric matrices (b, k, k), by position, all at once.

    Householder reduction of each matrix to a tridiagonal T = Q^T S Q (Golub & Van Loan, Matrix
    Computations, Alg. 8.3.1: k - 2 reflections, each applied as S <- S - v w^T - w v^T with
    fixed-order products), then bisection on Sturm counts (Alg. 8.4.1): the number of negative
    pivots of the LDL^T factorization of T - sigma I is the number of eigenvalues below sigma.
    The bisection runs on the whole stack at once, each matrix with its own interval (a matrix
    whose interval has converged is left alone), so a matrix gives the same bits alone or in a
    stack. It stops when an interval is below 2 eps max|Gershgorin bound|, the accuracy the
    reduction leaves (backward stable: absolute error a small multiple of eps ||S||). 2 x 2
    matrices (the Gram matrix of a two-row cost) use the closed form instead. Only
    + - * / and sqrt, elementwise or in fixed-order sums: the same bits on every CPU.
    """

    def __init__(self, stack: np.ndarray):
        stack = np.array(stack, dtype=np.float64)
        if stack.ndim != 3 or stack.shape[1] != stack.shape[2] or stack.shape[2] == 0:
            raise ValueError(f"symmetric eigenvalues: not square matrices, shape {stack.shape}")
        if not np.all(np.isfinite(stack)):
            raise ValueError("symmetric eigenvalues: a matrix has a non-finite entry")
        self.count, self.size = stack.shape[0], stack.shape[1]
        stack = (stack + np.swapaxes(stack, 1, 2)) / 2
        if self.size <= 2:  # already tridiagonal: no reflection to apply
            self._diagonal = np.diagonal(stack, axis1=1, axis2=2).copy()
            off = stack[:, 1:, 0].copy() if self.size == 2 else np.zeros((self.count, 0))
        else:
            parts = [_tridiagonal(S) for S in stack]
            self._diagonal = np.array([d for d, _ in parts])
            off = np.array([e for _, e in parts])
        self._off = off
        self._squares = off * off
        zero = np.zeros((self.count, 1))
        radius = np.abs(np.hstack([zero, off])) + np.abs(np.hstack([off, zero]))
        self.low = np.min(self._diagonal - radius, axis=1)  # Gershgorin: each spectrum inside
        self.high = np.max(self._diagonal + radius, axis=1)
        width = np.maximum(np.abs(self.low), np.abs(self.high))
        self.tolerance = 2.0 * EPS * width
        self._pivot_floor = EPS * EPS * np.maximum(width, 1e-300)  # a zero pivot goes here
        self._is_diagonal = ~np.any(self._squares != 0.0, axis=1)
        self._lists: tuple[list, list] | None = None  # the same, as Python floats (_count_one)

    def count_below(self, sigma: np.ndarray | float) -> np.ndarray:
        """For each matrix, the number of its eigenvalues below its ``sigma`` (Sturm: the
        negative pivots of T - sigma I, q_0 = d_0 - sigma, q_i = d_i - sigma - e_i^2 / q_{i-1})."""
        sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (self.count,))
        if self.count <= SCALAR_STACK:  # per-step numpy calls would cost more than the maths
            return np.array([self._count_one(b, float(sigma[b])) for b in range(self.count)])
        count = np.zeros(self.count, dtype=np.int64)
        q = np.ones(self.count)  # the previous pivot
        for i in range(self.size):
            shifted = self._diagonal[:, i] - sigma
            q = shifted - self._squares[:, i - 1] / q if i else shifted
            q = np.where(q == 0.0, -self._pivot_floor, q)
            count += q < 0.0
        return count

    def _count_one(self, b: int, sigma: float) -> int:
        """:meth:`count_below` of matrix ``b`` in Python floats: the same IEEE operations in the
        same order, so the same bits (tested), without numpy's per-call cost."""
        if self._lists is None:
            self._lists = (self._diagonal.tolist(), self._squares.tolist())
        diagonal, squares = self._lists[0][b], self._lists[1][b]
        floor = float(self._pivot_floor[b])
        q = diagonal[0] - sigma
        if q == 0.0:
            q = -floor
        count = 1 if q < 0.0 else 0
        for d, square in zip(diagonal[1:], squares):  # square: e_i^2, i = 1, 2, ...
            q = (d - sigma) - square / q
            if q == 0.0:
                q = -floor
            if q < 0.0:
                count += 1
        return count

    def eigenvalues(self, index: int) -> np.ndarray:
        """The eigenvalue at position ``index`` in ascending order (0: the smallest) of each
        matrix."""
        if not 0 <= index < self.size:
            raise IndexError(f"eigenvalue {index} of a {self.size} x {self.size} matrix")
        exact = np.sort(self._diagonal, axis=1)[:, index]  # T diagonal: its entries, exactly
        if self.size == 2:
            return np.where(self._is_diagonal, exact, self._two_by_two(index))
        if self.count <= SCALAR_STACK:  # per-step numpy calls would cost more than the maths
            found = np.array([self._bisect_one(b, index) for b in range(self.count)])
            return np.where(self._is_diagonal, exact, found)
        lower, upper = self.low.copy(), self.high.copy()
        active = (upper - lower > self.tolerance) & ~self._is_diagonal
        while np.any(active):
            middle = lower + (upper - lower) / 2.0
            more = self.count_below(middle) > index
            upper = np.where(active & more, middle, upper)
            lower = np.where(active & ~more, middle, lower)
            active &= upper - lower > self.tolerance
        found = lower + (upper - lower) / 2.0
        return np.where(self._is_diagonal, exact, found)

    def _bisect_one(self, b: int, index: int) -> float:
        """:meth:`eigenvalues` of matrix ``b`` in Python floats: the same IEEE operations in the
        same order as the stacked bisection, so the same bits (tested)."""
        lower, upper = float(self.low[b]), float(self.high[b])
        tolerance = float(self.tolerance[b])
        while upper - lower > tolerance:
            middle = lower + (upper - lower) / 2.0
            if self._count_one(b, middle) > index:
                upper = middle
            else:
                lower = middle
        return lower + (upper - lower) / 2.0

    def _two_by_two(self, index: int) -> np.ndarray:
        """The eigenvalues of [[a, b], [b, c]] in closed form: (a + c)/2 -+ r, with
        r = sqrt(((a - c)/2)^2 + b^2) computed from scaled terms (no overflow or underflow
        on the way). Absolute error a few eps max(|a|, |b|, |c|), as the bisection's."""
        a, c, b = self._diagonal[:, 0], self._diagonal[:, 1], self._off[:, 0]
        half = a / 2.0 - c / 2.0
        scale = np.maximum(np.abs(half), np.abs(b))
        unit = np.where(scale > 0.0, scale, 1.0)
        half_scaled, b_scaled = half / unit, b / unit
        radius = scale * np.sqrt(half_scaled * half_scaled + b_scaled * b_scaled)
        mean = a / 2.0 + c / 2.0
        return mean - radius if index == 0 else mean + radius


class Spectrum:
    """The eigenvalues of one symmetric matrix S (k, k), one at a time, on demand
    (:class:`Spectra` of a stack of one: the same bits as in any stack)."""

    def __init__(self, S: np.ndarray):
        S = np.asarray(S, dtype=np.float64)
        if S.ndim != 2:
            raise ValueError(f"symmetric eigenvalues: not a square matrix, shape {S.shape}")
        self._spectra = Spectra(S[None])
        self.size = self._spectra.size

    def count_below(self, sigma: float) -> int:
        """The number of eigenvalues below ``sigma``."""
        return int(self._spectra.count_below(sigma)[0])

    def eigenvalue(self, index: int) -> float:
        """The eigenvalue at position ``index`` in ascending order (0: the smallest)."""
        return float(self._spectra.eigenvalues(index)[0])


def _tridiagonal(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The diagonal and sub-diagonal of a tridiagonal matrix similar to S (Householder), S
    exactly symmetric (:class:`Spectra` makes it so)."""
    S = S.copy()
    k = S.shape[0]
    for j in range(k - 2):
        # norm, dot and matvec written out on their contiguous products (_last_sum): the same
        # sums, without the wrappers' checks, ~100 times per matrix
        x = S[j, j + 1 :]  # = S[j + 1 :, j]: S stays exactly symmetric (see below); contiguous
        alpha = math.sqrt(_last_sum(x * x))
        if alpha == 0.0 or not np.count_nonzero(x[1:]):  # (-0.0 counts as zero, NaN not)
            continue  # this column is already tridiagonal
        v = x.copy()
        v[0] += math.copysign(alpha, x[0])
        beta = 2.0 / float(_last_sum(v * v))
        block = S[j + 1 :, j + 1 :]
        p = beta * _last_sum(block * v)
        w = p - (beta / 2.0 * float(_last_sum(v * p))) * v
        # v w^T + w v^T as U + U^T with U = v w^T: entry (a, b) is v_a w_b + w_a v_b either
        # way (the same two products, added in the same order), one outer product fewer
        outer = np.multiply.outer(v, w)
        block -= outer + outer.T
        # the sub-diagonal entry this step leaves (row and column j are not read again: the
        # zeros below it and their mirror images are not written)
        S[j + 1, j] = -math.copysign(alpha, x[0])
    return np.diag(S).copy(), np.diag(S, -1).copy()


# fdlibm e_log.c (Sun Microsystems, 1993): log(1 + f) on sqrt(2)/2 < 1 + f < sqrt(2) from
# s = f / (2 + f) and R(s^2), error < 1 ulp.
_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)
_TWO54 = 1.80143985094819840000e16
_SMALLEST_NORMAL = 2.2250738585072014e-308


def log(x: np.ndarray | float) -> np.ndarray:
    """The natural logarithm element-wise, the same bits on every CPU (``np.log`` is
    SIMD-dispatched).

    fdlibm's algorithm: x = 2^k (1 + f) with sqrt(2)/2 < 1 + f < sqrt(2) (exact, on the bits);
    s = f / (2 + f), R = s^2 (Lg1 + s^2 (Lg2 + ...)) (two interleaved polynomials in s^4);
    log x = k ln2_hi - ((f^2/2 - (s (f^2/2 + R) + k ln2_lo)) - f), and e_log.c's other forms
    for 1 + f near 1 and for |f| < 2^-20. (e_log.c writes k = 0 separately, to save work; with
    k = 0 the general form gives the same bits.) Error below 1 ulp (tests/test_portable.py
    holds it against ``math.log``). log 0 = -inf, log of a negative number or NaN is NaN,
    log inf = inf. Computed in cache-sized blocks.
    """
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    out = np.empty(flat.shape)
    with np.errstate(all="ignore"):
        for start in range(0, len(flat), CACHE_ELEMENTS // 8):
            stop = start + CACHE_ELEMENTS // 8
            out[start:stop] = _log(flat[start:stop])
    return out.reshape(x.shape)


def _log(x: np.ndarray) -> np.ndarray:
    usable = None  # every entry a positive normal float: the common case, no fix-up below
    if x.size and x.min() >= _SMALLEST_NORMAL and x.max() < np.inf:  # (a NaN fails both)
        bits = x.view(np.int64)
        k = (bits >> 52) - 1023  # the exponent field (the sign bit is clear)
    else:
        usable = np.isfinite(x) & (x > 0.0)
        y = np.where(usable, x, 1.0)
        subnormal = y < _SMALLEST_NORMAL
        k = np.full(len(y), -1023, dtype=np.int64)
        if subnormal.any():
            y[subnormal] *= _TWO54
            k[subnormal] -= 54
        bits = y.view(np.int64)
        k += bits >> 52
    hx = (bits >> 32) & 0x000FFFFF  # the high word's mantissa bits (y > 0: sign bit clear)
    i = (hx + 0x95F64) & 0x100000
    high = hx | (i ^ 0x3FF00000)  # normalize y or y/2 into [sqrt2/2, sqrt2)
    y = ((high << 32) | (bits & 0xFFFFFFFF)).view(np.float64)
    k += i >> 20
    f = y - 1.0
    dk = k.astype(np.float64)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    t2 = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6])))
    r = t2 + t1
    high_part, low_part = dk * _LN2_HI, dk * _LN2_LO
    result = high_part - ((s * (f - r) - low_part) - f)
    # e_log.c's f^2/2 form where the high word's mantissa bits are in [0x6147A, 0x6B851]
    # (about 4% of them): computed on those entries only
    hfsq_form = np.flatnonzero(((hx - 0x6147A) | (0x6B851 - hx)) > 0)
    if hfsq_form.size:
        fh, hfsq = f[hfsq_form], 0.5 * f[hfsq_form] * f[hfsq_form]
        correction = s[hfsq_form] * (hfsq + r[hfsq_form]) + low_part[hfsq_form]
        result[hfsq_form] = high_part[hfsq_form] - ((hfsq - correction) - fh)
    small = (0x000FFFFF & (2 + hx)) < 3  # |f| < 2^-20
    if small.any():
        fs, ks = f[small], dk[small]
        tiny_r = fs * fs * (0.5 - 0.33333333333333333 * fs)
        result[small] = np.where(
            fs == 0.0,
            ks * _LN2_HI + ks * _LN2_LO,
            ks * _LN2_HI - ((tiny_r - ks * _LN2_LO) - fs),
        )
    if usable is not None and not usable.all():
        result[x == 0.0] = -np.inf
        result[x == np.inf] = np.inf
        result[np.isnan(x) | (x < 0.0)] = np.nan
    return result


# fdlibm e_exp.c (Sun Microsystems, 1993): e^r on |r| <= ln2/2 from R(r^2), error < 1 ulp.
_LN2_HI = 6.93147180369123816490e-01  # ln 2, trailing bits zero: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_P = (
    1.66666666666666019037e-01,
    -2.77777777770155933842e-03,
    6.61375632143793436117e-05,
    -1.65339022054652515390e-06,
    4.13813679705723846039e-08,
)
_EXP_OVERFLOW = 7.09782712893383973096e02  # above: e^x > max float
_EXP_UNDERFLOW = -7.45133219101941108420e02  # below: e^x < smallest subnormal / 2


def exp(x: np.ndarray | float) -> np.ndarray:
    """e^x element-wise, the same bits on every CPU (``np.exp`` is SIMD-dispatched).

    fdlibm's algorithm: k = rint(x / ln 2), r = hi - lo with hi = x - k ln2_hi, lo = k ln2_lo;
    c = r - r^2 (P1 + r^2 (P2 + ...)); e^r = 1 - ((lo - r c / (2 - c)) - hi); e^x = 2^k e^r.
    Error below 1 ulp (tests/test_portable.py holds it against ``math.exp``). NaN stays NaN,
    +inf gives inf, -inf gives 0.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        return _exp(x)


def _exp(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    safe = np.where(finite, np.clip(x, -746.0, 710.0), 0.0)
    k = np.rint(safe * _INV_LN2)
    hi = safe - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    poly = _P[4]
    for coefficient in _P[3::-1]:
        poly = coefficient + t * poly
    c = r - t * poly
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    result = np.ldexp(y, k.astype(np.int64))  # exact, or one rounding into the subnormals
    result = np.where(safe > _EXP_OVERFLOW, np.inf, result)
    result = np.where(safe < _EXP_UNDERFLOW, 0.0, result)
    result = np.where(finite, result, np.where(np.isnan(x), np.nan, np.where(x > 0, np.inf, 0.0)))
    return result
