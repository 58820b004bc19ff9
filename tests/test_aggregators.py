"""Robust aggregation rules (netsim.aggregators): hand cases, properties, independent references.

Every expected value below comes from the maths (worked in the comments) or from an independent
reference (numpy, scipy, a brute-force reading of the rule's definition), never from running
the code under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from aggregator_references import smea_by_definition
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import optimize, stats

from netsim import filters
from netsim.aggregators import (
    AGGREGATORS,
    SUM_RULES,
    Aggregate,
    bulyan,
    centered_clipping,
    check_condition,
    comparative_elimination,
    comparative_gradient_clipping,
    comparative_gradient_elimination,
    condition_holds,
    coordinate_median,
    geometric_median,
    krum,
    mean_around_median,
    mean_of_all,
    minimum_diameter_averaging,
    multi_krum,
    trimmed_mean,
)
from netsim.errors import ScenarioError

RULES = sorted(AGGREGATORS)

# The n/f condition of each rule as its docstring states it (k inputs, f faults); k = f = 0
# (nothing to aggregate, nothing to tolerate) is allowed by every rule.
CONDITION = {
    "none": lambda k, f: f >= 0,
    "ce": lambda k, f: k > f,
    "cgc": lambda k, f: k > 2 * f,
    "cge": lambda k, f: k > 2 * f,
    "median": lambda k, f: k > 2 * f,
    "trimmed_mean": lambda k, f: k > 2 * f,
    "krum": lambda k, f: k > 2 * f + 2,
    "multi_krum": lambda k, f: k > 2 * f + 2,
    "geometric_median": lambda k, f: k > 2 * f,
    "centered_clipping": lambda k, f: k > 2 * f,
    "meamed": lambda k, f: k > 2 * f,
    "mda": lambda k, f: k > 2 * f and math.comb(k, f) <= 20_000,
    "bulyan": lambda k, f: k >= 4 * f + 3,
    "caf": lambda k, f: k > 2 * f,
    "smea": lambda k, f: k > 2 * f and math.comb(k, f) <= 20_000,
}


def allowed(name: str, k: int, f: int) -> bool:
    return f >= 0 and ((k == 0 and f == 0) or CONDITION[name](k, f))


def smallest_k(name: str, f: int) -> int:
    return next(k for k in itertools.count(1) if allowed(name, k, f))


def run(name, values, f, own=None, senders=None, **params) -> Aggregate:
    values = np.asarray(values, dtype=np.float64)
    own = None if own is None else np.asarray(own, dtype=np.float64)
    senders = None if senders is None else np.asarray(senders)
    return AGGREGATORS[name](values, f, own, senders, **params)


def rows(*vectors) -> np.ndarray:
    return np.array(vectors, dtype=np.float64)


# --- hand cases -------------------------------------------------------------------------------


def test_registry_names_the_rules_of_the_interface():
    assert set(AGGREGATORS) == {
        "none",
        "ce",
        "cgc",
        "cge",
        "median",
        "trimmed_mean",
        "krum",
        "multi_krum",
        "geometric_median",
        "centered_clipping",
        "meamed",
        "mda",
        "bulyan",
        "caf",
        "smea",
    }
    assert SUM_RULES == {"cgc", "cge"}


def test_none_is_the_mean_of_the_finite_inputs_whatever_f():
    # Rows (1, 2), (3, 4), (nan, 0), (5, 0): the NaN row is absent, the mean of the other three
    # is ((1 + 3 + 5)/3, (2 + 4 + 0)/3) = (3, 2). f = 1 is ignored (and used up by the NaN).
    result = mean_of_all(rows((1, 2), (3, 4), (np.nan, 0), (5, 0)), 1)
    np.testing.assert_allclose(result.value, [3.0, 2.0], rtol=1e-15)
    assert result.kept.tolist() == [True, True, False, True]
    assert result.excluded.tolist() == [False, False, True, False]
    assert not result.changed.any() and result.f_used == 0


def test_ce_drops_the_f_farthest_and_averages_own_with_the_kept():
    # own = (0, 0). Rows and senders: (3, 4) s7 at distance 5, (1, 0) s2 at 1, (0, -2) s5 at 2,
    # (-1, 0) s0 at 1.
    values = rows((3, 4), (1, 0), (0, -2), (-1, 0))
    senders = [7, 2, 5, 0]
    # f = 1 drops (3, 4); value = ((0,0) + (1,0) + (0,-2) + (-1,0)) / 4 = (0, -0.5).
    result = comparative_elimination(values, 1, np.zeros(2), np.array(senders))
    assert result.kept.tolist() == [False, True, True, True]
    np.testing.assert_allclose(result.value, [0.0, -0.5], rtol=0, atol=1e-15)
    assert result.threshold == 2.0  # the farthest kept, (0, -2)
    # f = 3 keeps one of the two at distance 1: sender 0, i.e. (-1, 0); value = (-0.5, 0).
    result = comparative_elimination(values, 3, np.zeros(2), np.array(senders))
    assert result.kept.tolist() == [False, False, False, True]
    np.testing.assert_allclose(result.value, [-0.5, 0.0], rtol=0, atol=1e-15)


def test_ce_breaks_an_exact_distance_tie_by_sender_even_where_scaled_norms_differ():
    # own = 0. (12, 10, 5) and (14, 8, 3) are both at distance sqrt(269) (144 + 100 + 25 =
    # 196 + 64 + 9); s ||x / s|| rounds them an ulp apart, the exact key must not. With f = 1
    # the tie drops the higher sender id.
    values = rows((1, 0, 0), (12, 10, 5), (14, 8, 3))
    own = np.zeros(3)
    kept = comparative_elimination(values, 1, own, np.array([0, 3, 5])).kept
    assert kept.tolist() == [True, True, False]
    kept = comparative_elimination(values, 1, own, np.array([0, 5, 3])).kept
    assert kept.tolist() == [True, False, True]


def test_ce_needs_own():
    with pytest.raises(ScenarioError) as err:
        comparative_elimination(rows((1.0,), (2.0,)), 1)
    assert err.value.key == "protocol.filter"


def test_cgc_clips_the_f_largest_to_the_f_plus_1_th_largest_norm_and_sums():
    # Norms: (3, 4) s0 -> 5, (0, 1) s1 -> 1, (6, 8) s2 -> 10, (-2, 0) s3 -> 2, (0, -3) s4 -> 3.
    # f = 2: threshold = 3rd largest = 3; (3, 4) -> 3/5 (3, 4) = (1.8, 2.4) and
    # (6, 8) -> 3/10 (6, 8) = (1.8, 2.4). Sum = (1.8 + 0 + 1.8 - 2 + 0, 2.4 + 1 + 2.4 + 0 - 3)
    # = (1.6, 2.8): a SUM, not a mean.
    values = rows((3, 4), (0, 1), (6, 8), (-2, 0), (0, -3))
    result = comparative_gradient_clipping(values, 2)
    assert result.threshold == 3.0
    np.testing.assert_allclose(result.value, [1.6, 2.8], rtol=1e-14)
    assert result.kept.all()
    assert result.changed.tolist() == [True, False, True, False, False]


def test_cgc_threshold_zero_is_the_termination_rule():
    # (0, 0), (0, 0), (5, 0) with f = 1: the 2nd largest norm is 0, (5, 0) is clipped to 0.
    result = comparative_gradient_clipping(rows((0, 0), (0, 0), (5, 0)), 1)
    assert result.threshold == 0.0
    assert result.value.tolist() == [0.0, 0.0]
    assert result.changed.tolist() == [False, False, True]


def test_cgc_does_not_clip_a_gradient_whose_norm_ties_the_threshold():
    # (12, 10, 5) and (14, 8, 3) both have norm sqrt(269), the 2nd largest of three with f = 1:
    # nothing is clipped, value = (1 + 12 + 14, 10 + 8, 5 + 3) = (27, 18, 8).
    values = rows((1, 0, 0), (12, 10, 5), (14, 8, 3))
    for senders in ([0, 3, 5], [0, 5, 3]):
        result = comparative_gradient_clipping(values, 1, senders=np.array(senders))
        assert not result.changed.any()
        assert result.value.tolist() == [27.0, 18.0, 8.0]


def test_cge_drops_the_f_largest_norms_and_sums_the_rest():
    # Same gradients as the CGC case; f = 2 drops norms 10 (s2) and 5 (s0):
    # (0, 1) + (-2, 0) + (0, -3) = (-2, -2).
    values = rows((3, 4), (0, 1), (6, 8), (-2, 0), (0, -3))
    result = comparative_gradient_elimination(values, 2)
    assert result.kept.tolist() == [False, True, False, True, True]
    assert result.value.tolist() == [-2.0, -2.0]
    assert result.threshold == 3.0


def test_cge_breaks_an_exact_norm_tie_by_sender():
    # Norms 1, sqrt(269), sqrt(269); f = 1 drops the tied one with the higher sender id.
    values = rows((1, 0, 0), (12, 10, 5), (14, 8, 3))
    result = comparative_gradient_elimination(values, 1, senders=np.array([0, 3, 5]))
    assert result.value.tolist() == [13.0, 10.0, 5.0]  # (1,0,0) + (12,10,5)
    result = comparative_gradient_elimination(values, 1, senders=np.array([0, 5, 3]))
    assert result.value.tolist() == [15.0, 8.0, 3.0]  # (1,0,0) + (14,8,3)


def test_median_hand_cases():
    # d = 1, k = 5: sorted -1, 2, 3, 5, 100 -> 3 (row 2).
    result = coordinate_median(rows((5,), (-1,), (3,), (100,), (2,)), 2)
    assert result.value.tolist() == [3.0]
    assert result.kept.tolist() == [False, False, True, False, False]
    # d = 2, k = 3: column 0 sorted 0, 5, 7 -> 5 (row 1); column 1 sorted 1, 4, 9 -> 4 (row 2).
    # Rows 1 and 2 each give one coordinate: kept and changed; row 0 gives none.
    result = coordinate_median(rows((0, 9), (5, 1), (7, 4)), 1)
    assert result.value.tolist() == [5.0, 4.0]
    assert result.kept.tolist() == [False, True, True]
    assert result.changed.tolist() == [False, True, True]
    # d = 2, k = 4: column 0 middles 2 (row 2), 3 (row 3) -> 2.5; column 1 middles 20 (row 3),
    # 30 (row 2) -> 25. Rows 2 and 3 give both coordinates: kept, not changed.
    result = coordinate_median(rows((1, 40), (4, 10), (2, 30), (3, 20)), 1)
    assert result.value.tolist() == [2.5, 25.0]
    assert result.kept.tolist() == [False, False, True, True]
    assert not result.changed.any()


def test_trimmed_mean_hand_cases():
    # d = 1, k = 7, f = 2: sorted -50, 1, 2, 3, 4, 10, 1000 -> mean(2, 3, 4) = 3.
    result = trimmed_mean(rows((10,), (-50,), (1,), (2,), (3,), (1000,), (4,)), 2)
    np.testing.assert_allclose(result.value, [3.0], rtol=1e-15)
    assert result.kept.tolist() == [False, False, False, True, True, False, True]
    # d = 2, k = 5, f = 1. Column 0: 0 (r0), 1 (r1), 2 (r2), 3 (r4), 9 (r3): trim r0, r3 ->
    # mean(1, 2, 3) = 2. Column 1: 0 (r1), 1 (r2), 2 (r3), 5 (r0), 9 (r4): trim r1, r4 ->
    # mean(1, 2, 5) = 8/3. Every row gives a coordinate; only r2 gives both.
    result = trimmed_mean(rows((0, 5), (1, 0), (2, 1), (9, 2), (3, 9)), 1)
    np.testing.assert_allclose(result.value, [2.0, 8 / 3], rtol=1e-15)
    assert result.kept.all()
    assert result.changed.tolist() == [True, True, False, True, True]
    # Ties: three equal values from senders 5, 2, 8: f = 1 trims sender 2 from the bottom and
    # sender 8 from the top; sender 5 (row 0) is kept.
    result = trimmed_mean(rows((1,), (1,), (1,)), 1, senders=np.array([5, 2, 8]))
    assert result.kept.tolist() == [True, False, False]


def test_krum_hand_case_and_sender_tie_break():
    # d = 1, points 0, 1, 2, 10, 3; k = 5, f = 1, so q = k - f - 2 = 2 nearest neighbours.
    # score(0) = 1 + 4 = 5, score(1) = 1 + 1 = 2, score(2) = 1 + 1 = 2,
    # score(10) = 49 + 64 = 113, score(3) = 1 + 4 = 5.
    values = rows((0,), (1,), (2,), (10,), (3,))
    result = krum(values, 1)
    assert result.scores.tolist() == [5.0, 2.0, 2.0, 113.0, 5.0]
    assert result.value.tolist() == [1.0]  # tie 1 vs 2: row 1 has the lower sender id
    assert result.kept.tolist() == [False, True, False, False, False]
    result = krum(values, 1, senders=np.array([0, 9, 3, 4, 5]))
    assert result.value.tolist() == [2.0]  # now the point 2 has the lower id (3 < 9)


def test_multi_krum_hand_cases():
    values = rows((0,), (1,), (2,), (10,), (3,))  # scores 5, 2, 2, 113, 5 (see Krum above)
    # Default m = k - f = 4: all but the point 10 -> (0 + 1 + 2 + 3) / 4 = 1.5.
    result = multi_krum(values, 1)
    np.testing.assert_allclose(result.value, [1.5], rtol=1e-15)
    assert result.kept.tolist() == [True, True, True, False, True]
    # m = 3 with senders 7, 9, 3, 4, 5: order (2, s3) r2, (2, s9) r1, (5, s5) r4, (5, s7) r0
    # -> r2, r1, r4 -> (2 + 1 + 3) / 3 = 2.
    result = multi_krum(values, 1, senders=np.array([7, 9, 3, 4, 5]), m=3)
    np.testing.assert_allclose(result.value, [2.0], rtol=1e-15)
    assert result.kept.tolist() == [False, True, True, False, True]


def test_krum_can_choose_a_byzantine_input_outside_the_honest_bounding_box():
    # Honest (0,0), (1,0), (2,0), (3,0); Byzantine (1.5, 0.01). k = 5, f = 1, q = 2.
    # score(byz) = 2 (0.5^2 + 0.01^2) = 0.5002; score((1,0)) = 0.2501 + 1 = 1.2501 = score((2,0));
    # score((0,0)) = 1 + 2.2501; score((3,0)) = 1 + 4. Krum picks the Byzantine point, whose
    # y = 0.01 is outside the honest box (y = 0) but within sqrt(q) * diameter = sqrt(2) * 3.
    values = rows((0, 0), (1, 0), (2, 0), (3, 0), (1.5, 0.01))
    result = krum(values, 1)
    assert result.kept.tolist() == [False, False, False, False, True]
    assert result.value.tolist() == [1.5, 0.01]


def test_krum_scores_survive_squared_distances_that_overflow():
    # Points a * 2^700 (a = 0, 1, 2, 3) and 2^1000: every squared distance overflows (2^1400),
    # so all plain scores are inf; on the points scaled by 2^-1001 they are exact:
    # (in units of 2^-602) score(0) = 1 + 4, score(1) = 1 + 1, score(2) = 1 + 1, score(3) = 1 + 4.
    # The tie 1 vs 2 goes to sender 1.
    unit = 2.0**700
    values = rows((0,), (unit,), (2 * unit,), (3 * unit,), (2.0**1000,))
    result = krum(values, 1)
    assert result.value.tolist() == [unit]


def test_geometric_median_hand_cases():
    # d = 1: 0, 1, 5. At 1 the unit vectors to the others are -1 and +1: their sum 0 is < 1
    # (one input at 1), so 1 is the geometric median, returned exactly.
    result = geometric_median(rows((0,), (1,), (5,)), 1)
    assert result.value.tolist() == [1.0]
    # Obtuse triangle (0,0), (4,0), (-4,1): the angle at the origin is about 166 > 120 degrees,
    # so the Fermat point is the origin: ||(1,0) + (-4,1)/sqrt(17)|| ~ 0.24 < 1.
    result = geometric_median(rows((0, 0), (4, 0), (-4, 1)), 1)
    assert result.value.tolist() == [0.0, 0.0]
    # Equilateral triangle (0,0), (2,0), (1, sqrt 3): the Fermat point is the centroid
    # (1, 1/sqrt 3), not an input, so Weiszfeld gets there.
    result = geometric_median(rows((0, 0), (2, 0), (1, math.sqrt(3))), 1)
    np.testing.assert_allclose(result.value, [1.0, 1 / math.sqrt(3)], rtol=0, atol=1e-9)
    assert result.converged and result.kept.all() and not result.changed.any()


def test_centered_clipping_hand_cases():
    # d = 1, own = 0, tau = 1. Iteration 1: differences 0.5, -0.25, 10 -> 1, 3 -> 1:
    # v1 = 0 + (0.5 - 0.25 + 1 + 1) / 4 = 0.5625 (rows 2 and 3 clipped).
    values = rows((0.5,), (-0.25,), (10,), (3,))
    result = centered_clipping(values, 1, np.zeros(1), tau=1.0, iterations=1)
    np.testing.assert_allclose(result.value, [0.5625], rtol=1e-15)
    assert result.changed.tolist() == [False, False, True, True]
    # Iteration 2 from 0.5625: differences -0.0625, -0.8125, 9.4375 -> 1, 2.4375 -> 1:
    # v2 = 0.5625 + (-0.0625 - 0.8125 + 1 + 1) / 4 = 0.5625 + 0.28125 = 0.84375.
    result = centered_clipping(values, 1, np.zeros(1), tau=1.0, iterations=2)
    np.testing.assert_allclose(result.value, [0.84375], rtol=1e-15)
    assert result.changed.tolist() == [False, False, True, True]
    # Without own the start is the median (0.5 + 3)/2 = 1.75: differences -1.25, -2, 8.25, 1.25
    # all clip to -1, -1, 1, 1, whose mean is 0: v stays at 1.75, every input clipped.
    result = centered_clipping(values, 1, tau=1.0, iterations=1)
    np.testing.assert_allclose(result.value, [1.75], rtol=1e-15)
    assert result.changed.all()


def test_influence_is_the_share_of_byzantine_inputs_kept():
    # The CE case above with f = 1 keeps rows 1, 2, 3; Byzantine rows 0 and 3 -> 1 of 2 kept.
    values = rows((3, 4), (1, 0), (0, -2), (-1, 0))
    result = comparative_elimination(values, 1, np.zeros(2), np.array([7, 2, 5, 0]))
    assert result.influence(np.array([True, False, False, True])) == 0.5
    assert math.isnan(result.influence(np.zeros(4, dtype=bool)))


def test_results_are_read_only():
    result = mean_of_all(rows((1.0,), (2.0,)), 0)
    with pytest.raises(ValueError):
        result.value[0] = 0.0
    with pytest.raises(ValueError):
        result.kept[0] = False


# --- huge and non-finite values ---------------------------------------------------------------


def test_huge_values_do_not_overflow_bounded_outputs():
    huge = 1e308
    # Mean, median and trimmed mean of equal huge entries are that entry, not inf.
    assert mean_of_all(rows((huge,), (huge,)), 0).value.tolist() == [huge]
    assert coordinate_median(rows((huge,), (huge,)), 0).value.tolist() == [huge]
    assert coordinate_median(rows((-huge,), (huge,)), 0).value.tolist() == [0.0]
    assert trimmed_mean(rows((huge,), (huge,), (huge,)), 1).value.tolist() == [huge]
    # CE: own = -1e308, a value at +1e308 is 2e308 away (beyond float range): it is farthest.
    result = comparative_elimination(rows((huge,), (-huge + 1e292,)), 1, np.array([-huge]))
    assert result.kept.tolist() == [False, True]
    assert np.isfinite(result.value).all()
    # CGC: the huge gradient is clipped to the 2nd largest norm, 5.
    result = comparative_gradient_clipping(rows((3, 4), (huge, huge), (1, 0)), 1)
    np.testing.assert_allclose(result.value, [4 + 5 / math.sqrt(2), 4 + 5 / math.sqrt(2)])


@pytest.mark.parametrize("name", RULES)
def test_non_finite_inputs_are_never_kept(name):
    values = rows((1, 2), (np.nan, 0), (0, np.inf), (2, 1), (-np.inf, -np.inf), (1, 1), (2, 2))
    f = {"krum": 2, "multi_krum": 2, "bulyan": 1}.get(name, 3)  # the largest each allows
    result = run(name, values, f, own=np.zeros(2))
    excluded = [False, True, True, False, True, False, False]
    assert result.excluded.tolist() == excluded
    assert not (result.kept & result.excluded).any()
    assert result.f_used == max(0, f - 3)
    assert np.isfinite(result.value).all()


@pytest.mark.parametrize("name", RULES)
def test_no_finite_input_gives_the_empty_aggregate(name):
    values = rows((np.nan, 0), (np.inf, 1), (0, -np.inf))
    own = np.array([1.5, -2.0])
    result = run(name, values, 0, own=own)
    expected = [0.0, 0.0] if name in SUM_RULES else own.tolist()
    assert result.value.tolist() == expected
    assert not result.kept.any()
    # k = 0 with f = 0 is allowed and gives the same.
    assert run(name, np.empty((0, 2)), 0, own=own).value.tolist() == expected


# --- n/f conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", RULES)
def test_the_n_f_condition_is_enforced(name):
    for k in range(10):
        for f in range(-1, 6):
            values = np.arange(2 * k, dtype=np.float64).reshape(k, 2)
            assert condition_holds(name, k, f) == allowed(name, k, f), (k, f)
            if allowed(name, k, f):
                run(name, values, f, own=np.zeros(2))
                check_condition(name, k, f)
            else:
                with pytest.raises(ScenarioError) as err:
                    run(name, values, f, own=np.zeros(2))
                assert err.value.key == "protocol.filter"
                message = str(err.value)
                assert "\n" not in message and name in message and f"k={k}, f={f}" in message


def test_condition_error_is_one_line_naming_rule_k_f_and_range():
    with pytest.raises(ScenarioError) as err:
        krum(np.zeros((4, 2)), 1)
    assert str(err.value) == (
        "protocol.filter: krum needs k > 2f + 2 (got k=4, f=1; allowed 0 <= f <= 0 for k=4)"
    )
    with pytest.raises(ScenarioError) as err:
        check_condition("bogus", 3, 1)
    assert err.value.key == "protocol.filter"


def test_rule_parameters_are_checked():
    values = np.arange(10, dtype=np.float64).reshape(5, 2)
    multi_krum(values, 1, m=4)  # allowed: 1 <= m <= k - f = 4
    for m in (0, 5, 1.5, True):
        with pytest.raises(ScenarioError):
            multi_krum(values, 1, m=m)
    for tau in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ScenarioError):
            centered_clipping(values, 1, tau=tau)
    with pytest.raises(ScenarioError):
        centered_clipping(values, 1, iterations=0)
    for tol in (0.0, 1.0, -1e-3):
        with pytest.raises(ScenarioError):
            geometric_median(values, 1, tol=tol)
    with pytest.raises(ScenarioError):
        geometric_median(values, 1, max_iterations=0)


def test_bad_shapes_and_senders_are_programming_errors():
    with pytest.raises(ValueError):
        mean_of_all(np.zeros(3), 0)
    with pytest.raises(ValueError):
        mean_of_all(np.zeros((3, 1)), 0, senders=np.array([1, 1, 2]))
    with pytest.raises(ValueError):
        comparative_elimination(np.zeros((3, 1)), 0, own=np.array([np.nan]))


# --- properties -------------------------------------------------------------------------------

small_integers = st.integers(-20, 20).map(float)
moderate_floats = st.floats(-1e3, 1e3, allow_subnormal=False)


@st.composite
def cases(draw, names=tuple(RULES), integers=False, bad_rows=False):
    """(name, values (k, d), f, own or None, distinct senders in any order)."""
    name = draw(st.sampled_from(names))
    f = draw(st.integers(0, 2))
    k = draw(st.integers(smallest_k(name, f), smallest_k(name, f) + 4))
    d = draw(st.integers(1, 3))
    elements = small_integers if integers else st.one_of(small_integers, moderate_floats)
    values = draw(hnp.arrays(np.float64, (k, d), elements=elements))
    if bad_rows and k:
        pool = st.sampled_from([np.nan, np.inf, -np.inf])
        for row in draw(st.lists(st.integers(0, k - 1), max_size=2, unique=True)):
            values[row, draw(st.integers(0, d - 1))] = draw(pool)
    own = draw(hnp.arrays(np.float64, (d,), elements=elements))
    if name != "ce" and draw(st.booleans()):
        own = None
    senders = np.array(draw(st.permutations(range(40)))[:k], dtype=np.int64)
    return name, values, f, own, senders


def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return np.array_equal(a, b, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(cases(bad_rows=True), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_row_order(case, random):
    # Rows and senders permuted together: the same value bit for bit, the same masks permuted.
    name, values, f, own, senders = case
    permutation = list(range(len(values)))
    random.shuffle(permutation)
    a = run(name, values, f, own, senders)
    b = run(name, values[permutation], f, own, senders[permutation])
    assert np.array_equal(a.value, b.value), name
    for field in ("kept", "changed", "excluded"):
        assert np.array_equal(getattr(a, field)[permutation], getattr(b, field)), (name, field)
    assert same(None if a.scores is None else a.scores[permutation], b.scores)
    assert a.f_used == b.f_used


TRANSLATION_EQUIVARIANT = (
    "none",
    "ce",
    "median",
    "trimmed_mean",
    "krum",
    "multi_krum",
    "geometric_median",
    "centered_clipping",
    "meamed",
    "mda",
    "bulyan",
    "caf",
    "smea",
)


@settings(max_examples=60, deadline=None)
@given(
    cases(names=TRANSLATION_EQUIVARIANT, integers=True),
    hnp.arrays(np.float64, 3, elements=st.integers(-1000, 1000).map(float)),
)
def test_translation_equivariance(case, shift):
    # rule(x + t, own + t) = rule(x, own) + t. Integer inputs and shifts keep every difference,
    # distance and score exact, so the same inputs are kept; the value may differ by rounding.
    name, values, f, own, senders = case
    shift = shift[: values.shape[1]]
    a = run(name, values, f, own, senders)
    if name == "smea" and _smea_best_is_tied(values, a.f_used):
        # smea's score (the covariance's largest eigenvalue) goes through the subset mean,
        # which integers do not keep exact (a sum divided by k - f): two subsets that tie in
        # exact arithmetic (two equal inputs, either of which may be dropped) are ordered by
        # rounding, which a shift changes (documented in its docstring). Equivariance holds
        # for a best subset that is unique.
        return
    b = run(name, values + shift, f, None if own is None else own + shift, senders)
    if name == "geometric_median":
        # Weiszfeld stops at a relative step of 1e-10 of the inputs' spread.
        spread = np.abs(values - values.mean(axis=0)).max() + 1.0
        np.testing.assert_allclose(b.value, a.value + shift, rtol=0, atol=1e-6 * spread)
    else:
        np.testing.assert_allclose(b.value, a.value + shift, rtol=1e-12, atol=1e-9)
    assert np.array_equal(a.kept, b.kept), name
    if name != "centered_clipping":  # its later centres are not integers
        assert np.array_equal(a.changed, b.changed), name


def _smea_best_is_tied(values: np.ndarray, f: int) -> bool:
    """Whether the two smallest of the scores smea compares (the largest eigenvalue of each
    subset's covariance, by :func:`aggregator_references.smea_by_definition`) are within
    1e-9 (relative) of each other."""
    _, scores = smea_by_definition(values, f)
    if len(scores) < 2:
        return False
    best, second = np.sort(scores)[:2]
    return second - best <= 1e-9 * max(1.0, abs(best))


@settings(max_examples=40, deadline=None)
@given(cases(names=("none", "trimmed_mean", "multi_krum", "ce", "cge", "cgc")))
def test_with_f_zero_the_rules_reduce_to_the_mean_or_the_sum(case):
    name, values, _, own, senders = case
    k = len(values)
    result = run(name, values, 0, own, senders)
    if name == "ce":  # the plain average of own and every input
        expected = np.vstack([own, values]).mean(axis=0)
    elif name in SUM_RULES:  # no input clipped or dropped: the sum
        expected = values.sum(axis=0)
        assert not result.changed.any()
    else:  # none, trimmed_mean (nothing trimmed), multi_krum (m = k - 0 = k)
        expected = values.mean(axis=0)
    assert result.kept.all()
    scale = np.abs(values).max(initial=0.0) * (k + 1)
    np.testing.assert_allclose(result.value, expected, rtol=1e-12, atol=1e-12 * scale)


@settings(max_examples=20, deadline=None)
@given(cases(names=("centered_clipping",)))
def test_centered_clipping_with_a_radius_above_every_distance_is_the_mean(case):
    # With tau > every ||x_j - v0|| nothing is clipped: v1 = v0 + mean(x_j - v0) = mean(x).
    _, values, f, own, senders = case
    result = centered_clipping(values, f, own, senders, tau=1e9, iterations=1)
    np.testing.assert_allclose(result.value, values.mean(axis=0), rtol=1e-12, atol=1e-9)
    assert not result.changed.any()


BYZANTINE_ENTRIES = st.one_of(
    st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300, 1e308, -1e308]),
    st.floats(-1e300, 1e300),
)


@st.composite
def attacked_cases(draw, name):
    """Honest inputs in [-100, 100]^d and b <= f Byzantine rows of anything (NaN, inf, 1e308,
    wild floats, or a small perturbation of an honest input), in any order."""
    f = draw(st.integers(0, 2))
    b = draw(st.integers(0, f))
    low = max(smallest_k(name, f), b + 1)  # at least one honest input
    k = draw(st.integers(low, low + 3))
    d = draw(st.integers(1, 3))
    honest = draw(
        hnp.arrays(
            np.float64,
            (k - b, d),
            elements=st.one_of(st.integers(-5, 5).map(float), st.floats(-100, 100)),
        )
    )
    byzantine = []
    for _ in range(b):
        if draw(st.booleans()):
            byzantine.append(draw(hnp.arrays(np.float64, d, elements=BYZANTINE_ENTRIES)))
        else:
            near = honest[draw(st.integers(0, len(honest) - 1))]
            noise = draw(hnp.arrays(np.float64, d, elements=st.floats(-1, 1)))
            byzantine.append(near + noise)
    values = np.vstack([honest, *byzantine]) if byzantine else honest
    is_byzantine = np.array([False] * (k - b) + [True] * b)
    order = np.array(draw(st.permutations(range(k))), dtype=np.int64)
    senders = np.array(draw(st.permutations(range(40)))[:k], dtype=np.int64)
    own = honest[draw(st.integers(0, len(honest) - 1))] + draw(
        hnp.arrays(np.float64, d, elements=st.floats(-10, 10))
    )
    return values[order], is_byzantine[order], f, own, senders


def honest_facts(values, is_byzantine, f):
    honest = values[~is_byzantine]
    finite = np.isfinite(values).all(axis=1)
    f_used = max(0, f - int((~finite).sum()))
    b_finite = int((finite & is_byzantine).sum())
    return honest, finite, f_used, b_finite


def norms(points: np.ndarray) -> np.ndarray:
    """The test's own row norms: math.hypot scales internally (no underflow for 1e-238, inf
    beyond the float range)."""
    return np.array([math.hypot(*point) for point in points])


def diameter(points: np.ndarray) -> float:
    return max(
        (float(np.linalg.norm(p - q)) for p, q in itertools.combinations(points, 2)), default=0.0
    )


@settings(max_examples=30, deadline=None)
@given(st.data())
@pytest.mark.parametrize("name", ["median", "trimmed_mean"])
def test_coordinatewise_rules_stay_in_the_honest_box(name, data):
    # k > 2f and at most f Byzantine inputs: each coordinate's median or trimmed mean is an
    # order statistic (or mean of them) of rank f'+1 .. k'-f' of the finite entries, and at most
    # f' entries lie above (below) the honest maximum (minimum). Exact, no tolerance.
    values, is_byzantine, f, own, senders = data.draw(attacked_cases(name))
    honest, *_ = honest_facts(values, is_byzantine, f)
    value = run(name, values, f, own, senders).value
    assert (honest.min(axis=0) <= value).all() and (value <= honest.max(axis=0)).all()


@settings(max_examples=30, deadline=None)
@given(st.data())
@pytest.mark.parametrize("name", ["krum", "multi_krum"])
def test_krum_stays_near_the_honest_inputs(name, data):
    # With q = k - f - 2 (= k' - f' - 2 after excluding <= f non-finite inputs) and D the honest
    # diameter: an honest input's q nearest include q honest ones, so its score is <= q D^2; every
    # chosen input scores no more (multi-Krum chooses m <= k - f <= #honest inputs), and among its
    # q nearest at least one is honest (at most f - 1 < q other Byzantine ones), so it lies within
    # sqrt(q) D of an honest input. Hence value in the honest box widened by sqrt(q) D.
    values, is_byzantine, f, own, senders = data.draw(attacked_cases(name))
    honest, *_ = honest_facts(values, is_byzantine, f)
    widen = math.sqrt(len(values) - f - 2) * diameter(honest)
    value = run(name, values, f, own, senders).value
    slack = 1e-9 * (1 + np.abs(honest).max())
    assert (honest.min(axis=0) - widen - slack <= value).all()
    assert (value <= honest.max(axis=0) + widen + slack).all()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_ce_value_stays_in_the_ball_of_the_honest_inputs_around_own(data):
    # At least k' - f' finite inputs are honest, so the (k'-f')-th smallest distance to own is at
    # most R = max over honest inputs of ||x_j - own||: every kept input, and the average of own
    # and them, lies in the ball B(own, R).
    values, is_byzantine, f, own, senders = data.draw(attacked_cases("ce"))
    honest, *_ = honest_facts(values, is_byzantine, f)
    radius = np.linalg.norm(honest - own, axis=1).max()
    result = comparative_elimination(values, f, own, senders)
    slack = 1e-12 * (radius + np.abs(own).max() + 1)
    assert (np.linalg.norm(values[result.kept] - own, axis=1) <= radius + slack).all()
    assert np.linalg.norm(result.value - own) <= radius + slack


@settings(max_examples=30, deadline=None)
@given(st.data())
@pytest.mark.parametrize("name", ["cgc", "cge"])
def test_norm_rules_bound_what_enters_by_honest_norms(name, data):
    # N_1 >= N_2 >= ... the honest norms. With b' finite Byzantine inputs and f' = f - #non-finite,
    # the threshold T (the (f'+1)-th largest finite norm) satisfies N_{f'+1} <= T <= N_{f'-b'+1}:
    # at least f'+1 honest norms are >= N_{f'+1}, and at most f' - b' honest plus b' Byzantine
    # ones can exceed N_{f'-b'+1}. Every input that enters unchanged has norm <= T; CGC's clipped
    # ones have norm T exactly; so ||value|| <= sum_j min(||g_j||, T) (CGC) or the sum of kept
    # norms (CGE), and T <= the largest honest norm.
    values, is_byzantine, f, own, senders = data.draw(attacked_cases(name))
    honest, finite, f_used, b_finite = honest_facts(values, is_byzantine, f)
    honest_norms = np.sort(norms(honest))[::-1]
    result = run(name, values, f, own, senders)
    rtol = 1e-12
    assert result.threshold <= honest_norms[f_used - b_finite] * (1 + rtol)
    assert result.threshold >= honest_norms[f_used] * (1 - rtol)
    finite_norms = norms(values[finite])  # inf for a Byzantine norm beyond float range
    unchanged = (result.kept & ~result.changed)[finite]
    assert (finite_norms[unchanged] <= result.threshold * (1 + rtol)).all()
    if name == "cgc":
        bound = np.minimum(finite_norms, result.threshold).sum()
    else:
        bound = finite_norms[result.kept[finite]].sum()
        assert result.kept.sum() == finite.sum() - f_used
    assert np.isfinite(result.value).all()
    assert np.linalg.norm(result.value) <= bound * (1 + 1e-9) + 1e-300


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_geometric_median_stays_within_the_breakdown_bound(data):
    # For any z, with h honest and b' finite Byzantine inputs (h > b'), r = max_honest ||x - z||
    # and y the geometric median: F(y) <= F(z) and F(y) - F(z) >= (h - b') ||y - z|| - 2 h r,
    # so ||y - z|| <= 2 h r / (h - b'). Weiszfeld's y is within a tiny slack of the minimiser.
    values, is_byzantine, f, own, senders = data.draw(attacked_cases("geometric_median"))
    honest, _, _, b_finite = honest_facts(values, is_byzantine, f)
    h = len(honest)
    z = (honest.min(axis=0) + honest.max(axis=0)) / 2
    r = np.linalg.norm(honest - z, axis=1).max()
    value = geometric_median(values, f, own, senders).value
    assert np.linalg.norm(value - z) <= 2 * h * r / (h - b_finite) + 1e-6 * (1 + r)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_centered_clipping_moves_at_most_iterations_times_tau(data):
    # Each iteration adds a mean of vectors of norm <= tau: ||value - v0|| <= L tau, v0 = own or
    # the coordinate-wise median of the finite inputs (inside the honest box when k > 2f).
    values, is_byzantine, f, own, senders = data.draw(attacked_cases("centered_clipping"))
    honest, finite, *_ = honest_facts(values, is_byzantine, f)
    use_own = data.draw(st.booleans())
    tau, iterations = 1.0, 3
    result = centered_clipping(
        values, f, own if use_own else None, senders, tau=tau, iterations=iterations
    )
    start = own if use_own else np.median(values[finite], axis=0)
    assert np.linalg.norm(result.value - start) <= iterations * tau * (1 + 1e-12)
    if not use_own:
        assert (honest.min(axis=0) <= start).all() and (start <= honest.max(axis=0)).all()


@settings(max_examples=15, deadline=None)
@given(st.data())
@pytest.mark.parametrize("name", RULES)
def test_outputs_are_finite_and_non_finite_inputs_never_enter(name, data):
    values, _, f, own, senders = data.draw(attacked_cases(name))
    result = run(name, values, f, own, senders)
    finite = np.isfinite(values).all(axis=1)
    assert np.array_equal(result.excluded, ~finite)
    assert not (result.kept & ~finite).any()
    assert not (result.changed & ~result.kept).any()
    if name == "none":  # not robust, but a mean of finite inputs stays within their range
        assert (values[finite].min(axis=0) <= result.value).all()
        assert (result.value <= values[finite].max(axis=0)).all()
    else:
        assert np.isfinite(result.value).all()


# --- independent references -------------------------------------------------------------------


def test_trimmed_mean_matches_scipy_trim_mean():
    # scipy trims int(proportion * k) from each end; proportions that are exact binary fractions
    # make that exactly f.
    rng = np.random.default_rng(11)
    for k, proportion in [(4, 0.25), (8, 0.125), (8, 0.25), (8, 0.375), (16, 0.125), (16, 0.4375)]:
        f = int(proportion * k)
        assert f == proportion * k and k > 2 * f
        for _ in range(5):
            values = rng.normal(size=(k, 3)) * rng.choice([1e-3, 1.0, 1e3])
            ours = trimmed_mean(values, f).value
            reference = stats.trim_mean(values, proportion, axis=0)
            np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=0)


def test_trimmed_mean_matches_a_sort_based_reference():
    rng = np.random.default_rng(12)
    for _ in range(40):
        k = int(rng.integers(1, 12))
        f = int(rng.integers(0, (k - 1) // 2 + 1))
        values = rng.normal(size=(k, 2))
        reference = np.sort(values, axis=0)[f : k - f].mean(axis=0)
        np.testing.assert_allclose(trimmed_mean(values, f).value, reference, rtol=1e-12)


def test_median_matches_numpy_median():
    rng = np.random.default_rng(13)
    for _ in range(40):
        k = int(rng.integers(1, 12))
        values = rng.normal(size=(k, 3)) * 10
        result = coordinate_median(values, (k - 1) // 2)
        np.testing.assert_allclose(result.value, np.median(values, axis=0), rtol=1e-15)


def test_geometric_median_matches_a_direct_minimisation():
    # Minimise F(y) = sum ||x_i - y|| with BFGS (analytic gradient) from the mean. Non-collinear
    # random points: F is strictly convex with a unique minimiser, smooth near it (it is not an
    # input almost surely). BFGS stops at a gradient norm of 1e-10 * k; ours must be at least as
    # good up to rounding, and both points agree within the optimiser's accuracy.
    rng = np.random.default_rng(14)
    for _ in range(25):
        k = int(rng.integers(3, 10))
        d = int(rng.integers(2, 4))
        values = rng.normal(size=(k, d))

        def cost(y, values=values):
            return np.linalg.norm(values - y, axis=1).sum()

        def gradient(y, values=values):
            difference = y - values
            return (difference / np.linalg.norm(difference, axis=1)[:, None]).sum(axis=0)

        reference = optimize.minimize(
            cost, values.mean(axis=0), jac=gradient, method="BFGS", options={"gtol": 1e-10 * k}
        ).x
        ours = geometric_median(values, (k - 1) // 2)
        assert ours.converged
        assert cost(ours.value) <= cost(reference) * (1 + 1e-12)
        np.testing.assert_allclose(ours.value, reference, rtol=0, atol=1e-6)


def krum_brute_force(values, f, senders, m):
    """Blanchard et al.'s definition, read literally with Python loops; ties by sender id."""
    k = len(values)
    q = k - f - 2
    scores = []
    for i in range(k):
        squared = sorted(
            sum((a - b) ** 2 for a, b in zip(values[i], values[j])) for j in range(k) if j != i
        )
        scores.append(sum(squared[:q]))
    ranking = sorted(range(k), key=lambda i: (scores[i], senders[i]))
    chosen = sorted(ranking[:m])
    mean = [math.fsum(values[i][c] for i in chosen) / m for c in range(len(values[0]))]
    return chosen, mean


