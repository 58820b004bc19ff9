"""Algorithm 1 with CE reaches x_H; without the filter it does not (CE paper, Fig. 2)."""

from __future__ import annotations

import numpy as np
import pytest
from builders import PAPER_A, second_instance_raw, silenced, small

import netsim
from netsim.engine import Decision
from netsim.simulation import simulate


def honest_optimum_by_normal_equations(A: list[np.ndarray], B: list[np.ndarray]) -> np.ndarray:
    """x_H from (sum A_i^T A_i) x = sum A_i^T B_i, independently of netsim's lstsq path."""
    gram = sum(a.T @ a for a in A)
    rhs = sum(a.T @ b for a, b in zip(A, B))
    return np.linalg.solve(gram, rhs)


def test_paper_ce_reaches_x_h_and_no_filter_does_not(paper_result):
    honest = list(range(1, 6))
    x_h = honest_optimum_by_normal_equations(
        [PAPER_A[i : i + 1] for i in honest], [PAPER_A[i : i + 1] @ np.ones(2) for i in honest]
    )
    np.testing.assert_allclose(x_h, [1.0, 1.0], atol=1e-12)  # B = A (1, 1) by construction
    ce, plain = paper_result.variants["CE"], paper_result.variants["no filter"]
    assert ce.estimates.shape == (301, 5, 2)
    final = np.linalg.norm(ce.estimates[-1] - x_h, axis=1)
    assert final.max() < 1e-6
    plain_worst = np.linalg.norm(plain.estimates - x_h, axis=2).max(axis=1)
    assert plain_worst[-1] >= 1e-1
    assert np.median(plain_worst[-100:]) >= 1e-1  # dragged around, not converging


def test_paper_ce_converges_linearly(paper_result):
    """Theorem 1: the error shrinks geometrically; by round 100 it is below 1e-6 and it keeps
    shrinking until machine precision (reference: ~1e-10 at 100 rounds, spec)."""
    worst = paper_result.variants["CE"].distances.max(axis=1)
    assert worst[100] < 1e-6 * worst[0]
    assert worst[50] < worst[10] < worst[0]


def test_second_instance_reaches_its_own_optimum():
    raw = second_instance_raw()
    A = [np.array(a) for a in raw["costs"]["A"]]
    B = [np.array(b) for b in raw["costs"]["B"]]
    honest = [i for i in range(7) if i not in (1, 4)]
    x_h = honest_optimum_by_normal_equations([A[i] for i in honest], [B[i] for i in honest])
    np.testing.assert_allclose(x_h, [2.0, -1.0, 0.5], atol=1e-10)
    result = netsim.run(netsim.parse_scenario(raw))
    (variant,) = result.variants.values()
    assert np.linalg.norm(variant.estimates[-1] - x_h, axis=1).max() < 1e-6
    plain = netsim.run(netsim.parse_scenario(raw).with_overrides({"protocol.filter": "none"}))
    (plain_variant,) = plain.variants.values()
    assert np.linalg.norm(plain_variant.estimates[-1] - x_h, axis=1).max() >= 1e-1


def test_estimates_stay_in_each_agents_argmin_set(paper_result):
    """Every update ends with the projection onto X_i: A_i x_i^t = B_i at every round."""
    ce = paper_result.variants["CE"]
    for column, agent in enumerate(ce.honest):
        residual = ce.estimates[:, column] @ PAPER_A[agent] - PAPER_A[agent] @ np.ones(2)
        assert np.abs(residual).max() < 1e-12


def test_ce_eliminates_exactly_f_values_per_honest_round(paper_result):
    """With every message in time, each honest receiver drops exactly f = 1 value a round."""
    messages = paper_result.messages
    assert messages is not None
    ce = messages["variant"] == "CE"
    to_honest = ce & (messages["receiver"] != 0)
    eliminated = to_honest & (messages["decision"] == Decision.ELIMINATED)
    pairs = {}
    for r, i in zip(messages["round"][eliminated], messages["receiver"][eliminated]):
        pairs[(r, i)] = pairs.get((r, i), 0) + 1
    assert len(pairs) == 300 * 5
    assert set(pairs.values()) == {1}
    # The no-filter method keeps everything.
    plain = (messages["variant"] == "no filter") & (messages["receiver"] != 0)
    assert np.all(messages["decision"][plain] == Decision.KEPT)


def test_ce_mostly_eliminates_the_byzantine_value(paper_result):
    """Uniform values on [-10, 10]^2 are almost always the farthest from an honest estimate."""
    messages = paper_result.messages
    ce = (messages["variant"] == "CE") & (messages["receiver"] != 0)
    from_byzantine = ce & messages["byzantine"]
    share = np.mean(messages["decision"][from_byzantine] == Decision.ELIMINATED)
    assert share > 0.9


@pytest.mark.parametrize("kind", ["nan", "inf", "-inf", "huge"])
@pytest.mark.parametrize("filter_name", ["ce", "none"])
def test_non_finite_byzantine_values_never_poison_honest_state(kind, filter_name):
    scenario = small(
        adversary={"kind": "non_finite", "value": kind},
        protocol__filter=filter_name,
        protocol__rounds=60,
    )
    result = netsim.run(scenario)
    (variant,) = result.variants.values()
    assert np.all(np.isfinite(variant.estimates))
    if kind != "huge":
        assert variant.summary["non_finite_received"] == 60 * 5  # every value to an honest agent
    if filter_name == "ce":
        # The Byzantine value is treated as absent (or is the farthest): CE still converges.
        assert variant.summary["final_distance"] < 1e-3


def test_silent_byzantine_without_deadline_is_refused_naming_the_deadline():
    with pytest.raises(netsim.ScenarioError) as err:
        small(adversary={"kind": "omission", "from_round": 3})
    assert err.value.key == "protocol.deadline"
    assert "withholds values from round 3" in str(err.value)
    small(adversary={"kind": "omission", "from_round": 3}, protocol__deadline=0.5)  # valid
    # Run anyway (as an attack of one's own that goes silent would): stopped, not hung.
    with pytest.raises(netsim.SimulationStalled) as err:
        simulate(silenced(small(), 3))
    assert err.value.key == "protocol.deadline"
    assert "round 3" in str(err.value)


def test_silent_byzantine_with_deadline_counts_as_eliminated_and_ce_converges():
    scenario = small(
        adversary={"kind": "omission", "from_round": 3},
        protocol__deadline=0.5,
        protocol__rounds=120,
    )
    result = netsim.run(scenario)
    (variant,) = result.variants.values()
    assert variant.summary["final_distance"] < 1e-6
    assert variant.summary["synchrony_violations"] == 0  # one absent sender = f
    assert variant.summary["deadline_rounds"] == (120 - 3) * 5
    messages = result.messages
    assert not np.any(messages["byzantine"] & (messages["round"] >= 3))


def test_default_step_size_is_the_plain_average():
    """Without [protocol.step_size], eta = 1/(n - f) (spec/ce.md choice)."""
    raw_scenario = small()
    raw = dict(raw_scenario.raw)
    raw["protocol"] = {k: v for k, v in raw["protocol"].items() if k != "step_size"}
    scenario = netsim.parse_scenario(raw)
    assert scenario.protocol.step_size(0) == pytest.approx(1 / 5)
    assert scenario.protocol.step_size(99) == pytest.approx(1 / 5)
