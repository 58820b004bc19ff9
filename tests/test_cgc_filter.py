"""CGC filter (CGC paper, Eq. 16; spec/cgc.md, S2) and the overflow-safe row norms it sorts by.

Eq. 16: sort the n gradients by norm, ties by sender id, ||g_{i_1}|| <= ... <= ||g_{i_n}||;
threshold = ||g_{i_{n-f}}|| (the (f+1)-th largest); the f largest are scaled to the threshold
norm, g_hat_j = (threshold / ||g_j||) g_j, every other gradient is kept as it is.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from netsim.filters import GRADIENT_FILTERS, comparative_gradient_clipping
from netsim.norms import column_sums, norm_keys, scaled_row_norms
from netsim.portable import ordered_sum

EPS = np.finfo(np.float64).eps
# Relative error allowed between a norm netsim computes and one the test computes. The clipped
# row is g * (threshold / ||g||): the norm inside netsim (s ||g / s||, s = max |g_k|) has a
# relative error of at most about (d/2 + 3) eps for d <= 4 (one division and one multiplication
# per entry, d - 1 additions of squares, a square root, the final product), the division
# threshold / ||g|| one more eps, the product with g one more per entry, and the test's own
# np.linalg.norm about (d/2 + 1) eps: ~ 12 eps in all for d = 4. 32 eps leaves a margin and is
# still ~7e-15, far below any error a wrong scale factor would make.
NORM_RTOL = 32 * EPS

settings_fast = settings(max_examples=60, deadline=None)


def norms(rows: np.ndarray) -> np.ndarray:
    """The test's own row norms (plain numpy; the inputs below never overflow it)."""
    return np.linalg.norm(np.asarray(rows, dtype=np.float64), axis=1)


# --- strategies -------------------------------------------------------------------------------

# Entries are either small integers (many exact ties and zero gradients, so threshold-0 and tie
# cases come up often) or well-scaled floats: 0 or a magnitude in [1e-100, 1e100]. The second
# range keeps threshold / ||g|| >= 1e-200 / 2, a normal float, so the clipping factor is not a
# subnormal; the extremes (1e308 entries) have their own deterministic tests below.
small_integers = st.integers(-3, 3).map(float)
well_scaled = st.builds(
    lambda sign, magnitude: sign * magnitude,
    st.sampled_from([-1.0, 1.0]),
    st.floats(min_value=1e-100, max_value=1e100, allow_subnormal=False),
)


@st.composite
def gradient_sets(draw, min_f: int = 0):
    """(gradients (n, d), f with min_f <= f < n, distinct sender ids in any order)."""
    n = draw(st.integers(min_f + 1, 7))
    d = draw(st.integers(1, 4))
    elements = draw(st.sampled_from([small_integers, well_scaled, small_integers | well_scaled]))
    gradients = draw(hnp.arrays(np.float64, (n, d), elements=elements))
    f = draw(st.integers(min_f, n - 1))
    senders = np.array(draw(st.lists(st.integers(0, 100), min_size=n, max_size=n, unique=True)))
    return gradients, f, senders


def reference_cgc(gradients: np.ndarray, f: int, senders: np.ndarray) -> np.ndarray:
    """Eq. 16 written out directly, one gradient at a time (plain numpy norms)."""
    n = len(gradients)
    norm = norms(gradients)
    order = sorted(range(n), key=lambda j: (norm[j], senders[j]))
    threshold = norm[order[n - f - 1]]
    out = gradients.copy()
    for j in order[n - f :]:
        if norm[j] > 0:
            out[j] = gradients[j] * (threshold / norm[j])
    return out


# --- hand cases -------------------------------------------------------------------------------


