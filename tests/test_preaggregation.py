"""Pre-aggregation steps and filter pipelines: hand cases from the definitions, the
bookkeeping (kept, changed) a trace relies on, magnitudes, and the errors a scenario gets."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from builders import PAPER, cgc, small
from hypothesis import given, settings
from hypothesis import strategies as st

import netsim
from netsim.aggregators import comparative_gradient_clipping, coordinate_median
from netsim.config import PEER_RULES
from netsim.preaggregation import (
    AdaptiveRobustClipping,
    Bucketing,
    NearestNeighbourMixing,
    StaticClipping,
    parse_filter,
    pipeline,
)
from netsim.rng import filter_stream
from netsim.simulation import simulate

BYZFL_EXAMPLE = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])


def test_nnm_replaces_each_input_by_the_mean_of_its_k_minus_f_nearest():
    """Row 0's two nearest are rows 0 and 1; row 1 is equally far (sqrt 27) from rows 0 and 2:
    the tie goes to the lower sender, row 0; row 2's are rows 2 and 1."""
    mixed = NearestNeighbourMixing().mix(BYZFL_EXAMPLE, 1, None)
    assert mixed.rows.tolist() == [[2.5, 3.5, 4.5], [2.5, 3.5, 4.5], [5.5, 6.5, 7.5]]
    assert mixed.members.tolist() == [[True, True, False], [True, True, False], [False, True, True]]
    assert mixed.changed.all() and mixed.f == 1


def test_nnm_with_f_zero_gives_every_row_the_mean_of_all():
    mixed = NearestNeighbourMixing().mix(BYZFL_EXAMPLE, 0, None)
    assert mixed.rows.tolist() == [[4.0, 5.0, 6.0]] * 3


@pytest.mark.parametrize("seed", range(12))
def test_nnm_and_arc_agree_with_a_plain_reading_of_their_definitions(seed):
    """Random inputs (no ties): NNM as a loop over plain distances, ARC as ByzFL's loop."""
    rng = np.random.default_rng(seed)
    k, d = int(rng.integers(3, 12)), int(rng.integers(1, 6))
    f = int(rng.integers(0, k))
    rows = rng.normal(size=(k, d)) * rng.lognormal(sigma=2.0, size=(k, 1))
    expected = []
    for i in range(k):
        nearest = np.argsort(np.linalg.norm(rows - rows[i], axis=1), kind="stable")[: k - f]
        expected.append(rows[nearest].mean(axis=0))
    mixed = NearestNeighbourMixing().mix(rows, f, None)
    np.testing.assert_allclose(mixed.rows, expected, rtol=1e-13, atol=0)
    clipped = rows.copy()
    norms = np.linalg.norm(rows, axis=1)
    count = int((2 * f / k) * (k - f))
    order = np.argsort(norms)
    threshold = norms[order[k - count - 1]]
    for i in order[k - count :]:
        if norms[i] > threshold:
            clipped[i] = rows[i] * (threshold / norms[i])
    mixed = AdaptiveRobustClipping().mix(rows, f, None)
    np.testing.assert_allclose(mixed.rows, clipped, rtol=1e-14, atol=0)


def test_bucketing_without_a_generator_cuts_sender_order_into_buckets_of_s():
    rows = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    mixed = Bucketing(s=2).mix(rows, 1, None)
    assert mixed.rows.ravel().tolist() == [1.5, 3.5, 5.0]
    assert mixed.changed.tolist() == [True, True, False]
    assert mixed.f == 1


def test_bucketing_partitions_the_inputs_with_the_drawn_permutation():
    rows = np.arange(7.0)[:, None] ** 2
    order = filter_stream(3, 2, 5).permutation(7)
    mixed = Bucketing(s=3).mix(rows, 2, filter_stream(3, 2, 5))
    expected = [rows[order[a : a + 3]].mean() for a in (0, 3, 6)]
    assert np.allclose(mixed.rows.ravel(), expected, rtol=1e-15)
    assert mixed.members.sum(axis=0).tolist() == [1] * 7  # every input in exactly one bucket
    assert mixed.members.sum(axis=1).tolist() == [3, 3, 1]


def test_static_clipping_scales_only_the_rows_longer_than_c():
    rows = np.array([[3.0, 4.0], [0.6, 0.8], [0.0, 0.0]])
    mixed = StaticClipping(c=2.0).mix(rows, 0, None)
    assert np.allclose(mixed.rows, [[1.2, 1.6], [0.6, 0.8], [0.0, 0.0]], rtol=1e-15)
    assert mixed.changed.tolist() == [True, False, False]