def test_krum_and_multi_krum_match_a_brute_force_reading_of_the_definition():
    rng = np.random.default_rng(15)
    for trial in range(60):
        f = int(rng.integers(0, 3))
        k = int(rng.integers(2 * f + 3, 2 * f + 8))
        d = int(rng.integers(1, 4))
        # Half the trials on a small integer grid: many exact score ties.
        if trial % 2:
            values = rng.integers(-3, 4, size=(k, d)).astype(float)
        else:
            values = rng.normal(size=(k, d))
        senders = rng.permutation(50)[:k]
        as_lists = values.tolist()
        chosen, mean = krum_brute_force(as_lists, f, senders.tolist(), 1)
        result = krum(values, f, senders=senders)
        assert np.flatnonzero(result.kept).tolist() == chosen
        assert result.value.tolist() == mean
        m = int(rng.integers(1, k - f + 1))
        chosen, mean = krum_brute_force(as_lists, f, senders.tolist(), m)
        result = multi_krum(values, f, senders=senders, m=m)
        assert np.flatnonzero(result.kept).tolist() == chosen
        np.testing.assert_allclose(result.value, mean, rtol=1e-13, atol=1e-15)


def ordering_by_brute_force(keys, senders):
    """The one permutation of the inputs along which (key, sender) strictly increases."""
    matches = [
        permutation
        for permutation in itertools.permutations(range(len(keys)))
        if all(
            (keys[a], senders[a]) < (keys[b], senders[b])
            for a, b in itertools.pairwise(permutation)
        )
    ]
    assert len(matches) == 1
    return list(matches[0])