def test_cgc_clips_the_largest_to_the_second_largest_norm_with_f_1():
    # Norms 5, 1, 2, 10. Sorted: 1, 2, 5, 10; n - f = 3rd smallest = 5 is the threshold.
    # The largest, (6, 8), is scaled by 5/10 to (3, 4); the others are kept.
    gradients = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [6.0, 8.0]])
    result = comparative_gradient_clipping(gradients, 1)
    assert result.threshold == 5.0
    assert result.clipped.tolist() == [False, False, False, True]
    np.testing.assert_allclose(
        result.gradients, [[3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [3.0, 4.0]], rtol=4 * EPS
    )
    # Eq. 17's direction: (3 + 1 + 0 + 3, 4 + 0 + 2 + 4) = (7, 10).
    np.testing.assert_allclose(result.total, [7.0, 10.0], rtol=4 * EPS)


def test_cgc_clips_the_two_largest_to_the_third_largest_norm_with_f_2():
    # Same norms 5, 1, 2, 10; n - f = 2nd smallest = 2. (3, 4) * 2/5 = (1.2, 1.6) and
    # (6, 8) * 2/10 = (1.2, 1.6); total (1.2 + 1 + 0 + 1.2, 1.6 + 0 + 2 + 1.6) = (3.4, 5.2).
    gradients = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [6.0, 8.0]])
    result = comparative_gradient_clipping(gradients, 2)
    assert result.threshold == 2.0
    assert result.clipped.tolist() == [True, False, False, True]
    np.testing.assert_allclose(
        result.gradients, [[1.2, 1.6], [1.0, 0.0], [0.0, 2.0], [1.2, 1.6]], rtol=4 * EPS
    )
    np.testing.assert_allclose(result.total, [3.4, 5.2], rtol=4 * EPS)


def test_cgc_with_f_n_minus_1_clips_everything_to_the_smallest_norm():
    # n = 4, f = 3: the threshold is the smallest norm, 1. (3, 4) -> (0.6, 0.8),
    # (0, 2) -> (0, 1), (6, 8) -> (0.6, 0.8); (1, 0) is the smallest and stays.
    gradients = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [6.0, 8.0]])
    result = comparative_gradient_clipping(gradients, 3)
    assert result.threshold == 1.0
    assert result.clipped.tolist() == [True, False, True, True]
    np.testing.assert_allclose(
        result.gradients, [[0.6, 0.8], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], rtol=4 * EPS
    )


def test_cgc_reads_rows_in_sender_order_not_row_order():
    # The same four gradients as above, rows shuffled, senders naming who sent each row.
    # Sender 3 sent (6, 8): it is the one clipped to (3, 4), wherever its row is.
    gradients = np.array([[6.0, 8.0], [0.0, 2.0], [3.0, 4.0], [1.0, 0.0]])
    senders = np.array([3, 2, 0, 1])
    result = comparative_gradient_clipping(gradients, 1, senders)
    assert result.threshold == 5.0
    assert result.clipped.tolist() == [True, False, False, False]
    np.testing.assert_allclose(result.gradients[0], [3.0, 4.0], rtol=4 * EPS)


@pytest.mark.parametrize("senders", [[2, 0, 1, 3], [0, 1, 2, 3], [1, 2, 0, 3], [3, 2, 1, 0]])
def test_cgc_tie_at_the_threshold_leaves_every_tied_row_unchanged(senders):
    # Norms 5, 5, 5, 1 (the 5s are exact: 4 * ||(0.75, 1)|| = 4 * 1.25). n = 4, f = 2:
    # sorted 1, 5, 5, 5 and the threshold is 5. Whichever tied sender the id order puts in the
    # top f, its norm is not above the threshold: scaling by 5/5 = 1 changes nothing, and the
    # row must not be reported as clipped.
    gradients = np.array([[3.0, 4.0], [0.0, 5.0], [5.0, 0.0], [1.0, 0.0]])
    result = comparative_gradient_clipping(gradients, 2, np.array(senders))
    assert result.threshold == 5.0
    assert not result.clipped.any()
    np.testing.assert_array_equal(result.gradients, gradients)


def test_cgc_tie_above_the_threshold_clips_every_tied_row():
    # Norms 1, 2, 10, 10 with f = 2: the threshold is 2 and both 10s are scaled by 1/5, so
    # (6, 8) -> (1.2, 1.6) and (-10, 0) -> (-2, 0).
    gradients = np.array([[6.0, 8.0], [1.0, 0.0], [-10.0, 0.0], [0.0, 2.0]])
    result = comparative_gradient_clipping(gradients, 2, np.array([5, 1, 4, 9]))
    assert result.threshold == 2.0
    assert result.clipped.tolist() == [True, False, True, False]
    np.testing.assert_allclose(result.gradients[0], [1.2, 1.6], rtol=4 * EPS)
    np.testing.assert_allclose(result.gradients[2], [-2.0, 0.0], rtol=4 * EPS)


