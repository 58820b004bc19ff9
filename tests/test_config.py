"""Bad input fails before the run, naming the dotted key, the value and the allowed range."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from builders import ROOT, is_grid, small, small_raw

import netsim


def error_for(raw) -> netsim.ScenarioError:
    with pytest.raises(netsim.ScenarioError) as err:
        netsim.parse_scenario(raw)
    return err.value


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        ({"network__f": 3}, "network.f", 3),  # 2f >= n
        ({"network__n": 1}, "network.n", 1),
        ({"network__byzantine": [6]}, "network.byzantine[0]", 6),
        ({"network__byzantine": [-1]}, "network.byzantine[0]", -1),
        ({"network__byzantine": [0, 0]}, "network.byzantine", [0, 0]),
        ({"network__delay": {"model": "constant", "value": -0.1}}, "network.delay.value", -0.1),
        (
            {"network__delay": {"model": "uniform", "low": 0.2, "high": 0.1}},
            "network.delay.high",
            0.1,
        ),
        ({"network__delay": {"model": "exponential", "mean": 0.0}}, "network.delay.mean", 0.0),
        (
            {"network__delay": {"model": "exponential", "mean": 0.1, "sigma": 1}},
            "network.delay.sigma",
            1,
        ),
        ({"network__delay": {"model": "warp"}}, "network.delay.model", "warp"),
        ({"network__compute_time": -1.0}, "network.compute_time", -1.0),
        ({"network__compute_time": [0.0, 1.0]}, "network.compute_time", 2),
        ({"network__speed": 3}, "network.speed", 3),
        ({"protocol__rounds": 0}, "protocol.rounds", 0),
        ({"protocol__deadline": -1.0}, "protocol.deadline", -1.0),
        ({"protocol__filter": "magic"}, "protocol.filter", "magic"),
        ({"protocol__absent": "maybe"}, "protocol.absent", "maybe"),
        ({"protocol__kind": "gossip"}, "protocol.kind", "gossip"),
        (
            {"protocol__step_size": {"schedule": "constant", "eta": -0.1}},
            "protocol.step_size.eta",
            -0.1,
        ),
        ({"protocol__x0": [[0.0, 0.0]]}, "protocol.x0", "a list of 1"),
        ({"adversary": {"kind": "random_uniform", "low": 1.0, "high": 0.0}}, "adversary.high", 0.0),
        ({"adversary": {"kind": "telepathy"}}, "adversary.kind", "telepathy"),
        ({"seed": -1}, "seed", -1),
        ({"engine": "quantum"}, "engine", "quantum"),
        ({"colour": "blue"}, "colour", "blue"),
    ],
)
def test_invalid_field_is_named_with_its_value(change, key, value):
    err = error_for(small_raw(**change))
    assert err.key == key
    assert err.value == value
    assert str(err).startswith(f"{key}: ")
    assert "allowed" in str(err) or "required" in str(err)


def test_f_too_large_message_says_the_rule():
    err = error_for(small_raw(network__f=3))
    assert "2f < n" in str(err)
    assert err.allowed == "0 <= f <= 2"


def test_cost_matrix_of_the_wrong_shape():
    raw = small_raw()
    raw["costs"]["A"][2] = [[0.5, 0.8, 1.0]]
    assert error_for(raw).key == "costs.A[2]"
    raw = small_raw()
    raw["costs"]["A"] = raw["costs"]["A"][:5]
    assert error_for(raw).key == "costs.A"
    raw = small_raw()
    raw["costs"]["B"][1] = [1.3, 2.0]
    assert error_for(raw).key == "costs.B[1]"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_cost_entries_are_rejected(bad):
    raw = small_raw()
    raw["costs"]["A"][3] = [[0.0, bad]]
    err = error_for(raw)
    assert err.key == "costs.A[3][0][1]"
    raw = small_raw()
    raw["costs"]["B"][4] = [bad]
    assert error_for(raw).key == "costs.B[4][0]"


def test_non_redundant_costs_are_refused_when_exactness_is_required():
    """Two honest agents share the line y = 1 but disagree elsewhere: subsets of n - 2f = 4
    honest agents have different minimizers (spec/redundancy.md)."""
    raw = small_raw()
    raw["costs"]["B"][5] = [0.0]  # agent 5's line no longer passes through (1, 1)
    raw["costs"]["require_redundancy"] = True
    err = error_for(raw)
    assert err.key == "costs"
    assert "not 2f-redundant" in str(err)
    raw["costs"]["require_redundancy"] = False
    netsim.parse_scenario(raw)  # allowed: users study what happens without redundancy


def test_an_invalid_variant_is_reported_before_anything_runs():
    raw = small_raw()
    raw["variants"] = [{"name": "ok"}, {"name": "bad", "protocol.rounds": -5}]
    err = error_for(raw)
    assert err.key == "variants[bad].protocol.rounds"


def test_overrides_are_validated_again():
    scenario = small()
    assert scenario.with_overrides({"protocol.rounds": 7}).protocol.rounds == 7
    with pytest.raises(netsim.ScenarioError) as err:
        scenario.with_overrides({"network.f": 4})
    assert err.value.key == "network.f"
    with pytest.raises(netsim.ScenarioError) as err:
        scenario.with_overrides({"network.nope": 1})
    assert err.value.key == "network.nope"


def test_derived_defaults_follow_their_inputs():
    """The default deadline is the delay bound plus compute time; eta defaults to 1/(n - f)."""
    scenario = small(
        network__delay={"model": "uniform", "low": 0.0, "high": 0.05}, network__compute_time=0.01
    )
    assert scenario.protocol.deadline == pytest.approx(0.06)
    assert small().protocol.deadline is None  # exponential delays are unbounded
    raw = small_raw()
    del raw["protocol"]["step_size"]
    scenario = netsim.parse_scenario(raw)
    assert scenario.protocol.step_size(3) == pytest.approx(1 / 5)
    bigger = scenario.with_overrides({"network.f": 2, "network.byzantine": [0, 1]})
    assert bigger.protocol.step_size(3) == pytest.approx(1 / 4)


def test_every_shipped_scenario_is_valid():
    files = [p for p in sorted(Path(ROOT, "scenarios").glob("*.toml")) if not is_grid(p)]
    assert files
    for path in files:
        scenario = netsim.load_scenario(path)
        assert scenario.name == path.stem


def test_scenario_is_frozen():
    scenario = small()
    with pytest.raises(AttributeError):
        scenario.seed = 3  # type: ignore[misc]


def test_a_variant_can_be_picked_by_name():
    scenario = netsim.load_scenario(ROOT / "scenarios" / "ce_paper_fig2.toml")
    assert scenario.variant("no filter").protocol.filter == "none"
    assert scenario.variant("CE").protocol.filter == "ce"
    with pytest.raises(netsim.ScenarioError) as err:
        scenario.variant("nope")
    assert err.value.key == "variants"


def test_copy_tree_is_an_independent_deep_copy_of_parsed_data():
    # The parser copies a scenario before filling defaults: the copy must equal the input and
    # share no dict or list with it (so the caller's dict is never changed), whatever nests.
    import copy

    from netsim.config import copy_tree

    raw = {
        "costs": {"A": [[[1.0, 2.0], [3.0, 4.0]], [[0.5, -1.0]]], "B": [[1.0, 2.0], [3.0]]},
        "network": {"byzantine": [0], "delay": {"model": "exponential", "mean": 0.01}},
        "name": "x",
        "seed": 3,
        "trace": None,
        "ids": (1, 2),
    }
    copied = copy_tree(raw)
    assert copied == copy.deepcopy(raw) == raw
    copied["costs"]["A"][0][0][0] = 99.0
    copied["network"]["byzantine"].append(1)
    copied["costs"]["B"][1].append(4.0)
    assert raw["costs"]["A"][0][0][0] == 1.0
    assert raw["network"]["byzantine"] == [0]
    assert raw["costs"]["B"][1] == [3.0]