def tiny_cases(seed):
    """Random tiny inputs: integer grids (exact squared norms as Python ints, many ties) and
    continuous values."""
    rng = np.random.default_rng(seed)
    for trial in range(40):
        k = int(rng.integers(1, 6))
        d = int(rng.integers(1, 4))
        senders = rng.permutation(20)[:k].tolist()
        if trial % 2:
            values = rng.integers(-3, 4, size=(k, d)).tolist()
            own = rng.integers(-3, 4, size=d).tolist()
        else:
            values = rng.normal(size=(k, d)).tolist()
            own = rng.normal(size=d).tolist()
        yield k, values, own, senders


def test_ce_matches_a_brute_force_over_all_orderings():
    for k, values, own, senders in tiny_cases(16):
        squared = [sum((a - b) ** 2 for a, b in zip(x, own)) for x in values]
        order = ordering_by_brute_force(squared, senders)
        for f in range(k):
            kept = sorted(order[: k - f])
            mean = [
                math.fsum([own[c]] + [values[j][c] for j in kept]) / (len(kept) + 1)
                for c in range(len(own))
            ]
            result = comparative_elimination(
                np.array(values, float), f, np.array(own, float), np.array(senders)
            )
            assert np.flatnonzero(result.kept).tolist() == kept
            np.testing.assert_allclose(result.value, mean, rtol=1e-14, atol=1e-15)