def test_cgc_keeps_zero_gradients_and_clips_to_the_smallest_non_zero_norm_above_them():
    # Norms 0, 0, 5, 1; n = 4, f = 1: sorted 0, 0, 1, 5, threshold 1. (3, 4) -> (0.6, 0.8).
    gradients = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    result = comparative_gradient_clipping(gradients, 1)
    assert result.threshold == 1.0
    assert result.clipped.tolist() == [False, False, True, False]
    np.testing.assert_allclose(
        result.gradients, [[0.0, 0.0], [0.0, 0.0], [0.6, 0.8], [0.0, 1.0]], rtol=4 * EPS
    )


def test_cgc_threshold_is_zero_when_n_minus_f_gradients_are_zero():
    # Norms 0, 0, 5, 1; n = 4, f = 2: the (n - f) = 2nd smallest norm is 0, the paper's
    # termination rule. Both non-zero gradients are scaled by 0 / ||g|| = 0, so the step is 0.
    gradients = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    result = comparative_gradient_clipping(gradients, 2)
    assert result.threshold == 0.0
    assert result.clipped.tolist() == [False, False, True, True]
    np.testing.assert_array_equal(result.gradients, np.zeros((4, 2)))
    np.testing.assert_array_equal(result.total, [0.0, 0.0])


def test_cgc_threshold_is_zero_when_more_than_n_minus_f_gradients_are_zero():
    # n = 5, f = 1, four zero gradients: the 4th smallest norm is 0.
    gradients = np.zeros((5, 3))
    gradients[2] = [1.0, -2.0, 2.0]
    result = comparative_gradient_clipping(gradients, 1)
    assert result.threshold == 0.0
    assert result.clipped.tolist() == [False, False, True, False, False]
    np.testing.assert_array_equal(result.gradients, np.zeros((5, 3)))


def test_cgc_on_all_zero_gradients_gives_zeros_and_no_nan():
    # Every norm is 0: nothing is above the threshold 0, so nothing is divided by a zero norm.
    result = comparative_gradient_clipping(np.zeros((4, 2)), 1)
    assert result.threshold == 0.0
    assert not result.clipped.any()
    np.testing.assert_array_equal(result.gradients, np.zeros((4, 2)))


def test_cgc_in_one_dimension_keeps_the_sign():
    # Values -7, 2, 3 with f = 1: norms 7, 2, 3, threshold 3; -7 -> -7 * 3/7 = -3.
    result = comparative_gradient_clipping(np.array([[-7.0], [2.0], [3.0]]), 1)
    assert result.threshold == 3.0
    np.testing.assert_allclose(result.gradients[:, 0], [-3.0, 2.0, 3.0], rtol=4 * EPS)


@pytest.mark.parametrize("threshold", [1.0, 1e-7, 1e-20])
def test_cgc_clips_a_1e308_gradient_to_the_threshold_norm(threshold):
    # A Byzantine agent may send finite entries near the float64 limit (the "huge" attack).
    # ||(1e308, 1e308)|| = sqrt(2) 1e308 is finite; two honest rows have norm `threshold`, so
    # with f = 1 the threshold is that norm and the huge row becomes
    # (threshold / sqrt(2)) (1, 1): norm `threshold`, direction (1, 1). A threshold of 1e-7 is
    # what honest gradients look like near convergence; threshold / ||g|| is then below the
    # smallest normal float (2.2e-308), which a correct implementation must not let leak into
    # the result.
    gradients = np.array([[1e308, 1e308], [threshold, 0.0], [0.0, threshold]])
    result = comparative_gradient_clipping(gradients, 1)
    assert result.threshold == threshold
    assert result.clipped.tolist() == [True, False, False]
    expected_entry = threshold / math.sqrt(2.0)
    np.testing.assert_allclose(result.gradients[0], [expected_entry, expected_entry], rtol=8 * EPS)
    assert np.linalg.norm(result.gradients[0]) == pytest.approx(threshold, rel=NORM_RTOL)


def test_cgc_does_not_modify_its_input():
    gradients = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [6.0, 8.0]])
    before = gradients.copy()
    comparative_gradient_clipping(gradients, 2)
    np.testing.assert_array_equal(gradients, before)


