"""Peer filters: comparative elimination (CE paper, Eqs. 5-6) and the no-filter baseline."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from netsim import filters
from netsim.filters import PEER_FILTERS, comparative_elimination, keep_all, smallest_first

EPS = float(np.finfo(np.float64).eps)

# --- hand cases -------------------------------------------------------------------------------


def test_ce_drops_the_f_farthest_in_one_dimension():
    # own = 0; values 3, -1, 2 from senders 7, 2, 5: distances 3, 1, 2 -> drop 3 (sender 7).
    kept = comparative_elimination(
        np.array([0.0]), np.array([[3.0], [-1.0], [2.0]]), 1, np.array([7, 2, 5])
    )
    assert kept.tolist() == [False, True, True]


def test_ce_drops_two_farthest_in_one_dimension():
    # own = 1; values 0.5, 4, -2, 1.25 -> distances 0.5, 3, 3, 0.25. f = 2 drops both 3s.
    kept = comparative_elimination(
        np.array([1.0]), np.array([[0.5], [4.0], [-2.0], [1.25]]), 2, np.array([3, 0, 1, 2])
    )
    assert kept.tolist() == [True, False, False, True]


def test_ce_breaks_a_distance_tie_by_lower_sender_id_not_row_position():
    # own = 0; values 2, -2, 1: distances 2, 2, 1. f = 1 drops one of the two at distance 2:
    # the one with the higher sender id.
    received = np.array([[2.0], [-2.0], [1.0]])
    own = np.array([0.0])
    kept = comparative_elimination(own, received, 1, np.array([9, 4, 6]))
    assert kept.tolist() == [False, True, True]  # sender 9 (row 0) dropped
    kept = comparative_elimination(own, received, 1, np.array([4, 9, 6]))
    assert kept.tolist() == [True, False, True]  # sender 9 (row 1) dropped


def test_ce_in_two_dimensions_with_ties_and_unsorted_senders():
    # own = (1, 1). Rows and senders:
    #   row 0 (1, 2)  sender 3: diff (0, 1)   -> 1
    #   row 1 (4, 5)  sender 1: diff (3, 4)   -> 5
    #   row 2 (0, 1)  sender 0: diff (-1, 0)  -> 1
    #   row 3 (1, -1) sender 2: diff (0, -2)  -> 2
    # Sorted by (distance, sender): row 2 (1, s0), row 0 (1, s3), row 3 (2, s2), row 1 (5, s1).
    own = np.array([1.0, 1.0])
    received = np.array([[1.0, 2.0], [4.0, 5.0], [0.0, 1.0], [1.0, -1.0]])
    senders = np.array([3, 1, 0, 2])
    expected = {
        0: [True, True, True, True],
        1: [True, False, True, True],
        2: [True, False, True, False],
        3: [False, False, True, False],  # the tie at distance 1 goes to sender 0
        4: [False, False, False, False],
    }
    for f, mask in expected.items():
        assert comparative_elimination(own, received, f, senders).tolist() == mask, f


def test_ce_without_senders_breaks_ties_by_row_index():
    # own = 0; values 1, -1, 1 all at distance 1: keep the first k - f = 1 row.
    kept = comparative_elimination(np.array([0.0]), np.array([[1.0], [-1.0], [1.0]]), 2)
    assert kept.tolist() == [True, False, False]


def test_ce_eliminates_non_finite_and_overflowing_values_first():
    # ||(1e308, 1e308)|| overflows to inf in float64, so it ranks with NaN and inf.
    own = np.zeros(2)
    received = np.array(
        [[1.0, 0.0], [np.nan, 0.0], [0.0, np.inf], [1e308, 1e308], [0.0, 2.0], [-np.inf, 1.0]]
    )
    kept = comparative_elimination(own, received, 4, np.arange(6))
    assert kept.tolist() == [True, False, False, False, True, False]
    # One more elimination removes the farthest finite value, (0, 2).
    kept = comparative_elimination(own, received, 5, np.arange(6))
    assert kept.tolist() == [True, False, False, False, False, False]


def test_ce_one_dimensional_1e308_counts_as_infinitely_far():
    # In d = 1 the norm is sqrt(x^2) and (1e308)^2 overflows to inf, so 1e308 ranks as infinitely
    # far; a large finite value 1e10 (square 1e20) does not: distances 1e10, inf, 1.
    kept = comparative_elimination(
        np.array([0.0]), np.array([[1e10], [1e308], [1.0]]), 1, np.array([0, 1, 2])
    )
    assert kept.tolist() == [True, False, True]


def test_ce_rejects_a_negative_f():
    with pytest.raises(ValueError):
        comparative_elimination(np.zeros(1), np.zeros((2, 1)), -1)


def test_keep_all_keeps_all():
    received = np.array([[1.0, 2.0], [np.nan, 0.0], [1e308, -1e308]])
    assert keep_all(np.zeros(2), received, 2, np.array([5, 1, 3])).tolist() == [True] * 3


def test_registry_names_the_two_peer_filters():
    assert PEER_FILTERS["ce"] is comparative_elimination
    assert PEER_FILTERS["none"] is keep_all


# --- properties -------------------------------------------------------------------------------


@st.composite
def filter_inputs(draw, allow_ties: bool = True):
    """own (d,), received (k, d), f, distinct senders in arbitrary order."""
    d = draw(st.integers(1, 3))
    k = draw(st.integers(0, 8))
    # Small integers make exact distance ties frequent; floats exercise the general case.
    elements = (
        st.one_of(st.integers(-3, 3).map(float), st.floats(-1e6, 1e6))
        if allow_ties
        else st.floats(-1e6, 1e6)
    )
    own = draw(hnp.arrays(np.float64, (d,), elements=elements))
    received = draw(hnp.arrays(np.float64, (k, d), elements=elements))
    f = draw(st.integers(0, k + 2))
    senders = np.array(draw(st.permutations(range(20)))[:k], dtype=np.int64)
    return own, received, f, senders


@settings(max_examples=100, deadline=None)
@given(filter_inputs())
def test_ce_keeps_k_minus_f_or_nothing(case):
    own, received, f, senders = case
    kept = comparative_elimination(own, received, f, senders)
    k = len(received)
    assert kept.dtype == bool and kept.shape == (k,)
    assert kept.sum() == max(k - f, 0)


@settings(max_examples=60, deadline=None)
@given(filter_inputs(), st.randoms(use_true_random=False))
def test_ce_kept_senders_do_not_depend_on_row_order(case, random):
    own, received, f, senders = case
    permutation = list(range(len(received)))
    random.shuffle(permutation)
    kept = comparative_elimination(own, received, f, senders)
    kept_permuted = comparative_elimination(own, received[permutation], f, senders[permutation])
    assert set(senders[kept].tolist()) == set(senders[permutation][kept_permuted].tolist())


@settings(max_examples=60, deadline=None)
@given(filter_inputs())
def test_ce_with_f_zero_keeps_everything(case):
    own, received, _, senders = case
    assert comparative_elimination(own, received, 0, senders).all()


@settings(max_examples=100, deadline=None)
@given(filter_inputs())
def test_ce_every_eliminated_value_is_at_least_as_far_as_every_kept_one(case):
    own, received, f, senders = case
    kept = comparative_elimination(own, received, f, senders)
    # Exact squared distances (rationals: no rounding, no underflow at 1e-192, no overflow).
    # The filter compares rounded norms, so an exact order may only be broken between values
    # whose distances agree to a few ulps; exact ties go to the lower sender id.
    difference = [[Fraction(x) - Fraction(o) for x, o in zip(row, own)] for row in received]
    exact = [sum(t * t for t in row) for row in difference]
    for i in np.flatnonzero(kept):
        for j in np.flatnonzero(~kept):
            if exact[j] < exact[i]:
                assert exact[i] - exact[j] <= Fraction(16 * EPS) * exact[i], (i, j)
            elif exact[j] == exact[i]:
                assert senders[i] < senders[j], (i, j)


@st.composite
def inputs_with_bad_values(draw):
    """Finite honest values plus some NaN / inf / 1e308 values at random rows."""
    own, received, _, _ = draw(filter_inputs())
    d = own.shape[0]
    bad_pool = [np.nan, np.inf, -np.inf, 1e308, -1e308]
    n_bad = draw(st.integers(1, 4))
    bad = np.array([[draw(st.sampled_from(bad_pool))] + [0.0] * (d - 1) for _ in range(n_bad)])
    rows = np.vstack([received, bad])
    is_bad = np.array([False] * len(received) + [True] * n_bad)
    order = np.array(draw(st.permutations(range(len(rows)))), dtype=np.int64)
    all_senders = np.array(draw(st.permutations(range(30)))[: len(rows)], dtype=np.int64)
    f = draw(st.integers(n_bad, len(rows) + 1))
    return own, rows[order], is_bad[order], f, all_senders


@settings(max_examples=60, deadline=None)
@given(inputs_with_bad_values())
def test_ce_eliminates_non_finite_and_huge_values_when_f_covers_them(case):
    own, received, is_bad, f, senders = case
    kept = comparative_elimination(own, received, f, senders)
    assert not (kept & is_bad).any()
    assert kept.sum() == max(len(received) - f, 0)


@settings(max_examples=50, deadline=None)
@given(filter_inputs())
def test_keep_all_keeps_every_row_whatever_f(case):
    own, received, f, senders = case
    assert keep_all(own, received, f, senders).tolist() == [True] * len(received)


def test_ce_orders_distances_at_the_smallest_subnormal():
    """Found by hypothesis: own 2^-1074, values 2^-1074 (distance 0) and 0 (distance 2^-1074,
    whose square underflows). Halving the difference would turn 2^-1074 into 0 and tie them;
    CE must keep the value at distance 0 and drop the other."""
    tiny = 5e-324
    own = np.array([tiny])
    received = np.array([[tiny], [0.0]])
    kept = comparative_elimination(own, received, 1, np.array([1, 0]))
    assert kept.tolist() == [True, False]


def test_plain_distances_flag_exactly_the_rows_whose_norm_is_not_exact():
    """||row|| in plain arithmetic is exact (orders the rows as exact keys do) for norms in
    [2^-500, 2^500] and for a zero row; a row whose squares underflow to a norm of 0, one
    whose norm overflows, one below 2^-500 and a NaN row are flagged. Two receivers, as the
    fast engine stacks them, with a zero row each (their own slot)."""
    from netsim.norms import plain_distances

    difference = np.array(
        [
            [[0.0, 0.0], [3.0, 4.0], [1e-170, 0.0], [1e-160, 1e-160]],  # 1e-160: norm < 2^-500
            [[1e200, 1e200], [0.0, 0.0], [np.nan, 1.0], [2.0**-499, 0.0]],
        ]
    )
    plain, inexact = plain_distances(difference)
    assert plain[0, 1] == 5.0 and plain[0, 0] == 0.0 and plain[0, 2] == 0.0
    assert inexact.tolist() == [[False, False, True, True], [True, False, True, False]]
    assert not plain_distances(difference[:, :2][[0], :1])[1].any()  # a zero row alone


@pytest.mark.parametrize("sort_columns", [0, 64])  # the selection path, the sort path
def test_smallest_first_hand_case_with_ties_and_nan(sort_columns, monkeypatch):
    """Row [3, 1, nan, 1, 2] ranked by a stable sort: 1 (col 1), 1 (col 3), 2, 3, nan. Keeping
    2 takes both ones; keeping 1 takes the first one only; keeping 5 takes the NaN too."""
    monkeypatch.setattr(filters, "SORT_COLUMNS", sort_columns)
    keys = np.array([[3.0, 1.0, np.nan, 1.0, 2.0]] * 5)
    kept = smallest_first(keys, np.array([0, 1, 2, 4, 5]))
    assert kept.astype(int).tolist() == [
        [0, 0, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 1, 0, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 1, 1, 1, 1],
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda batch: st.integers(1, 9).flatmap(
            lambda k: st.tuples(
                hnp.arrays(
                    np.float64,
                    (batch, k),
                    elements=st.one_of(
                        st.sampled_from([0.0, 1.0, 2.0, np.nan, np.inf]), st.floats(0, 10)
                    ),
                ),
                hnp.arrays(np.int64, (batch,), elements=st.integers(-1, k + 1)),
            )
        )
    )
)
def test_smallest_first_is_the_head_of_a_stable_sort(case):
    """The definition: the first count[u] columns of a stable ascending sort of row u. Rows
    this short take the sort itself unless told otherwise: the selection path is forced here
    (SORT_COLUMNS = 0), checked against the definition."""
    keys, count = case
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(filters, "SORT_COLUMNS", 0)
        selected = smallest_first(keys, count)
    expected = np.zeros(keys.shape, dtype=bool)
    for u, row in enumerate(keys):
        head = np.argsort(row, kind="stable")[: max(int(count[u]), 0)]
        expected[u, head] = True
    assert (selected == expected).all()
    assert (smallest_first(keys, count) == expected).all()  # the sort path
