"""The covariance rules ``caf`` and ``smea`` (netsim.aggregators): hand cases, independent
references, invariances, magnitudes and conditions.

Every expected value comes from the maths (worked in the comments) or from an independent
reference written here with numpy (``numpy.linalg.eigvalsh``/``eigh`` are fine in a test),
never from running the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from aggregator_references import smea_by_definition

from netsim.aggregators import (
    AGGREGATORS,
    MDA_SUBSETS,
    check_condition,
    condition_holds,
    covariance_bound_agnostic_filter,
    smallest_maximum_eigenvalue_averaging,
)
from netsim.config import PEER_RULES, SERVER_RULES
from netsim.errors import ScenarioError

RULES = ("caf", "smea")


def column(*entries: float) -> np.ndarray:
    return np.array(entries, dtype=np.float64)[:, None]


# --- independent references -------------------------------------------------------------------


def _caf_by_byzfl_loop(X: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray, int]:
    """ByzFL 0.0.11's CAF loop, transcribed with numpy, with netsim's three documented
    departures: the exact top eigenpair (eigh) instead of one random power step, tau_max over
    the inputs with weight left, and the mean for f = 0. Returns the value, the weights of the
    chosen iterate and the number of iterates."""
    n = len(X)
    c = np.ones(n)
    if f == 0:
        return X.mean(axis=0), c, 0
    best, best_mu, best_c, iterations = math.inf, None, None, 0
    while c.sum() > n - 2 * f:
        mu = (c[:, None] * X).sum(axis=0) / c.sum()
        diffs = X - mu
        covariance = (c[:, None] * diffs).T @ diffs / c.sum()
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        iterations += 1
        if eigenvalues[-1] < best:
            best, best_mu, best_c = eigenvalues[-1], mu, c.copy()
        tau = (diffs @ eigenvectors[:, -1]) ** 2
        tau_max = tau[c > 0].max()
        if tau_max == 0:
            break
        c = c * (1 - tau / tau_max)
    return best_mu, best_c, iterations


def _attacked(seed: int, k: int, d: int, f: int) -> np.ndarray:
    """k - f honest Gaussian rows and f Byzantine rows: far points, a cluster, or a row shifted
    along one axis (the attack a covariance filter is built for)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(k, d))
    kind = seed % 3
    for b in range(k - f, k):
        if kind == 0:
            X[b] = rng.normal(size=d) * 10
        elif kind == 1:
            X[b] = 3.0 + 0.1 * rng.normal(size=d)
        else:
            X[b, 0] += 4.0
    return X


# --- registry and conditions ------------------------------------------------------------------


def test_both_rules_are_registered_for_peers_and_server():
    assert AGGREGATORS["caf"] is covariance_bound_agnostic_filter
    assert AGGREGATORS["smea"] is smallest_maximum_eigenvalue_averaging
    for name in RULES:
        assert name in PEER_RULES and name in SERVER_RULES


def test_conditions_are_k_above_2f_and_for_smea_at_most_mda_subsets():
    for k in range(0, 12):
        for f in range(0, 7):
            majority = (k == 0 and f == 0) or k > 2 * f
            assert condition_holds("caf", k, f) == majority, (k, f)
            assert condition_holds("smea", k, f) == (majority and math.comb(k, f) <= MDA_SUBSETS), (
                k,
                f,
            )
    # k = 40: C(40, 3) = 9,880 <= 20,000 < C(40, 4) = 91,390.
    assert condition_holds("smea", 40, 3) and not condition_holds("smea", 40, 4)
    assert condition_holds("caf", 40, 19)


@pytest.mark.parametrize("name", RULES)
def test_k_at_most_2f_raises_a_scenario_error_naming_protocol_filter(name):
    for k, f in ((2, 1), (4, 2), (5, 3)):
        with pytest.raises(ScenarioError) as err:
            AGGREGATORS[name](np.zeros((k, 2)), f)
        assert err.value.key == "protocol.filter"
        message = str(err.value)
        assert f"{name} needs k > 2f" in message and f"k={k}, f={f}" in message
        assert "\n" not in message
    with pytest.raises(ScenarioError) as err:
        check_condition(name, 3, 2)
    assert err.value.key == "protocol.filter"