@pytest.mark.parametrize("f", [4, 5, -1])
def test_cgc_rejects_f_outside_0_to_n_minus_1(f):
    with pytest.raises(ValueError):
        comparative_gradient_clipping(np.ones((4, 2)), f)


def test_cgc_is_registered_as_cgc():
    assert GRADIENT_FILTERS["cgc"] is comparative_gradient_clipping


# --- properties for any input -----------------------------------------------------------------


@settings_fast
@given(gradient_sets(), st.data())
def test_cgc_result_per_sender_does_not_depend_on_row_order(case, data):
    gradients, f, senders = case
    permutation = data.draw(st.permutations(range(len(gradients))))
    base = comparative_gradient_clipping(gradients, f, senders)
    shuffled = comparative_gradient_clipping(gradients[permutation], f, senders[permutation])
    # Row k of the shuffled call is sender senders[permutation[k]]: compare sender by sender.
    assert shuffled.threshold == base.threshold
    np.testing.assert_array_equal(shuffled.clipped, base.clipped[permutation])
    np.testing.assert_array_equal(shuffled.gradients, base.gradients[permutation])


@settings_fast
@given(gradient_sets())
def test_cgc_with_f_0_returns_the_input_and_the_plain_sum(case):
    gradients, _, senders = case
    result = comparative_gradient_clipping(gradients, 0, senders)
    assert not result.clipped.any()
    np.testing.assert_array_equal(result.gradients, gradients)
    # The plain sum, in the fixed order every engine uses, and within rounding of the exact sum.
    np.testing.assert_array_equal(result.total, ordered_sum(gradients, axis=0))
    exact = np.array([math.fsum(column) for column in gradients.T])
    scale = np.abs(gradients).sum(axis=0)
    assert np.all(np.abs(result.total - exact) <= 4 * len(gradients) * EPS * scale)
    # The threshold is then the largest norm.
    assert result.threshold == pytest.approx(norms(gradients).max(), rel=NORM_RTOL)


@settings_fast
@given(gradient_sets())
def test_cgc_threshold_is_the_norm_of_the_n_minus_f_th_smallest(case):
    gradients, f, senders = case
    n = len(gradients)
    # The order statistic's value does not depend on how ties are broken.
    expected = np.sort(norms(gradients))[n - f - 1]
    assert comparative_gradient_clipping(gradients, f, senders).threshold == pytest.approx(
        expected, rel=NORM_RTOL
    )


@settings_fast
@given(gradient_sets())
def test_cgc_clipped_rows_have_the_threshold_norm_and_their_own_direction(case):
    gradients, f, senders = case
    result = comparative_gradient_clipping(gradients, f, senders)
    threshold = result.threshold
    assert result.clipped.sum() <= f
    for j in np.flatnonzero(result.clipped):
        g, g_hat = gradients[j], result.gradients[j]
        assert np.linalg.norm(g_hat) == pytest.approx(threshold, rel=NORM_RTOL, abs=0.0)
        if threshold > 0:
            # A positive multiple of g: the unit vectors agree (to rounding of two norms).
            unit, unit_hat = g / np.linalg.norm(g), g_hat / np.linalg.norm(g_hat)
            np.testing.assert_allclose(unit_hat, unit, rtol=0, atol=NORM_RTOL)
            assert g_hat @ g > 0
        else:
            np.testing.assert_array_equal(g_hat, np.zeros_like(g))


@settings_fast
@given(gradient_sets())
def test_cgc_unclipped_rows_are_bit_identical_to_the_input(case):
    gradients, f, senders = case
    result = comparative_gradient_clipping(gradients, f, senders)
    kept = ~result.clipped
    np.testing.assert_array_equal(result.gradients[kept], gradients[kept])


@settings_fast
@given(gradient_sets())
def test_cgc_clips_exactly_the_rows_with_norm_above_the_threshold(case):
    gradients, f, senders = case
    result = comparative_gradient_clipping(gradients, f, senders)
    norm, threshold = norms(gradients), result.threshold
    # Away from the threshold (beyond rounding of the two norm computations) the answer is
    # unambiguous: clearly above -> clipped, clearly at or below -> kept.
    assert result.clipped[norm > threshold * (1 + NORM_RTOL)].all()
    assert not result.clipped[norm < threshold * (1 - NORM_RTOL)].any()
    assert not result.clipped[norm == 0].any()


