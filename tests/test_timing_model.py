"""Delay models beyond the basics, loss, and partial synchrony as a checked model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import small, small_raw

import netsim
from netsim.delays import DELAY_MODELS
from netsim.engine.network import BoundViolation

DRAWS = 200_000


def build(table):
    params = dict(table)
    return DELAY_MODELS.build(params.pop("model"), params, "network.delay")


def only(result):
    (variant,) = result.variants.values()
    return variant


@pytest.mark.parametrize(
    "table",
    [
        {"model": "lognormal", "median": 0.01, "sigma": 0.5},
        {"model": "lognormal", "median": 2.0, "sigma": 0.25},
        {"model": "pareto", "scale": 0.01, "shape": 5.0},
    ],
)
def test_heavy_tailed_models_match_their_moments(table):
    """Mean within 5 standard errors (CLT: sd / sqrt(N)); the variance within 5 standard errors
    of the sample variance, sqrt((m4 - s^4) / N), estimated from the sample itself."""
    model = build(table)
    draws = model.sample(np.random.default_rng(11), DRAWS)
    assert abs(draws.mean() - model.expectation) < 5 * math.sqrt(model.variance / DRAWS)
    centred = draws - draws.mean()
    m4 = np.mean(centred**4)
    assert abs(draws.var() - model.variance) < 5 * math.sqrt((m4 - draws.var() ** 2) / DRAWS)


def test_lognormal_median_and_pareto_tail_match_their_parameters():
    """Quantiles: P(X <= median) = 1/2 for the lognormal; P(X > x) = (1 + x/scale)^-shape for
    the shifted Pareto. An empirical share has standard error sqrt(p (1 - p) / N)."""
    lognormal = build({"model": "lognormal", "median": 0.03, "sigma": 1.2})
    share = np.mean(lognormal.sample(np.random.default_rng(1), DRAWS) <= 0.03)
    assert abs(share - 0.5) < 5 * math.sqrt(0.25 / DRAWS)
    pareto = build({"model": "pareto", "scale": 0.01, "shape": 1.5})  # infinite variance
    draws = pareto.sample(np.random.default_rng(2), DRAWS)
    for x in (0.01, 0.1, 1.0):
        p = (1 + x / 0.01) ** -1.5
        assert abs(np.mean(draws > x) - p) < 5 * math.sqrt(p * (1 - p) / DRAWS)
    assert pareto.expectation == pytest.approx(0.01 / 0.5)
    assert math.isinf(pareto.variance) and math.isinf(pareto.upper_bound)


def test_matrix_delay_is_base_plus_jitter():
    """Constant jitter: every arrival is exactly send + base[j][i] + jitter."""
    base = [[0.0 if i == j else 0.01 * (1 + i + 2 * j) for j in range(6)] for i in range(6)]
    m = netsim.run(
        small(
            network__delay={
                "model": "matrix",
                "base": base,
                "jitter": {"model": "constant", "value": 0.001},
            },
            protocol__rounds=5,
        )
    ).messages
    expected = np.array([base[s][r] for s, r in zip(m["sender"], m["receiver"])]) + 0.001
    np.testing.assert_allclose(m["arrival_time"] - m["send_time"], expected, rtol=1e-12)


def test_matrix_from_random_points_is_a_deterministic_metric():
    a = small(network__delay={"model": "matrix", "plane": 0.1}).network.delay
    b = small(network__delay={"model": "matrix", "plane": 0.1}).network.delay
    base = np.array(a.base)
    assert np.array_equal(base, np.array(b.base))  # same seed, same points
    assert np.allclose(base, base.T) and np.all(np.diag(base) == 0)
    assert np.all(base[~np.eye(6, dtype=bool)] > 0) and base.max() <= 0.1 * math.sqrt(2)
    # the triangle inequality of Euclidean distances
    assert np.all(
        base[:, None, :] <= base[:, :, None] + base[None, :, :].transpose(0, 2, 1) + 1e-12
    )
    other = small(network__delay={"model": "matrix", "plane": 0.1}, seed=8).network.delay
    assert not np.array_equal(base, np.array(other.base))


def test_stragglers_slow_their_links_and_their_compute():
    delay = {
        "model": "stragglers",
        "agents": [2],
        "factor": 4.0,
        "base": {"model": "constant", "value": 0.25},
    }
    scenario = small(network__delay=delay, network__compute_time=0.5, protocol__rounds=4)
    assert scenario.network.compute_time == (0.5, 0.5, 2.0, 0.5, 0.5, 0.5)
    m = netsim.run(scenario).messages
    slow = (m["sender"] == 2) | (m["receiver"] == 2)
    delays = m["arrival_time"] - m["send_time"]
    assert np.allclose(delays[slow], 1.0) and np.allclose(delays[~slow], 0.25)


def test_profile_multiplies_delays_by_the_send_time_factor():
    delay = {
        "model": "profile",
        "times": [0.5, 1.0],
        "multipliers": [1.0, 8.0, 1.0],
        "base": {"model": "constant", "value": 0.125},
    }
    m = netsim.run(
        small(network__delay=delay, protocol__rounds=12, protocol__clock="event")
    ).messages
    delays = m["arrival_time"] - m["send_time"]
    burst = (m["send_time"] >= 0.5) & (m["send_time"] < 1.0)
    assert burst.any() and (~burst).any()
    assert np.allclose(delays[burst], 1.0) and np.allclose(delays[~burst], 0.125)


def test_reordering_happens_with_random_delays_and_never_with_constant_ones():
    def inversions(messages):
        count = 0
        for s in range(6):
            for r in range(6):
                link = (messages["sender"] == s) & (messages["receiver"] == r)
                order = np.argsort(messages["send_time"][link], kind="stable")
                count += int(np.sum(np.diff(messages["arrival_time"][link][order]) < 0))
        return count

    constant = netsim.run(
        small(network__delay={"model": "constant", "value": 0.01}, protocol__rounds=100)
    ).messages
    heavy = netsim.run(
        small(network__delay={"model": "pareto", "scale": 0.01, "shape": 1.5}, protocol__rounds=100)
    ).messages
    assert inversions(constant) == 0
    assert inversions(heavy) > 0


def test_loss_counts_and_decisions():
    """CE sends n (n - 1) messages a round; delivered = sent - lost; a lost message has no
    arrival and the decision `lost`. Loss needs a deadline (else a receiver waits forever)."""
    result = netsim.run(small(network__loss=0.1, protocol__deadline=0.05, protocol__rounds=50))
    variant, m = only(result), result.messages
    assert variant.summary["messages_sent"] == 6 * 5 * 50
    lost = ~m["delivered"]
    assert variant.summary["messages_lost"] == lost.sum() > 0
    assert variant.summary["messages_delivered"] == 6 * 5 * 50 - lost.sum()
    assert np.all(np.isnan(m["arrival_time"][lost]))
    assert np.all(m["decision"][lost] == netsim.engine.Decision.LOST)
    assert abs(lost.mean() - 0.1) < 5 * math.sqrt(0.09 / lost.size)
    with pytest.raises(netsim.ScenarioError) as err:
        small(network__loss=0.1)
    assert err.value.key == "network.loss"


def heavy_tailed(**changes):
    raw = small_raw(
        network__delay={"model": "pareto", "scale": 0.01, "shape": 1.2},
        protocol__rounds=80,
        **changes,
    )
    raw["network"]["asynchrony"] = {"gst": 0.2, "delta": 0.03}
    return raw


def test_capping_keeps_every_honest_message_after_gst_within_delta():
    variant = only(netsim.run(netsim.parse_scenario(heavy_tailed())))
    s = variant.summary
    assert s["honest_delays_capped"] > 0  # the heavy tail really exceeds Delta
    assert s["honest_bound_violations"] == 0
    assert s["max_honest_delay_after_gst"] <= 0.03 * (1 + 1e-12)
    assert s["deadline"] == pytest.approx(0.03, rel=1e-8)  # spec/ce.md: defaults to Delta


def test_raising_on_violation_names_the_link():
    raw = heavy_tailed()
    raw["network"]["asynchrony"]["on_violation"] = "error"
    with pytest.raises(BoundViolation) as err:
        netsim.run(netsim.parse_scenario(raw))
    assert err.value.key == "network.asynchrony.delta"
    assert "link " in str(err.value) and " -> " in str(err.value)


def test_byzantine_last_moment_delivery_arrives_exactly_at_the_bound():
    raw = heavy_tailed(adversary={"kind": "random_uniform", "delivery": "last_moment"})
    m = netsim.run(netsim.parse_scenario(raw)).messages
    late = m["byzantine"] & (m["send_time"] >= 0.2)
    assert late.any()
    assert np.array_equal(m["arrival_time"][late], m["send_time"][late] + 0.03)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"gst": -1.0, "delta": 0.1}, "network.asynchrony.gst"),
        ({"gst": 0.0, "delta": 0.0}, "network.asynchrony.delta"),
        ({"gst": 0.0}, "network.asynchrony.delta"),
        ({"delta": 0.1, "on_violation": "ignore"}, "network.asynchrony.on_violation"),
        ({"delta": 0.1, "tau": 1}, "network.asynchrony.tau"),
    ],
)
def test_invalid_asynchrony_is_named(table, key):
    raw = small_raw()
    raw["network"]["asynchrony"] = table
    with pytest.raises(netsim.ScenarioError) as err:
        netsim.parse_scenario(raw)
    assert err.value.key == key


@pytest.mark.parametrize(
    ("delay", "key"),
    [
        ({"model": "lognormal", "median": 0.0, "sigma": 1.0}, "network.delay.median"),
        ({"model": "pareto", "scale": 0.01, "shape": -1.0}, "network.delay.shape"),
        ({"model": "matrix", "base": [[0.0, 1.0], [1.0, 0.0]]}, "network.delay.base"),
        (
            {"model": "matrix", "base": [[0.0] * 6] * 5 + [[0.0] * 5 + [-1.0]]},
            "network.delay.base[5][5]",
        ),
        ({"model": "matrix"}, "network.delay.base"),
        (
            {
                "model": "stragglers",
                "agents": [9],
                "factor": 2.0,
                "base": {"model": "constant", "value": 0.1},
            },
            "network.delay.agents[0]",
        ),
        (
            {
                "model": "stragglers",
                "agents": [1],
                "factor": 0.5,
                "base": {"model": "constant", "value": 0.1},
            },
            "network.delay.factor",
        ),
        (
            {
                "model": "stragglers",
                "agents": [1],
                "factor": 2.0,
                "base": {"model": "exponential", "mean": -1.0},
            },
            "network.delay.base.mean",
        ),
        (
            {
                "model": "profile",
                "times": [1.0, 0.5],
                "multipliers": [1, 2, 1],
                "base": {"model": "constant", "value": 0.1},
            },
            "network.delay.times",
        ),
        (
            {
                "model": "profile",
                "times": [1.0],
                "multipliers": [1.0],
                "base": {"model": "constant", "value": 0.1},
            },
            "network.delay.multipliers",
        ),
    ],
)
def test_invalid_delay_models_are_named(delay, key):
    with pytest.raises(netsim.ScenarioError) as err:
        small(network__delay=delay)
    assert err.value.key == key


def test_each_round_ends_at_its_last_used_arrival_or_its_deadline():
    """Event clock, with loss and a deadline: agent i completes round r at max(start, last
    arrival) when all n - 1 values came in time, else exactly at start + deadline (start =
    previous completion, compute time 0)."""
    deadline = 0.03
    result = netsim.run(
        small(
            network__loss=0.05,
            protocol__deadline=deadline,
            protocol__rounds=40,
            protocol__clock="event",
        )
    )
    variant, m = only(result), result.messages
    in_time = m["delivered"] & (m["decision"] != netsim.engine.Decision.LATE)
    for column, agent in enumerate(variant.honest):
        for r in range(40):
            start, done = variant.times[r, column], variant.times[r + 1, column]
            used = in_time & (m["receiver"] == agent) & (m["round"] == r)
            if used.sum() == 5:
                assert done == max(start, m["arrival_time"][used].max())
            else:
                assert done == start + deadline


def test_lognormal_with_zero_sigma_is_exactly_its_median():
    model = build({"model": "lognormal", "median": 0.01, "sigma": 0.0})
    assert np.all(model.sample(np.random.default_rng(0), 1000) == 0.01)


def test_a_reply_taking_exactly_the_bound_is_not_late():
    """Constant 10 ms links: every CGC round trip takes exactly the derived deadline (2 x 10
    ms); none may count as absent although s + d + d and s + 2d differ in the last bit."""
    from builders import cgc

    variant = only(
        netsim.run(cgc(network__delay={"model": "constant", "value": 0.01}, protocol__rounds=60))
    )
    assert variant.summary["absent_honest"] == 0
    assert variant.summary["deadline_rounds"] == 0


def test_no_deadline_can_be_asked_for_with_bounded_delays():
    scenario = small(
        network__delay={"model": "uniform", "low": 0.0, "high": 0.05}, protocol__deadline="none"
    )
    assert scenario.protocol.deadline is None
    variant = only(netsim.run(scenario.with_overrides({"protocol.rounds": 50})))
    assert variant.summary["absent_honest"] == 0