def test_cgc_and_cge_match_a_brute_force_over_all_orderings():
    for k, values, _, senders in tiny_cases(17):
        squared = [sum(a * a for a in x) for x in values]
        order = ordering_by_brute_force(squared, senders)
        for f in range((k - 1) // 2 + 1):
            pivot = order[k - f - 1]
            threshold = math.sqrt(squared[pivot])
            clipped = sorted(j for j in order[k - f :] if squared[j] > squared[pivot])
            total = []
            for c in range(len(values[0])):
                terms = [
                    values[j][c] * threshold / math.sqrt(squared[j])
                    if j in clipped
                    else values[j][c]
                    for j in range(k)
                ]
                total.append(math.fsum(terms))
            result = comparative_gradient_clipping(
                np.array(values, float), f, senders=np.array(senders)
            )
            assert np.flatnonzero(result.changed).tolist() == clipped
            assert result.threshold == pytest.approx(threshold, rel=1e-14)
            np.testing.assert_allclose(result.value, total, rtol=1e-13, atol=1e-13)
            kept = sorted(order[: k - f])
            result = comparative_gradient_elimination(
                np.array(values, float), f, senders=np.array(senders)
            )
            assert np.flatnonzero(result.kept).tolist() == kept
            expected = [math.fsum(values[j][c] for j in kept) for c in range(len(values[0]))]
            np.testing.assert_allclose(result.value, expected, rtol=1e-13, atol=1e-13)


def test_ce_and_cgc_agree_with_the_filters_the_protocols_use():
    # On finite inputs without ties the aggregators keep / clip what netsim.filters does.
    rng = np.random.default_rng(18)
    for _ in range(40):
        k = int(rng.integers(1, 9))
        d = int(rng.integers(1, 4))
        values = rng.normal(size=(k, d))
        own = rng.normal(size=d)
        senders = rng.permutation(30)[:k]
        f = int(rng.integers(0, k))
        kept = filters.comparative_elimination(own, values, f, senders)
        assert np.array_equal(comparative_elimination(values, f, own, senders).kept, kept)
        f = int(rng.integers(0, (k - 1) // 2 + 1))
        reference = filters.comparative_gradient_clipping(values, f, senders)
        result = comparative_gradient_clipping(values, f, senders=senders)
        assert np.array_equal(result.changed, reference.clipped)
        assert result.threshold == reference.threshold
        np.testing.assert_allclose(result.value, reference.total, rtol=1e-13, atol=1e-13)


# --- exact at every magnitude ---------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200, 2.0**-1060])
def test_krum_picks_the_same_input_at_every_magnitude(scale):
    # [[5,5],[0,0],[1,0],[0,1],[1,1]], f = 1, q = 2: the four unit-square corners score 1 + 1 = 2,
    # (5, 5) scores 32 + 41 = 73: the lowest sender among the corners, (0, 0), wins. At 1e-200
    # the plain squared distances underflow to 0 and every score ties; at 1e200 they overflow.
    X = np.array([[5.0, 5.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) * scale
    result = krum(X, 1)
    assert result.kept.tolist() == [False, True, False, False, False]
    assert result.value.tolist() == [0.0, 0.0]
    squared = scale * scale  # the scores as floats: 2 s^2 and 73 s^2 (0 or inf past the range)
    assert result.scores.tolist() == [
        73 * squared,
        2 * squared,
        2 * squared,
        2 * squared,
        2 * squared,
    ]
    chosen = multi_krum(X, 1, m=4)
    assert chosen.kept.tolist() == [False, True, True, True, True]


@pytest.mark.parametrize("exponent", [-1060, -500, 0, 500, 1000])
def test_the_geometric_median_is_found_at_every_magnitude(exponent):
    # The square (0,0), (4,0), (0,4), (4,4) and an outlier (40,40), f = 2: by symmetry the median
    # is (t, t) on the diagonal, with F'(t) = 0 solved numerically: t = 3.15470... At 2^-1060 the
    # inputs are subnormal (and the answer has ~14 significant bits); before the fix the
    # iteration stopped at once at (0, 0).
    X = np.ldexp(np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0], [40.0, 40.0]]), exponent)

    def slope(t: float) -> float:  # dF/dt along the diagonal, on the unscaled inputs
        rows = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0], [40.0, 40.0]])
        diff = np.array([t, t]) - rows
        return float(np.sum(diff.sum(axis=1) / np.linalg.norm(diff, axis=1)))

    t = optimize.brentq(slope, 1.0, 3.9, xtol=1e-15)
    value = np.ldexp(geometric_median(X, 2).value, -exponent)
    resolution = 2.0 ** (-1074 - exponent) if exponent < -1000 else 1e-12
    assert np.allclose(value, [t, t], rtol=1e-9, atol=2 * resolution)