@settings_fast
@given(gradient_sets())
def test_cgc_largest_output_norm_equals_the_threshold(case):
    gradients, f, senders = case
    result = comparative_gradient_clipping(gradients, f, senders)
    # The (n-f)-th smallest row is kept and has the threshold norm; every row below it is kept
    # with a smaller norm, every row above it is clipped to the threshold norm.
    assert norms(result.gradients).max() == pytest.approx(result.threshold, rel=NORM_RTOL)


@settings_fast
@given(gradient_sets())
def test_cgc_matches_eq_16_written_out(case):
    gradients, f, senders = case
    result = comparative_gradient_clipping(gradients, f, senders)
    expected = reference_cgc(gradients, f, senders)
    np.testing.assert_allclose(result.gradients, expected, rtol=NORM_RTOL, atol=0)
    # Summing n rows whose entries agree to NORM_RTOL: the totals differ by at most about
    # (NORM_RTOL + n eps) times the sum of the magnitudes.
    magnitude = np.abs(expected).sum(axis=0)
    np.testing.assert_allclose(
        result.total, expected.sum(axis=0), rtol=0, atol=(NORM_RTOL + 8 * EPS) * magnitude.max()
    )


@settings_fast
@given(gradient_sets())
def test_cgc_total_is_the_sum_of_the_clipped_gradients(case):
    gradients, f, senders = case
    result = comparative_gradient_clipping(gradients, f, senders)
    np.testing.assert_array_equal(result.total, ordered_sum(result.gradients, axis=0))


# --- scaled_row_norms -------------------------------------------------------------------------


def test_scaled_row_norms_of_small_rows_by_hand():
    # (3, 4, 0, 0) -> 5; zeros -> 0; (-1, -1, -1, -1) -> sqrt(4) = 2; (0, -2, 0, 0) -> 2.
    rows = np.array([[3.0, 4.0, 0.0, 0.0], [0.0] * 4, [-1.0] * 4, [0.0, -2.0, 0.0, 0.0]])
    np.testing.assert_allclose(scaled_row_norms(rows), [5.0, 0.0, 2.0, 2.0], rtol=2 * EPS)


def test_scaled_row_norms_is_finite_where_the_plain_norm_overflows():
    # 1e308^2 overflows, so the plain norm is inf; the true norm sqrt(2) 1e308 ~ 1.414e308 is
    # below the float64 maximum 1.798e308.
    rows = np.array([[1e308, 1e308], [-1e308, 0.0]])
    with np.errstate(over="ignore"):
        assert np.isinf(np.linalg.norm(rows[0]))
    result = scaled_row_norms(rows)
    assert np.isfinite(result).all()
    assert result[0] == pytest.approx(math.sqrt(2.0) * 1e308, rel=4 * EPS)
    assert result[1] == 1e308


def test_scaled_row_norms_does_not_underflow_tiny_rows():
    # (3e-170, 4e-170): the squares 9e-340 and 16e-340 underflow to 0 in the plain norm; the
    # true norm is 5e-170.
    rows = np.array([[3e-170, 4e-170]])
    assert np.linalg.norm(rows[0]) == 0.0
    assert scaled_row_norms(rows)[0] == pytest.approx(5e-170, rel=4 * EPS)


def test_scaled_row_norms_of_no_rows_is_empty():
    assert scaled_row_norms(np.zeros((0, 3))).shape == (0,)


@settings(max_examples=80, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=small_integers | well_scaled,
    )
)
def test_scaled_row_norms_equals_the_plain_norm_on_ordinary_rows(rows):
    # Entries up to 1e100: squares up to 1e200, no overflow, so np.linalg.norm is accurate.
    np.testing.assert_allclose(scaled_row_norms(rows), norms(rows), rtol=NORM_RTOL, atol=0)