def test_smea_refuses_more_subsets_than_the_cap():
    with pytest.raises(ScenarioError, match=r"smea needs k > 2f and C\(k, f\) <= 20,000"):
        smallest_maximum_eigenvalue_averaging(np.zeros((40, 2)), 4)


# --- hand cases -------------------------------------------------------------------------------


def test_smea_drops_a_far_outlier_and_averages_the_rest():
    # 1-d, f = 1, inputs 0, 1, 2, 100: the subset {0, 1, 2} has variance 2/3; every subset with
    # 100 has variance above 1000. The value is the mean of the rest, (0 + 1 + 2)/3 = 1.
    result = smallest_maximum_eigenvalue_averaging(column(0, 1, 2, 100), 1)
    assert result.value.tolist() == [1.0]
    assert result.kept.tolist() == [True, True, True, False]
    assert not result.changed.any() and result.f_used == 1


def test_smea_two_dimensional_hand_case():
    # The unit square's corners and (10, 0), f = 1. Without (10, 0): covariance (1/4) I,
    # lambda = 1/4. Any subset with (10, 0) has x-variance of four entries among 0, 0, 1, 1, 10,
    # at least that of (0, 0, 1, 10) = 16.5, far above. Value: the centre (0.5, 0.5).
    X = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    result = smallest_maximum_eigenvalue_averaging(X, 1)
    assert result.value.tolist() == [0.5, 0.5]
    assert result.kept.tolist() == [True, True, False, True, True]


def test_smea_ties_go_to_the_lexicographically_first_subset_of_sender_ids():
    # Values 0, 1, 2 from senders 5, 9, 3, f = 1. Subsets by sender ids: {3, 5} = {2, 0} with
    # variance 1; {3, 9} = {2, 1} and {5, 9} = {0, 1}, both 1/4: a tie, and {3, 9} comes first.
    # Value (2 + 1)/2 = 1.5; kept in the caller's order: senders 9 and 3.
    result = smallest_maximum_eigenvalue_averaging(column(0, 1, 2), 1, senders=np.array([5, 9, 3]))
    assert result.value.tolist() == [1.5]
    assert result.kept.tolist() == [False, True, True]
    # The same values from senders 3, 9, 5: {3, 5} = {0, 2} (variance 1), {3, 9} = {0, 1} and
    # {5, 9} = {2, 1} tie, {3, 9} first: value 0.5.
    result = smallest_maximum_eigenvalue_averaging(column(0, 1, 2), 1, senders=np.array([3, 9, 5]))
    assert result.value.tolist() == [0.5]
    assert result.kept.tolist() == [True, True, False]


def test_caf_hand_case_with_one_far_outlier():
    # 1-d, inputs -1, 0, 1, 100, f = 1: the loop runs while the total weight exceeds 4 - 2 = 2.
    # Iterate 1 (weights 1): mu = 100/4 = 25, deviations -26, -25, -24, 75; in 1-d v = +-1 and
    # tau_i = deviation^2, tau_max = 75^2 (the outlier, whose weight becomes 0); the others get
    # 1 - (26/75)^2, 1 - (25/75)^2, 1 - (24/75)^2 = 4949/5625, 5000/5625, 5049/5625, total
    # 14998/5625 = 2.67 > 2. Its lambda is the variance, 1875.5.
    # Iterate 2: mu = (-4949 + 0 + 5049)/14998 = 100/14998 = 50/7499, and lambda = the weighted
    # variance of -1, 0, 1 (about 0.67): the smaller, so this iterate is the one returned.
    # Its update zeroes -1 (the farthest from mu) and leaves 1 a weight of
    # 5049/5625 * (1 - (1 - mu)^2 / (1 + mu)^2) = 0.024: total 0.91 <= 2, the loop ends.
    result = covariance_bound_agnostic_filter(column(-1, 0, 1, 100), 1)
    np.testing.assert_allclose(result.value, [50 / 7499], rtol=1e-13)
    assert result.kept.tolist() == [True, True, True, False]
    # In iterate 2 the weights are 4949, 5000, 5049 (/5625): -1 and 0 entered down-weighted.
    assert result.changed.tolist() == [True, True, False, False]
    assert result.iterations == 2


