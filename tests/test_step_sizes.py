"""Step-size schedules eta_t (netsim/step_sizes.py) and their scenario errors.

CGC paper Section 5 (spec/cgc.md): the partially asynchronous algorithm needs
sum_t eta_t = inf and sum_t eta_t^2 < inf. For a / (t + b)^p that is 1/2 < p <= 1:
sum 1/t^p diverges iff p <= 1, sum 1/t^(2p) converges iff 2p > 1.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.errors import ScenarioError
from netsim.step_sizes import (
    STEP_SIZES,
    ConstantStep,
    HarmonicStep,
    PiecewiseStep,
    PowerStep,
)

KEY = "protocol.step_size"


def build(schedule: str, **params):
    return STEP_SIZES.build(schedule, params, KEY)


def error_key(schedule: str, **params) -> str:
    with pytest.raises(ScenarioError) as err:
        build(schedule, **params)
    return err.value.key


# --- values by hand ---------------------------------------------------------------------------


def test_registry_names_the_four_schedules():
    assert {"constant", "harmonic", "power", "piecewise"} <= set(STEP_SIZES.names())


def test_constant_step_is_eta_at_every_round():
    step = build("constant", eta=0.25)
    assert isinstance(step, ConstantStep)
    assert [step(t) for t in (0, 1, 7, 10**6)] == [0.25] * 4


def test_constant_step_given_an_integer_returns_a_float():
    value = build("constant", eta=2)(3)
    assert value == 2.0
    assert isinstance(value, float)


def test_harmonic_step_is_a_over_t_plus_b():
    # a = 2, b = 1: 2/1, 2/2, 2/4, 2/100.
    step = build("harmonic", a=2.0, b=1.0)
    assert isinstance(step, HarmonicStep)
    assert [step(t) for t in (0, 1, 3, 99)] == [2.0, 1.0, 0.5, 0.02]


def test_harmonic_step_default_b_is_1():
    # a = 1: 1/(0 + 1) = 1, 1/(1 + 1) = 0.5 (the spec's example eta_t = 1/(t + 1)).
    step = build("harmonic", a=1.0)
    assert (step(0), step(1), step(9)) == (1.0, 0.5, 0.1)


def test_harmonic_step_with_b_4():
    # a = 3, b = 4: 3/4, 3/5, 3/8.
    step = build("harmonic", a=3.0, b=4.0)
    assert (step(0), step(1), step(4)) == (0.75, 0.6, 0.375)


def test_power_step_is_a_over_t_plus_b_to_the_p():
    # a = 1, b = 1, p = 1/2: 1/sqrt(1), 1/sqrt(4), 1/sqrt(16); a = 3, b = 2, p = 2: 3/4, 3/9.
    step = build("power", a=1.0, b=1.0, p=0.5)
    assert isinstance(step, PowerStep)
    assert (step(0), step(3), step(15)) == (1.0, 0.5, 0.25)
    step = build("power", a=3.0, b=2.0, p=2.0)
    assert step(0) == 0.75
    assert step(1) == pytest.approx(1 / 3, rel=1e-15)


def test_power_step_defaults_are_b_1_and_p_1():
    # a / (t + 1): 4/1, 4/2, 4/5.
    step = build("power", a=4.0)
    assert (step(0), step(1), step(4)) == (4.0, 2.0, 0.8)


def test_piecewise_step_follows_its_boundaries():
    # boundaries (10, 20), values (1, 0.5, 0.1): rounds 0..9 -> 1, 10..19 -> 0.5, >= 20 -> 0.1.
    step = build("piecewise", boundaries=[10, 20], values=[1.0, 0.5, 0.1])
    assert isinstance(step, PiecewiseStep)
    expected = {0: 1.0, 9: 1.0, 10: 0.5, 15: 0.5, 19: 0.5, 20: 0.1, 21: 0.1, 10**6: 0.1}
    assert {t: step(t) for t in expected} == expected


def test_piecewise_step_with_one_boundary_at_round_1():
    # boundaries (1,), values (0.3, 0.2): only round 0 has 0.3.
    step = build("piecewise", boundaries=[1], values=[0.3, 0.2])
    assert [step(t) for t in range(4)] == [0.3, 0.2, 0.2, 0.2]


def test_piecewise_step_accepts_integer_values_and_returns_floats():
    step = build("piecewise", boundaries=[2], values=[1, 2])
    assert (step(0), step(2)) == (1.0, 2.0)
    assert all(isinstance(step(t), float) for t in (0, 2))


@st.composite
def staircases(draw):
    boundaries = sorted(draw(st.sets(st.integers(1, 500), min_size=1, max_size=6)))
    values = draw(
        st.lists(
            st.floats(1e-6, 10.0),
            min_size=len(boundaries) + 1,
            max_size=len(boundaries) + 1,
        )
    )
    return boundaries, values


@settings(max_examples=80, deadline=None)
@given(staircases(), st.integers(0, 600))
def test_piecewise_step_is_values_k_between_boundaries_k_minus_1_and_k(staircase, t):
    # eta_t = values[k] for boundaries[k-1] <= t < boundaries[k], with boundaries[-1] = -inf
    # and boundaries[K] = +inf: k is the number of boundaries <= t.
    boundaries, values = staircase
    step = build("piecewise", boundaries=boundaries, values=values)
    k = sum(1 for b in boundaries if b <= t)
    lower = boundaries[k - 1] if k > 0 else -math.inf
    upper = boundaries[k] if k < len(boundaries) else math.inf
    assert lower <= t < upper
    assert step(t) == values[k]


@settings(max_examples=80, deadline=None)
@given(
    st.floats(1e-3, 1e3),
    st.floats(1e-3, 1e3),
    st.floats(0.01, 3.0),
    st.integers(0, 10**6),
)
def test_power_step_matches_its_formula_and_never_increases(a, b, p, t):
    step = build("power", a=a, b=b, p=p)
    assert step(t) == pytest.approx(a / (t + b) ** p, rel=1e-14)
    assert 0 < step(t + 1) <= step(t)


@settings(max_examples=80, deadline=None)
@given(st.floats(1e-3, 1e3), st.floats(1e-3, 1e3), st.integers(0, 10**6))
def test_harmonic_step_equals_power_step_with_p_1(a, b, t):
    harmonic = build("harmonic", a=a, b=b)
    assert harmonic(t) == pytest.approx(build("power", a=a, b=b, p=1.0)(t), rel=1e-15)
    assert harmonic(t) == pytest.approx(a / (t + b), rel=1e-15)
    assert 0 < harmonic(t + 1) < harmonic(t)


# --- diminishing (sum eta_t = inf, sum eta_t^2 < inf) -----------------------------------------


def test_harmonic_step_is_diminishing():
    assert build("harmonic", a=1.0).diminishing
    assert build("harmonic", a=0.01, b=100.0).diminishing


@pytest.mark.parametrize("p", [0.5000001, 0.6, 0.75, 1.0])
def test_power_step_with_p_in_half_open_half_to_one_is_diminishing(p):
    assert build("power", a=1.0, p=p).diminishing


@pytest.mark.parametrize("p", [0.1, 0.5, 1.0000001, 1.5, 2.0])
def test_power_step_with_p_outside_half_to_one_is_not_diminishing(p):
    # p <= 1/2: sum eta_t^2 = sum 1/t^(2p) diverges; p > 1: sum eta_t itself converges.
    assert not build("power", a=1.0, p=p).diminishing


@settings(max_examples=80, deadline=None)
@given(st.floats(1e-6, 10.0))
def test_power_step_is_diminishing_iff_half_is_below_p_and_p_at_most_1(p):
    assert build("power", a=1.0, p=p).diminishing == (0.5 < p <= 1.0)


def test_constant_and_piecewise_steps_are_not_diminishing():
    # Both end in a constant eta > 0: sum eta_t^2 diverges.
    assert not build("constant", eta=1e-6).diminishing
    assert not build("piecewise", boundaries=[5, 50], values=[1.0, 0.1, 1e-9]).diminishing


# --- errors name the full dotted key ----------------------------------------------------------


def test_an_unknown_schedule_names_the_schedule_key():
    with pytest.raises(ScenarioError) as err:
        build("cosine", eta=0.1)
    assert err.value.key == "protocol.step_size.schedule"
    assert err.value.value == "cosine"


@pytest.mark.parametrize("eta", [0, 0.0, -0.1, -1e-300, math.inf, math.nan])
def test_constant_step_rejects_eta_not_positive_and_finite(eta):
    assert error_key("constant", eta=eta) == "protocol.step_size.eta"


@pytest.mark.parametrize("eta", ["0.1", None, [0.1], True])
def test_constant_step_rejects_eta_that_is_not_a_number(eta):
    assert error_key("constant", eta=eta) == "protocol.step_size.eta"


def test_constant_step_requires_eta():
    assert error_key("constant") == "protocol.step_size.eta"


def test_an_unknown_parameter_is_named_by_its_key():
    assert error_key("constant", eta=0.1, p=2.0) == "protocol.step_size.p"


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"a": 0.0}, "a"),
        ({"a": -1.0}, "a"),
        ({"a": "1"}, "a"),
        ({"a": 1.0, "b": 0.0}, "b"),
        ({"a": 1.0, "b": -2.0}, "b"),
        ({"a": 1.0, "b": math.inf}, "b"),
        ({"b": 1.0}, "a"),
    ],
)
def test_harmonic_step_rejects_bad_parameters_by_key(params, key):
    assert error_key("harmonic", **params) == f"protocol.step_size.{key}"


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"a": 0.0}, "a"),
        ({"a": 1.0, "b": 0.0}, "b"),
        ({"a": 1.0, "p": 0.0}, "p"),
        ({"a": 1.0, "p": -0.5}, "p"),
        ({"a": 1.0, "p": math.nan}, "p"),
        ({"a": 1.0, "p": "1"}, "p"),
    ],
)
def test_power_step_rejects_bad_parameters_by_key(params, key):
    assert error_key("power", **params) == f"protocol.step_size.{key}"


@pytest.mark.parametrize(
    "boundaries",
    [[10, 10], [20, 10], [5, 10, 7], [], 10],
)
def test_piecewise_step_rejects_boundaries_that_are_not_strictly_increasing(boundaries):
    values = [1.0] * (len(boundaries) + 1 if isinstance(boundaries, list) else 2)
    key = error_key("piecewise", boundaries=boundaries, values=values)
    assert key == "protocol.step_size.boundaries"


@pytest.mark.parametrize(
    ("boundaries", "index"),
    [([0, 5], 0), ([-3], 0), ([5, 10.5], 1), ([5, "10"], 1), ([True, 5], 0)],
)
def test_piecewise_step_rejects_a_boundary_that_is_not_an_integer_at_least_1(boundaries, index):
    values = [1.0] * (len(boundaries) + 1)
    key = error_key("piecewise", boundaries=boundaries, values=values)
    assert key == f"protocol.step_size.boundaries[{index}]"


@pytest.mark.parametrize("values", [[1.0, 0.5], [1.0, 0.5, 0.1, 0.01], [], 0.5])
def test_piecewise_step_rejects_a_wrong_number_of_values(values):
    # Two boundaries need exactly three values.
    key = error_key("piecewise", boundaries=[10, 20], values=values)
    assert key == "protocol.step_size.values"


@pytest.mark.parametrize(
    ("values", "index"),
    [([1.0, 0.0, 0.1], 1), ([1.0, 0.5, -0.1], 2), (["1", 0.5, 0.1], 0), ([1.0, math.inf, 1], 1)],
)
def test_piecewise_step_rejects_a_value_that_is_not_a_positive_number(values, index):
    key = error_key("piecewise", boundaries=[10, 20], values=values)
    assert key == f"protocol.step_size.values[{index}]"


def test_piecewise_step_requires_both_lists():
    assert error_key("piecewise", values=[1.0, 0.5]) == "protocol.step_size.boundaries"
    assert error_key("piecewise", boundaries=[3]) == "protocol.step_size.values"


def test_scenario_error_message_names_the_key_and_the_value():
    with pytest.raises(ScenarioError) as err:
        build("constant", eta=-0.5)
    assert str(err.value).startswith("protocol.step_size.eta: ")
    assert "-0.5" in str(err.value)