def test_arc_clips_the_floor_2f_k_minus_f_over_k_largest_to_the_next_norm():
    """k = 3, f = 1: floor(2 * 1 * 2 / 3) = 1 input clipped, to the second largest norm (5)."""
    rows = np.array([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]])
    mixed = AdaptiveRobustClipping().mix(rows, 1, None)
    assert np.allclose(mixed.rows, [[3.0, 4.0], [0.0, 1.0], [3.0, 4.0]], rtol=1e-15)
    assert mixed.changed.tolist() == [False, False, True]
    # k = 10, f = 3: floor(2 * 3 * 7 / 10) = 4 clipped to the 6th smallest norm (6).
    norms = np.arange(1.0, 11.0)
    mixed = AdaptiveRobustClipping().mix(norms[:, None], 3, None)
    assert mixed.rows.ravel().tolist() == [1, 2, 3, 4, 5, 6, 6, 6, 6, 6]


def test_arc_then_cgc_is_cgc_when_arc_clips_f_inputs():
    """f = 1 and k >= 2: ARC clips floor(2(k - 1)/k) = 1 input, CGC's own choice."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        rows = rng.normal(size=(6, 3)) * rng.lognormal(size=(6, 1))
        direct = comparative_gradient_clipping(rows, 1)
        piped = pipeline("arc+cgc")(rows, 1)
        assert np.allclose(piped.value, direct.value, rtol=1e-14, atol=0)
        # The input CGC clips is clipped here too (CGC may then also shave an ulp off the
        # input whose norm ARC's clipped one now ties with).
        assert np.all(piped.changed[direct.changed])


def test_a_sum_rule_after_bucketing_still_stands_for_a_sum_over_the_inputs():
    """Buckets (1, 2), (3, 4): means 1.5 and 3.5, cge with f = 0 sums them to 5, scaled by
    k/m = 4/2 to 10 = 1 + 2 + 3 + 4."""
    rows = np.array([[1.0], [2.0], [3.0], [4.0]])
    assert pipeline("bucketing(s=2)+cge")(rows, 0).value.tolist() == [10.0]


def test_kept_and_changed_follow_the_inputs_through_the_steps():
    own = np.zeros(2)
    rows = np.array([[3.0, 0.0], [0.0, 0.5], [0.0, -0.5]])
    # Clipped to (1, 0), the first input is then CE's farthest from own: dropped.
    result = pipeline("clipping(c=1)+ce")(rows, 1, own=own)
    assert result.kept.tolist() == [False, True, True]
    assert not result.changed.any()
    # Without elimination it enters, clipped.
    result = pipeline("clipping(c=1)+none")(rows, 1, own=own)
    assert result.kept.tolist() == [True, True, True]
    assert result.changed.tolist() == [True, False, False]
    assert np.allclose(result.value, [1 / 3, 0.0], rtol=1e-15)


def test_a_step_that_changes_nothing_leaves_the_rule_bit_for_bit():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(7, 4))
    alone = coordinate_median(rows, 2)
    piped = pipeline("clipping(c=1e6)+median")(rows, 2)
    assert piped.value.tobytes() == alone.value.tobytes()
    assert piped.kept.tolist() == alone.kept.tolist()


def test_a_pipeline_without_draws_depends_on_the_sender_value_pairs_not_the_row_order():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(9, 3))
    rows[4] = rows[2]  # a tie NNM breaks by sender id
    senders = np.arange(9) * 3 + 1
    order = rng.permutation(9)
    for name in ("nnm+median", "bucketing(s=2)+trimmed_mean", "arc+geometric_median", "nnm+cgc"):
        a = pipeline(name)(rows, 2, senders=senders)
        b = pipeline(name)(rows[order], 2, senders=senders[order])
        assert a.value.tobytes() == b.value.tobytes(), name
        assert a.kept[order].tolist() == b.kept.tolist(), name


def test_non_finite_inputs_are_excluded_and_use_up_faults():
    rows = np.array([[1.0], [2.0], [np.nan], [3.0], [np.inf]])
    result = pipeline("nnm+median")(rows, 2)
    assert result.excluded.tolist() == [False, False, True, False, True]
    assert result.f_used == 0
    assert result.value.tolist() == [2.0]  # f' = 0: every mix is the mean 2 of all three


@pytest.mark.parametrize("name", ["nnm+median", "clipping(c=2)+none", "arc+cgc", "nnm+ce"])
def test_a_huge_input_never_makes_the_value_non_finite(name):
    rows = np.array([[1.0, -1.0], [0.5, 0.5], [-1.0, 0.0], [1e308, -1e308], [0.0, 2.0]])
    result = pipeline(name)(rows, 1, own=np.zeros(2))
    assert np.all(np.isfinite(result.value))


def test_clipping_a_row_near_the_largest_float_keeps_its_direction():
    rows = np.array([[1.7e308, 1.7e308, 1.7e308]])  # its plain norm overflows
    clipped = StaticClipping(c=3.0).mix(rows, 0, None).rows[0]
    assert np.allclose(clipped, [math.sqrt(3)] * 3, rtol=1e-15)


# --- scenarios -----------------------------------------------------------------------------


def peers(**overrides) -> netsim.Scenario:
    """The n = 10, f = 1 peer instance (each peer receives k = 9 values), reference engine."""
    changes = {"variants": [], "engine": "reference", "protocol.rounds": 15, **overrides}
    return netsim.load_scenario(PAPER.parent / "ce_partial_synchrony.toml").with_overrides(changes)


def test_equal_parameters_give_one_canonical_name():
    assert parse_filter("clipping(c=2)+median").name == "clipping(c=2.0)+median"
    assert parse_filter(["clipping", "median"]).name == "clipping(c=2.0)+median"
    assert parse_filter("bucketing+median").name == "bucketing(s=2)+median"


def test_the_literatures_names_of_the_coordinate_wise_rules_are_accepted():
    assert peers(**{"protocol.filter": ["nnm", "cwmed"]}).protocol.filter == "nnm+median"
    assert peers(**{"protocol.filter": "cwtm"}).protocol.filter == "trimmed_mean"


def test_a_list_and_a_joined_string_name_the_same_pipeline():
    a = peers(**{"protocol.filter": ["nnm", "bucketing(s=2)", "median"]})
    b = peers(**{"protocol.filter": "nnm + bucketing(s = 2) + median"})
    assert a.protocol.filter == b.protocol.filter == "nnm+bucketing(s=2)+median"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("foo+median", "unknown pre-aggregation step"),
        (["median", "nnm"], "the last stage must be an aggregation rule"),
        ("nnm+foo", "unknown choice"),
        ("bucketing(s=0)+median", "bucketing: bad parameter s"),
        ("bucketing(s=1.5)+median", "bucketing: bad parameter s"),
        ("bucketing(t=2)+median", "bucketing: unknown parameter"),
        ("clipping(c=-1)+median", "clipping: bad parameter c"),
        ("clipping(c=x)+median", "parameter c must be a number"),
        ("nnm(f=1)+median", "nnm: unknown parameter"),
        (["nnm", 3], "a filter is a rule name or a list"),
        ("nnm+cgc", "unknown choice"),  # cgc is the server's rule, not a peer's
        ("median+nnm", "not a pre-aggregation step"),
    ],
)
def test_a_bad_pipeline_is_refused_naming_the_filter(value, message):
    with pytest.raises(netsim.ScenarioError, match=message) as err:
        small(protocol__filter=value)
    assert err.value.key == "protocol.filter"


def test_a_rule_that_sees_too_few_buckets_is_refused_with_the_count_it_sees():
    """n = 6 replies in buckets of 3: Krum sees 2 vectors and needs k > 2f + 2 = 4."""
    with pytest.raises(netsim.ScenarioError, match=r"receives 2 vectors.*\(got k=2, f=1") as err:
        cgc(protocol__filter="bucketing(s=3)+krum")
    assert err.value.key == "protocol.filter"
    assert "bucketing(s=3)+krum" in str(err.value)


def test_a_pipeline_runs_in_both_protocols_and_both_engines_identically():
    warnings.simplefilter("ignore")
    for scenario in (
        peers(**{"protocol.filter": "bucketing(s=2)+median"}),
        cgc(protocol__filter="nnm+bucketing(s=2)+cgc", protocol__rounds=15),
    ):
        reference = simulate(scenario)
        fast = simulate(scenario.with_overrides({"engine": "fast"}))
        assert np.all(np.isfinite(reference.estimates))
        assert np.array_equal(reference.estimates, fast.estimates)
        assert reference.summary == fast.summary
        assert reference.summary["filter"] == scenario.protocol.filter


def test_the_bucketing_permutation_is_the_receivers_keyed_draw():
    """Another seed draws other buckets (the run changes); the same seed the same ones."""
    base = cgc(protocol__filter="bucketing(s=2)+median", protocol__rounds=10)
    one, again = simulate(base), simulate(base)
    other = simulate(base.with_overrides({"seed": base.seed + 1}))
    assert np.array_equal(one.estimates, again.estimates)
    assert not np.array_equal(one.estimates, other.estimates)


def test_an_optimised_attack_may_aim_at_a_pipeline():
    scenario = peers(
        **{
            "protocol.filter": ["nnm", "median"],
            "adversary": {"kind": "optimal_alie", "against": ["nnm", "median"]},
        }
    )
    assert np.all(np.isfinite(simulate(scenario).estimates))
    assert parse_filter(["nnm", "median"]).name == "nnm+median"


@given(
    st.lists(
        st.sampled_from(["nnm", "arc", "bucketing", "bucketing(s=3)", "clipping(c=0.5)", "x"]),
        max_size=3,
    ),
    st.sampled_from(["median", "krum", "ce", "cwtm", "nnm", "cgc"]),
)
@settings(max_examples=60, deadline=None)
def test_a_filter_either_is_refused_naming_the_key_or_its_name_parses_to_itself(steps, rule):
    try:
        parsed = parse_filter([*steps, rule], PEER_RULES)
    except netsim.ScenarioError as err:
        assert err.key == "protocol.filter"
        return
    assert parse_filter(parsed.name, PEER_RULES) == parsed
    assert pipeline(parsed.name).name == parsed.name