def test_ce_ranks_by_the_true_distance_past_the_overflow():
    # own = 0, received (2e300, 0), (0, 1e300), (1e300, 0), f = 1: the plain squared norms are all
    # +inf, and a tie by sender would keep the farthest row; the true distances keep rows 1, 2.
    received = np.array([[2e300, 0.0], [0.0, 1e300], [1e300, 0.0]])
    own = np.zeros(2)
    assert filters.comparative_elimination(own, received, 1).tolist() == [False, True, True]
    assert comparative_elimination(received, 1, own=own).kept.tolist() == [False, True, True]


@given(
    seed=st.integers(0, 2**31),
    k=st.integers(2, 9),
    d=st.integers(1, 5),
    exponent=st.integers(-320, 307),
    receivers=st.integers(1, 4),
)
@settings(max_examples=200, deadline=None)
def test_ce_keeps_the_nearest_values_at_every_magnitude(seed, k, d, exponent, receivers):
    """Values at distances r_j 10^exponent from own (r_j distinct, 1.5 apart in ratio, random
    directions; own of the same magnitude): CE keeps the k - f nearest, whatever the magnitude
    (the plain squares overflow from 10^154 and underflow below 10^-154), alone or stacked with
    other receivers. Subnormal magnitudes (below 10^-308) only check alone = stacked."""
    rng = np.random.default_rng(seed)
    f = int(rng.integers(0, k))
    radii = 1.5 ** rng.permutation(k)
    directions = rng.normal(size=(receivers, k, d))
    directions /= np.linalg.norm(directions, axis=2, keepdims=True)
    own = rng.normal(size=(receivers, d)) * 10.0**exponent
    with np.errstate(over="ignore"):
        values = own[:, None, :] + directions * (radii[:, None] * 10.0**exponent)
        difference = values - own[:, None, :]
    if not np.all(np.isfinite(values)):
        return  # past the floats at 10^307 with unlucky signs: nothing to compare
    present = np.ones((receivers, k), dtype=bool)
    stacked = filters.nearest_kept(difference, values, own, present, np.full(receivers, k - f))
    nearest = sorted(np.argsort(radii)[: k - f].tolist())
    for u in range(receivers):
        alone = filters.comparative_elimination(own[u], values[u], f)
        assert np.array_equal(alone, stacked[u])
        if exponent >= -300:
            assert np.flatnonzero(alone).tolist() == nearest