moderate = st.builds(
    lambda sign, magnitude: sign * magnitude,
    st.sampled_from([-1.0, 1.0]),
    st.floats(min_value=1e-3, max_value=1e3),
)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, (3, 4), elements=moderate | st.just(0.0)), st.integers(900, 1000))
def test_scaled_row_norms_is_homogeneous_up_to_the_float_limit(rows, k):
    # ||2^k g|| = 2^k ||g||; with |entries| in [1e-3, 1e3] and k up to 1000 the scaled entries
    # reach ~1e304, where squaring overflows but the norm itself (<= 2 * 1e304 for d = 4) does
    # not. The test's plain norm is taken before scaling, where nothing overflows.
    scale = 2.0**k
    np.testing.assert_allclose(
        scaled_row_norms(rows * scale), scale * norms(rows), rtol=NORM_RTOL, atol=0
    )


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, (4, 3), elements=moderate | st.just(0.0)),
    st.lists(st.integers(-1000, 1000), min_size=4, max_size=4),
)
def test_norm_keys_are_exact_under_powers_of_two_at_every_magnitude(rows, shifts):
    # ||2^k g|| = 2^k ||g|| exactly in binary floating point when nothing over- or underflows,
    # so the key (exponent, mantissa) of 2^k g is that of g with k added to the exponent. With
    # |entries| in [1e-3, 1e3] and k in [-1000, 1000], some rows of one call have plain norms in
    # range (frexp of the plain norm) and others far outside it (the scaled path): both paths
    # must give the same keys, or CGC would order a huge gradient wrongly among small ones.
    exponent, mantissa = norm_keys(rows)
    shifted_exponent, shifted_mantissa = norm_keys(np.ldexp(rows, np.array(shifts)[:, None]))
    zero = mantissa == 0
    assert np.array_equal(shifted_mantissa, mantissa)
    assert np.array_equal(shifted_exponent[~zero], exponent[~zero] + np.array(shifts)[~zero])
    assert np.all(shifted_exponent[zero] == np.iinfo(np.int64).min)
    # in range at k = 0: frexp of the plain fixed-order norm
    plain_mantissa, plain_exponent = np.frexp(np.sqrt(ordered_sum(rows * rows, axis=1)))
    assert np.array_equal(mantissa, plain_mantissa)
    assert np.array_equal(exponent[~zero], plain_exponent[~zero])


def test_column_sums_are_exact_where_a_partial_sum_overflows():
    # Column 0: 1e308 + 1e308 - 1e308 = 1e308 exactly, though 1e308 + 1e308 overflows in plain
    # float64 whatever the order; column 1: 2e308 is out of range, so +inf; column 2: small
    # integers, whose sum (-4) every order computes exactly; column 3: -inf wins.
    rows = np.array(
        [
            [1e308, 1e308, 3.0, -1e308],
            [1e308, 1e308, -9.0, -1e308],
            [-1e308, 0.0, 2.0, -1e308],
        ]
    )
    assert column_sums(rows).tolist() == [1e308, np.inf, -4.0, -np.inf]


@settings_fast
@given(gradient_sets())
def test_cgc_commutes_with_an_exact_power_of_two_scaling_out_of_plain_range(case):
    # Scaling every gradient by 2^600 scales every norm by 2^600 exactly, so the order, the
    # clipped rows, the threshold and the output scale with it, bit for bit. The scaled rows'
    # squares overflow (their plain norms leave the plain range), so the filter orders them by
    # the exact keys, and the unscaled ones by their plain norms: the two orders must agree.
    gradients, f, senders = case
    scale = 2.0**600
    plain = comparative_gradient_clipping(gradients, f, senders)
    scaled = comparative_gradient_clipping(gradients * scale, f, senders)
    np.testing.assert_array_equal(scaled.clipped, plain.clipped)
    assert scaled.threshold == plain.threshold * scale
    np.testing.assert_array_equal(scaled.gradients, plain.gradients * scale)


@settings_fast
@given(gradient_sets())
def test_cgc_without_senders_ties_by_row_as_with_senders_in_row_order(case):
    gradients, f, _ = case
    by_row = comparative_gradient_clipping(gradients, f)
    ids = comparative_gradient_clipping(gradients, f, np.arange(len(gradients)))
    np.testing.assert_array_equal(by_row.clipped, ids.clipped)
    np.testing.assert_array_equal(by_row.gradients, ids.gradients)
    assert by_row.threshold == ids.threshold