def test_caf_returns_the_first_iterate_when_it_has_the_smallest_eigenvalue():
    # Inputs -1, 1 and -1, 1 again, f = 1 (total 4 > 2): iterate 1 has mu = 0, lambda = 1 and
    # tau = 1 for all, so every weight becomes 0 (1 - 1/1): the loop ends. Value 0, all kept
    # with equal weights, nothing changed.
    result = covariance_bound_agnostic_filter(column(-1, 1, -1, 1), 1)
    assert result.value.tolist() == [0.0]
    assert result.kept.all() and not result.changed.any()
    assert result.iterations == 1


def test_equal_inputs_give_that_input():
    # Zero spread: lambda = 0 at once. CAF stops there; SMEA's subsets all tie at 0 and the
    # first (the lowest sender ids) wins.
    X = np.tile([3.0, -2.0], (5, 1))
    result = covariance_bound_agnostic_filter(X, 2)
    assert result.value.tolist() == [3.0, -2.0] and result.kept.all() and result.iterations == 1
    result = smallest_maximum_eigenvalue_averaging(X, 2)
    assert result.value.tolist() == [3.0, -2.0]
    assert result.kept.tolist() == [True, True, True, False, False]


@pytest.mark.parametrize("name", RULES)
def test_with_f_zero_the_value_is_the_mean_of_all(name):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(6, 3)) * 5
    result = AGGREGATORS[name](X, 0)
    np.testing.assert_allclose(result.value, X.mean(axis=0), rtol=1e-13, atol=1e-14)
    assert result.kept.all() and not result.changed.any()


@pytest.mark.parametrize("name", RULES)
def test_non_finite_rows_are_excluded_and_use_up_f(name):
    # Rows 1 and 3 are non-finite: absent, and f = 2 drops to f' = 0: the mean of the rest,
    # ((0, 0) + (2, 4) + (4, 2))/3 = (2, 2).
    X = np.array([[0.0, 0.0], [np.nan, 1.0], [2.0, 4.0], [np.inf, 0.0], [4.0, 2.0]])
    result = AGGREGATORS[name](X, 2)
    assert result.excluded.tolist() == [False, True, False, True, False]
    assert result.kept.tolist() == [True, False, True, False, True]
    assert result.f_used == 0
    np.testing.assert_allclose(result.value, [2.0, 2.0], rtol=1e-15)


@pytest.mark.parametrize("name", RULES)
def test_no_finite_input_gives_own(name):
    own = np.array([1.5, -2.0])
    result = AGGREGATORS[name](np.array([[np.nan, 0.0], [0.0, np.inf]]), 0, own)
    assert result.value.tolist() == own.tolist() and not result.kept.any()
    assert AGGREGATORS[name](np.empty((0, 2)), 0, own).value.tolist() == own.tolist()


# --- against the references -------------------------------------------------------------------