# --- meamed, mda, bulyan: against a direct reading of their definitions ---------------------


def _median(column: list[float]) -> float:
    ordered = sorted(column)
    m = len(ordered)
    return ordered[m // 2] if m % 2 else (ordered[m // 2 - 1] + ordered[m // 2]) / 2


def _nearest_mean(rows: list[list[float]], ids: list[int], count: int) -> list[float]:
    """Per coordinate: the mean of the ``count`` entries nearest the median, ties by id."""
    value = []
    for j in range(len(rows[0])):
        med = _median([r[j] for r in rows])
        order = sorted(range(len(rows)), key=lambda i: (abs(rows[i][j] - med), ids[i]))
        value.append(sum(rows[i][j] for i in order[:count]) / count)
    return value


def _meamed_by_definition(X: np.ndarray, f: int) -> list[float]:
    return _nearest_mean(X.tolist(), list(range(len(X))), len(X) - f)


def _mda_by_definition(X: np.ndarray, f: int) -> tuple[list[float], tuple[int, ...]]:
    best, chosen = math.inf, ()
    for subset in itertools.combinations(range(len(X)), len(X) - f):
        diameter = max((math.dist(X[i], X[j]) for i in subset for j in subset), default=0.0)
        if diameter < best:
            best, chosen = diameter, subset
    return np.mean(X[list(chosen)], axis=0).tolist(), chosen


def _bulyan_by_definition(X: np.ndarray, f: int) -> list[float]:
    remaining, selected = list(range(len(X))), []
    for _ in range(len(X) - 2 * f):
        q = max(len(remaining) - f - 2, 0)
        scores = []
        for i in remaining:
            squared = sorted(float(np.sum((X[i] - X[j]) ** 2)) for j in remaining if j != i)
            scores.append((sum(squared[:q]), i))
        selected.append(min(scores)[1])  # smallest score, then lowest id
        remaining.remove(selected[-1])
    chosen = sorted(selected)
    return _nearest_mean(X[chosen].tolist(), chosen, len(chosen) - 2 * f)


def test_meamed_mda_and_bulyan_by_hand():
    # meamed, one coordinate: median of (0, 1, 2, 10) is 1.5; the 3 nearest are 1, 2, 0: mean 1.
    assert mean_around_median(np.array([[0.0], [1.0], [2.0], [10.0]]), 1).value.tolist() == [1.0]
    # mda: the unit square and an outlier, f = 1: the square (diameter sqrt 2) wins.
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [100.0, -100.0]])
    result = minimum_diameter_averaging(square, 1)
    assert result.value.tolist() == [0.5, 0.5] and result.kept.tolist() == [1, 1, 1, 1, 0]
    # bulyan, k = 7 >= 4f + 3: theta = 5 selected by Krum, beta = 3 per coordinate.
    X = np.vstack([square, [[0.5, 0.5], [-50.0, 50.0]]])
    np.testing.assert_allclose(bulyan(X, 1).value, _bulyan_by_definition(X, 1), rtol=1e-15)
    with pytest.raises(ScenarioError, match=r"bulyan needs k >= 4f \+ 3"):
        bulyan(X[:6], 1)
    with pytest.raises(ScenarioError, match="C\\(k, f\\) <= 20,000 subsets"):
        minimum_diameter_averaging(np.zeros((40, 2)), 10)


