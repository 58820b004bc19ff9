"""Both protocols take any filter of the library by name; the update rule of each is the one
the protocol modules document."""

from __future__ import annotations

import numpy as np
import pytest
from builders import PAPER, PAPER_A, cgc, small

import netsim
from netsim.config import PEER_RULES, SERVER_RULES
from netsim.engine import Decision


def only(result):
    (variant,) = result.variants.values()
    return variant


NEEDS_MORE_AGENTS = {"bulyan"}  # k >= 4f + 3: 7 inputs with f = 1, more than n = 6 gives


@pytest.mark.parametrize("rule", sorted(NEEDS_MORE_AGENTS))
def test_a_rule_whose_condition_fails_is_refused_naming_the_filter(rule):
    with pytest.raises(netsim.ScenarioError, match=r"needs k >= 4f \+ 3 \(got k=5, f=1") as err:
        small(protocol__filter=rule)
    assert err.value.key == "protocol.filter"
    with pytest.raises(netsim.ScenarioError, match=r"\(got k=6, f=1"):
        cgc(protocol__filter=rule)


def test_bulyan_runs_where_its_condition_holds():
    """n = 10, f = 1: each peer has k = 9 >= 7 inputs; the server, without faults, k = 6 >= 3."""
    scenario = netsim.load_scenario(PAPER.parent / "ce_partial_synchrony.toml").with_overrides(
        {"protocol.filter": "bulyan", "protocol.rounds": 20, "variants": []}
    )
    assert np.all(np.isfinite(only(netsim.run(scenario)).estimates))
    faultless = cgc(
        protocol__filter="bulyan", protocol__rounds=20, network__f=0, network__byzantine=[]
    )
    assert np.all(np.isfinite(only(netsim.run(faultless)).estimates))


@pytest.mark.parametrize("rule", [r for r in PEER_RULES if r not in NEEDS_MORE_AGENTS])
def test_every_peer_filter_runs_and_its_decisions_are_recorded(rule):
    result = netsim.run(small(protocol__filter=rule, protocol__rounds=40))
    variant, m = only(result), result.messages
    assert np.all(np.isfinite(variant.estimates))
    to_honest = m["receiver"] != 0
    assert np.all(
        np.isin(m["decision"][to_honest], [Decision.KEPT, Decision.ELIMINATED, Decision.CLIPPED])
    )


@pytest.mark.parametrize("rule", [r for r in SERVER_RULES if r not in NEEDS_MORE_AGENTS])
def test_every_server_filter_runs_and_its_decisions_are_recorded(rule):
    result = netsim.run(
        cgc(protocol__filter=rule, protocol__rounds=40, adversary={"kind": "random_uniform"})
    )
    variant = only(result)
    assert np.all(np.isfinite(variant.estimates))
    replies = result.messages["receiver"] == -1
    assert set(np.unique(result.messages["decision"][replies])) <= {
        Decision.KEPT,
        Decision.ELIMINATED,
        Decision.CLIPPED,
        Decision.LATE,
    }


def test_mean_style_peer_update_is_the_documented_rule():
    """One round, constant delays, median filter: agent i moves to
    [x_i + eta (n - 1 - f) (median of what it received - x_i)]_{X_i}, computed here by hand
    from the round-0 points (the minimum-norm points of each line A_i x = B_i) and the values
    the Byzantine agent sent (re-drawn from its documented stream)."""
    from netsim.adversaries import RandomUniform, View
    from netsim.rng import adversary_stream

    eta = 0.1
    scenario = small(
        protocol__filter="median",
        protocol__rounds=1,
        network__delay={"model": "constant", "value": 0.01},
        protocol__step_size={"schedule": "constant", "eta": eta},
    )
    variant = only(netsim.run(scenario))
    B = PAPER_A @ np.ones(2)
    x0 = {i: PAPER_A[i] * B[i] / (PAPER_A[i] @ PAPER_A[i]) for i in range(1, 6)}
    view = View(round=0, now=0.0, dim=2, honest_sent={}, honest_latest={})
    for column, i in enumerate(range(1, 6)):
        byzantine = RandomUniform().value(0, i, 0, view, adversary_stream(7, 0, i))
        received = np.array([byzantine] + [x0[j] for j in range(1, 6) if j != i])
        z = x0[i] + eta * (6 - 1 - 1) * (np.median(received, axis=0) - x0[i])
        a, b = PAPER_A[i], B[i]
        expected = z - a * (a @ z - b) / (a @ a)
        np.testing.assert_allclose(variant.estimates[1, column], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("protocol", ["ce", "cgc"])
def test_a_filter_whose_n_f_condition_fails_is_refused_before_the_run(protocol):
    """n = 4, f = 1: 2f < n holds, but multi-Krum needs k > 2f + 2 = 4 inputs; a peer receives
    k = n - 1 = 3, the server k = n = 4."""
    scenario = (small if protocol == "ce" else cgc)(protocol__filter="multi_krum")
    raw = dict(scenario.raw)
    raw["network"] = {**raw["network"], "n": 4, "byzantine": [0]}
    raw["costs"] = {"A": raw["costs"]["A"][:4], "B": raw["costs"]["B"][:4]}
    with pytest.raises(netsim.ScenarioError) as err:
        netsim.parse_scenario(raw)
    assert err.value.key == "protocol.filter"
    assert "2f + 2" in str(err.value)


def test_peer_and_server_refuse_each_others_filters():
    with pytest.raises(netsim.ScenarioError) as err:
        small(protocol__filter="cgc")
    assert err.value.key == "protocol.filter"
    with pytest.raises(netsim.ScenarioError) as err:
        cgc(protocol__filter="ce")
    assert err.value.key == "protocol.filter"