SHAPES = [(k, d, f) for k in (3, 5, 6, 8) for d in (1, 2, 3, 7) for f in range(1, (k - 1) // 2 + 1)]


@pytest.mark.parametrize(("k", "d", "f"), SHAPES)
def test_smea_chooses_the_subset_of_smallest_largest_eigenvalue(k, d, f):
    # d = 7 > k - f exercises the Gram-matrix route. The chosen subset's lambda (eigvalsh) is
    # the smallest up to rounding, and it is the argmin whenever that is clear.
    for seed in range(4):
        X = _attacked(seed, k, d, f)
        subsets, lambdas = smea_by_definition(X, f)
        result = smallest_maximum_eigenvalue_averaging(X, f)
        chosen = tuple(np.flatnonzero(result.kept).tolist())
        smallest = lambdas.min()
        assert lambdas[subsets.index(chosen)] <= smallest * (1 + 1e-10) + 1e-300, (seed, chosen)
        ordered = np.sort(lambdas)
        if len(ordered) == 1 or ordered[1] > ordered[0] * (1 + 1e-8):
            assert chosen == subsets[int(np.argmin(lambdas))]
        np.testing.assert_allclose(result.value, X[list(chosen)].mean(axis=0), rtol=1e-13)


@pytest.mark.parametrize(("k", "d", "f"), SHAPES)
def test_caf_follows_byzfls_loop(k, d, f):
    # d = 7 exceeds the inputs left with weight in later iterates: the Gram-matrix route.
    for seed in range(4):
        X = _attacked(seed, k, d, f)
        expected, weights, iterations = _caf_by_byzfl_loop(X, f)
        result = covariance_bound_agnostic_filter(X, f)
        np.testing.assert_allclose(result.value, expected, rtol=1e-9, atol=1e-12)
        assert result.kept.tolist() == (weights > 0).tolist(), seed
        changed = (weights > 0) & ~np.isclose(weights, weights.max(), rtol=1e-12, atol=0)
        assert result.changed.tolist() == changed.tolist(), seed
        assert result.iterations == iterations


def test_caf_loop_ends_within_k_iterations_where_byzfl_would_crawl():
    # Honest inputs 0, 1, 2, 3 and outliers at 1e6 and 2e6, f = 2 (floor k - 2f = 2). Iterate
    # 1 zeroes 2e6; the 1e6 outlier keeps the largest tau of the rest and is zeroed next. With
    # tau_max taken over every input (ByzFL), 2e6 would keep the largest tau from then on and
    # the honest weights would shrink by factors 1 - O(1e-12): about 1e12 iterations.
    X = column(0, 1, 2, 3, 1e6, 2e6)
    result = covariance_bound_agnostic_filter(X, 2)
    assert result.iterations <= len(X)
    assert result.kept.tolist() == [True, True, True, True, False, False]
    assert 0.0 <= result.value[0] <= 3.0


# --- invariances and magnitudes ---------------------------------------------------------------


@pytest.mark.parametrize("name", RULES)
def test_results_are_bit_identical_under_reordering_rows_with_their_senders(name):
    rng = np.random.default_rng(5)
    for trial in range(12):
        k, d = int(rng.integers(3, 8)), int(rng.integers(1, 5))
        f = int(rng.integers(1, (k - 1) // 2 + 1))
        X = _attacked(trial, k, d, f)
        senders = rng.permutation(40)[:k]
        a = AGGREGATORS[name](X, f, senders=senders)
        order = rng.permutation(k)
        b = AGGREGATORS[name](X[order], f, senders=senders[order])
        assert np.array_equal(a.value, b.value), (name, trial)
        for field in ("kept", "changed", "excluded"):
            assert np.array_equal(getattr(a, field)[order], getattr(b, field)), (name, field)
        assert a.iterations == b.iterations


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_scaling_every_row_keeps_the_choice(name, scale):
    for seed in range(6):
        X = _attacked(seed, 6, 2, 2)
        a = AGGREGATORS[name](X, 2)
        b = AGGREGATORS[name](X * scale, 2)
        assert np.array_equal(a.kept, b.kept) and np.array_equal(a.changed, b.changed), seed
        np.testing.assert_allclose(b.value / scale, a.value, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", RULES)
def test_a_1e308_outlier_never_makes_the_output_non_finite(name):
    rng = np.random.default_rng(3)
    honest = rng.normal(size=(5, 3))
    for outliers in (
        [[1e308, 1e308, 1e308]],
        [[1e308, -1e308, 1e308], [-1e308, 1e308, -1e308]],
        [[1.7976931348623157e308, 0.0, 0.0], [0.0, -1.7976931348623157e308, 0.0]],
    ):
        X = np.vstack([honest, outliers])
        f = len(outliers)
        result = AGGREGATORS[name](X, f)
        assert np.isfinite(result.value).all(), (name, outliers)
        assert result.kept.tolist() == [True] * 5 + [False] * f
        if name == "smea":
            np.testing.assert_allclose(result.value, honest.mean(axis=0), rtol=1e-13)
    # Every row huge: the value stays finite too.
    X = np.array([[1e308, -1e308], [-1e308, 1e308], [1e308, 1e308]])
    assert np.isfinite(AGGREGATORS[name](X, 1).value).all()


def test_smea_tells_small_spreads_apart_next_to_a_huge_outlier():
    # Four inputs 1e-300 apart at 0, one at 1e300 and one at -1 (f = 2, subsets of 4). The
    # four near 0 have the smallest spread; a common scale set by 1e300 would flush it (and
    # that of any subset without the outlier) to 0 and break the tie by sender id instead.
    X = column(0, -1, 1e-300, 1e300, 2e-300, 3e-300)
    result = smallest_maximum_eigenvalue_averaging(X, 2)
    assert result.kept.tolist() == [True, False, True, False, True, True]
    np.testing.assert_allclose(result.value, [1.5e-300], rtol=1e-13)