@given(seed=st.integers(0, 2**31), k=st.integers(1, 9), d=st.integers(1, 4))
@settings(max_examples=150, deadline=None)
def test_meamed_mda_and_bulyan_follow_their_definitions(seed, k, d):
    """Small integer inputs (exact squares and sums, so ties are exact) with duplicates."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-4, 5, size=(k, d)).astype(float)
    f = int(rng.integers(0, (k - 1) // 2 + 1))
    np.testing.assert_allclose(mean_around_median(X, f).value, _meamed_by_definition(X, f))
    value, chosen = _mda_by_definition(X, f)
    result = minimum_diameter_averaging(X, f)
    assert np.flatnonzero(result.kept).tolist() == list(chosen)
    np.testing.assert_allclose(result.value, value)
    if k >= 4 * f + 3:
        np.testing.assert_allclose(bulyan(X, f).value, _bulyan_by_definition(X, f))


def test_krum_tells_small_distances_apart_next_to_a_huge_outlier():
    # Five honest zeros, a Byzantine 1e300 and a Byzantine -1, f = 2, q = 3: the zeros score
    # 0, -1 scores 1 + 1 + 1 = 3, the outlier +inf. One common scale for every pair (set by the
    # 1e300 difference) would flush the unit differences to 0 and tie -1 with the zeros.
    X = np.array([[0.0], [0.0], [0.0], [0.0], [0.0], [1e300], [-1.0]])
    result = multi_krum(X, 2, senders=np.array([0, 1, 2, 3, 5, 6, 4]))
    assert result.kept.tolist() == [True, True, True, True, True, False, False]
    assert result.value.tolist() == [0.0]
    assert result.scores.tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, math.inf, 3.0]
    mda = minimum_diameter_averaging(X, 2)  # the five zeros: diameter 0
    assert mda.kept.tolist() == [True, True, True, True, True, False, False]
