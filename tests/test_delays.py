"""Delay models: moments against many draws, batching, bounds, and registry validation."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

import netsim.config
from netsim.delays import (
    DELAY_MODELS,
    MAX_DELAY,
    Constant,
    DelayModel,
    Exponential,
    LogNormal,
    Pareto,
    Uniform,
)
from netsim.errors import ScenarioError
from netsim.rng import link_stream

DRAWS = 200_000
# CLT: the sample mean of N draws has standard error sigma / sqrt(N); the sample variance has
# standard error sqrt((mu4 - sigma^4) / N), mu4 the fourth central moment. A fixed seed makes the
# test deterministic; 5 standard errors would be exceeded with probability < 1e-6 for a fresh seed,
# while a wrong mean or variance formula (e.g. rate for mean, (h - l)^2 / 4) misses by far more.
SE_TOLERANCE = 5.0


def test_exponential_moments_match_draws():
    model = Exponential(mean=0.02)
    # Hand: Exp with mean m has variance m^2 and fourth central moment 9 m^4.
    assert model.expectation == pytest.approx(0.02)
    assert model.variance == pytest.approx(0.02**2)
    draws = model.sample(np.random.default_rng(1), DRAWS)
    m = 0.02
    assert abs(draws.mean() - model.expectation) <= SE_TOLERANCE * m / math.sqrt(DRAWS)
    var_se = math.sqrt((9 * m**4 - m**4) / DRAWS)
    assert abs(draws.var(ddof=1) - model.variance) <= SE_TOLERANCE * var_se


def test_uniform_moments_match_draws():
    low, high = 0.01, 0.05
    model = Uniform(low=low, high=high)
    # Hand: U[l, h] has mean (l + h) / 2, variance (h - l)^2 / 12, mu4 = (h - l)^4 / 80, so
    # mu4 - sigma^4 = (h - l)^4 (1/80 - 1/144) = (h - l)^4 / 180.
    width = high - low
    assert model.expectation == pytest.approx(0.03)
    assert model.variance == pytest.approx(width**2 / 12)
    draws = model.sample(np.random.default_rng(2), DRAWS)
    mean_se = math.sqrt(width**2 / 12 / DRAWS)
    assert abs(draws.mean() - model.expectation) <= SE_TOLERANCE * mean_se
    var_se = math.sqrt(width**4 / 180 / DRAWS)
    assert abs(draws.var(ddof=1) - model.variance) <= SE_TOLERANCE * var_se


def test_constant_draws_its_value_and_has_zero_variance():
    model = Constant(value=0.25)
    draws = model.sample(np.random.default_rng(3), 1000)
    assert np.all(draws == 0.25)
    assert model.expectation == 0.25
    assert model.variance == 0.0
    assert model.upper_bound == 0.25


def test_constant_draws_nothing_from_the_stream():
    used, fresh = np.random.default_rng(4), np.random.default_rng(4)
    Constant(value=0.1).sample(used, 10)
    assert used.random() == fresh.random()


def test_uniform_draws_lie_in_low_high():
    draws = Uniform(low=0.2, high=0.3).sample(np.random.default_rng(5), 50_000)
    assert draws.min() >= 0.2
    assert draws.max() <= 0.3


def test_uniform_with_equal_bounds_is_constant():
    draws = Uniform(low=0.1, high=0.1).sample(np.random.default_rng(6), 100)
    assert np.all(draws == 0.1)


@pytest.mark.parametrize(
    "model", [Exponential(mean=0.01), Uniform(low=0.0, high=2.0)], ids=["exponential", "uniform"]
)
def test_drawing_k_at_once_equals_k_single_draws(model):
    k = 37
    batch = model.sample(np.random.default_rng(7), k)
    single_rng = np.random.default_rng(7)
    singles = np.concatenate([model.sample(single_rng, 1) for _ in range(k)])
    np.testing.assert_array_equal(batch, singles)


def test_upper_bounds():
    assert Exponential(mean=0.01).upper_bound == math.inf
    assert Uniform(low=0.01, high=0.04).upper_bound == 0.04


def test_sample_rejects_a_negative_or_non_finite_draw():
    class Broken(DelayModel):
        name = "broken"

        def __init__(self, value: float):
            self.value = value

        def _draw(self, rng, size):
            return np.full(size, self.value)

    for bad in (-0.1, math.inf, math.nan):
        with pytest.raises(ScenarioError) as err:
            Broken(bad).sample(np.random.default_rng(0), 3)
        assert err.value.key == "network.delay"


# --- registry ---------------------------------------------------------------------------------


def test_registry_builds_exponential_from_a_scenario_table():
    model = DELAY_MODELS.build("exponential", {"mean": 0.01}, "network.delay")
    assert isinstance(model, Exponential)
    assert model.mean == 0.01


def test_registry_builds_constant_and_uniform():
    assert DELAY_MODELS.build("constant", {"value": 0.5}, "network.delay") == Constant(0.5)
    built = DELAY_MODELS.build("uniform", {"low": 0.1, "high": 0.2}, "network.delay")
    assert built == Uniform(0.1, 0.2)


def test_registry_lists_the_three_models():
    assert {"constant", "uniform", "exponential"} <= set(DELAY_MODELS.names())


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("constant", {"value": -0.1}, "network.delay.value"),
        ("constant", {"value": math.inf}, "network.delay.value"),
        ("constant", {"value": "fast"}, "network.delay.value"),
        ("uniform", {"low": 0.2, "high": 0.1}, "network.delay.high"),
        ("uniform", {"low": -0.1, "high": 0.1}, "network.delay.low"),
        ("uniform", {"low": 0.1}, "network.delay.high"),
        ("exponential", {"mean": 0.0}, "network.delay.mean"),
        ("exponential", {"mean": -1.0}, "network.delay.mean"),
        ("exponential", {"mean": 0.01, "sigma": 0.5}, "network.delay.sigma"),
        ("exponential", {}, "network.delay.mean"),
    ],
)
def test_invalid_delay_parameters_raise_scenario_error_naming_the_dotted_key(name, params, key):
    with pytest.raises(ScenarioError) as err:
        DELAY_MODELS.build(name, params, "network.delay")
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ")


def test_unknown_delay_model_raises_scenario_error():
    with pytest.raises(ScenarioError):
        DELAY_MODELS.build("teleport", {}, "network.delay")


# --- the largest draw: no delay may overflow simulated time -----------------------------------


def test_largest_draws_follow_the_uniform_grid():
    # Every uniform is at least 2^-53 (netsim.philox), so a standard exponential (-log u) is
    # at most 53 ln 2 = 36.74 and a standard normal at least Phi^-1(2^-53) = -8.2095 (here
    # from Python's statistics module, an implementation independent of netsim's).
    tail = 53 * math.log(2)
    normal = -NormalDist().inv_cdf(2.0**-53)
    assert Exponential(mean=2.0).largest_draw == pytest.approx(2.0 * tail)
    assert LogNormal(median=0.5, sigma=3.0).largest_draw == pytest.approx(
        0.5 * math.exp(3 * normal)
    )
    assert Pareto(scale=0.5, shape=4.0).largest_draw == pytest.approx(0.5 * math.expm1(tail / 4))
    ends = np.array([2.0**-53, 1.0 - 2.0**-53])  # the smallest and the largest uniform
    for model in (Exponential(mean=1.0), LogNormal(median=1.0, sigma=1.0), Pareto(1.0, 0.5)):
        assert model.from_uniforms(ends).max() == pytest.approx(model.largest_draw)
        assert model.sample(link_stream(0, 0, 1), 100_000).max() <= model.largest_draw


@pytest.mark.parametrize(
    ("name", "params", "key", "bound"),
    [  # just past the bound: refused naming the parameter; at the bound's other side: valid
        # mean <= 1e290 / (53 ln 2) = 2.722e288
        ("exponential", {"mean": 2.73e288}, "network.delay.mean", {"mean": 2.72e288}),
        # sigma <= (ln 1e290 - ln 0.01) / 8.2095 = 81.90
        ("lognormal", {"median": 0.01, "sigma": 81.95}, "network.delay.sigma", {"sigma": 81.85}),
        # shape >= 53 ln 2 / ln(1 + 1e290 / 0.01) = 0.05464
        ("pareto", {"scale": 0.01, "shape": 0.0078125}, "network.delay.shape", {"shape": 0.0547}),
    ],
)
def test_a_tail_that_can_draw_past_the_delay_cap_is_refused(name, params, key, bound):
    with pytest.raises(ScenarioError, match=r"exceed 1e\+290 s") as err:
        DELAY_MODELS.build(name, params, "network.delay")
    assert err.value.key == key
    model = DELAY_MODELS.build(name, {**params, **bound}, "network.delay")
    assert model.largest_draw <= MAX_DELAY


def test_a_composite_that_scales_past_the_delay_cap_is_refused():
    raw = {"n": 4, "f": 1, "delay": {"model": "stragglers", "agents": [1], "factor": 1e289}}
    raw["delay"]["base"] = {"model": "exponential", "mean": 1.0}  # draws up to 36.74 s
    with pytest.raises(ScenarioError, match=r"can draw a delay of 3\.674e\+290 s") as err:
        netsim.config._network(raw, 0)
    assert err.value.key == "network.delay"


def test_a_network_window_gives_each_link_the_draws_of_its_own_counters():
    # Message k on link a -> b takes its delay from the first uniform of counter k and its
    # loss from the second (philox.uniforms of kind LINK, entities (a, b), index k). A network
    # computes the next 32 draws of every link together (LinkWindow); links used unevenly
    # (one sends 70 messages, crossing two windows, the others 1 to 5), through a wrapper
    # model (stragglers: the inner exponential's map, scaled), must still read their own.
    from netsim import philox
    from netsim.engine.environment import OrderedEnvironment
    from netsim.engine.network import Network
    from netsim.rng import LINK

    model = DELAY_MODELS.build(
        "stragglers",
        {"agents": [1], "factor": 3.0, "base": {"model": "exponential", "mean": 0.5}},
        "network.delay",
    )
    network = Network(OrderedEnvironment(), 4, [], model, seed=11, loss=0.25)
    first = network.graph.edges[0, 1]["link"]
    first.next_delay(0.0)  # one link's first draw computes the next 32 of every link
    window = first.window
    for a, b in network.graph.edges:
        stream = network.graph.edges[a, b]["link"].delay_stream()
        assert stream.holds(window.delay_key, 32 if (a, b) != (0, 1) else 31)
    first.sent, first.delay_stream().position = 0, 0  # draw message 0 again below
    used = {(0, 1): 70, (2, 3): 5, (3, 0): 1, (1, 2): 3}
    for (a, b), count in used.items():
        link = network.graph.edges[a, b]["link"]
        for k in range(count):
            delay, lost = link.next_delay(0.0), link.next_lost(0.25)
            u_delay, u_loss = philox.uniforms(11, LINK, a, b, k)
            expected = -0.5 * math.log(u_delay) * (3.0 if 1 in (a, b) else 1.0)
            assert delay == pytest.approx(expected, rel=1e-15)
            assert lost == (u_loss < 0.25)
