"""The fast engine gives the reference's CGC run, bit for bit: synchronous and asynchronous.

Equivalence: hypothesis draws small server scenarios (n, f, d, delay model, loss, deadline,
partial synchrony, compute times, attack, mode, trigger, agent queue, staleness bound,
step-size schedule, seed) and the reference, the fast engine (round by round where it applies)
and the fast event engine alone must give the same server estimate and completion time at
every round, the same message columns (arrival times, decisions), the same staleness records,
summary and trace hash -- or stop with the same error. The helpers are those of
tests/test_fast_engine.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from builders import ROOT, cgc, cgc_raw
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_fast_engine import ATTACKS, COMPOSITES, DELAYS, assert_same_run, fast, run_both

import netsim
from netsim.costs import CHECK_ROWS, LeastSquares, aggregate_optimum
from netsim.delays import DELAY_MODELS
from netsim.engine.network import Link
from netsim.errors import ScenarioError, SimulationStalled
from netsim.fast import unsupported
from netsim.fast.draws import DelayPlan
from netsim.fast.server_draws import ReplyDraws, reply_delays
from netsim.fast.server_gradients import StackedGradients
from netsim.fast.server_layered import LayeredServerEngine
from netsim.fast.server_run import run_server
from netsim.rng import SERVER
from netsim.simulation import simulate

STEPS = [
    {"schedule": "harmonic", "a": 0.05, "b": 2.0},
    {"schedule": "power", "a": 0.05, "b": 1.0, "p": 0.75},
    {"schedule": "piecewise", "boundaries": [3], "values": [0.03, 0.01]},
    {"schedule": "constant", "eta": 0.02},
]


@st.composite
def server_scenarios(draw, mode: str | None = None, waits: bool = False) -> netsim.Scenario:
    """A small server scenario; ``waits``: a synchronous server that waits for every reply
    (no deadline, no loss, no omission, no declared partial synchrony)."""
    n = draw(st.integers(4, 8))
    f = draw(st.integers(0, (n - 1) // 2))
    byzantine = draw(st.lists(st.integers(0, n - 1), max_size=f, unique=True))
    d = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    w_star = rng.normal(size=d)
    A = [rng.normal(size=(2, d)) for _ in range(n)]
    mode = mode or draw(st.sampled_from(["sync", "async"]))
    proto: dict = {
        "kind": "cgc",
        "mode": mode,
        "rounds": draw(st.integers(3, 12)),
        "filter": draw(
            st.sampled_from(["cgc", "cgc", "none", "cge", "median", "krum", "bucketing(s=2)+cge"])
        ),
        "x0": rng.normal(size=d).tolist(),
        "step_size": draw(st.sampled_from(STEPS)),
        "require_diminishing": False,
        "agent_queue": draw(st.sampled_from(["latest", "fifo"])),
        "server_compute_time": draw(st.sampled_from([0.0, 0.004])),
    }
    raw: dict = {
        "name": "hyp",
        "seed": draw(st.integers(0, 2**31)),
        "engine": "reference",  # the side the fast engine is compared with
        "network": {"n": n, "f": f, "byzantine": byzantine, "delay": draw(DELAYS)},
        "costs": {"A": [a.tolist() for a in A], "B": [(a @ w_star).tolist() for a in A]},
        "protocol": proto,
        "trace": True,
    }
    deadline = None if waits else draw(st.sampled_from([None, 0.008, 0.015, 0.04]))
    if mode == "async":
        proto["trigger"] = draw(st.sampled_from(["deadline", "quorum"]))
        if proto["trigger"] == "deadline" and deadline is None:
            deadline = 0.02
        if draw(st.booleans()):
            proto["staleness_bound"] = draw(st.sampled_from([0, 1, 3]))
            proto["on_staleness"] = draw(st.sampled_from(["warn", "error"]))
    if deadline is not None:
        proto["deadline"] = deadline
    if deadline is not None and draw(st.booleans()):
        raw["network"]["loss"] = draw(st.sampled_from([0.05, 0.3]))
    if draw(st.booleans()):
        raw["network"]["compute_time"] = draw(
            st.sampled_from([0.002, ([0.0, 0.03] * n)[:n], ([0.001, 0.0, 0.05] * n)[:n]])
        )
    if not waits and draw(st.booleans()):  # (a declared Delta sets a default deadline)
        raw["network"]["asynchrony"] = {"gst": draw(st.sampled_from([0.0, 0.05])), "delta": 0.012}
        if draw(st.booleans()):
            raw["network"]["asynchrony"]["on_violation"] = "error"
    if byzantine:
        attacks = [a for a in ATTACKS if not waits or a["kind"] != "omission"]
        attack = dict(draw(st.sampled_from(attacks)))
        if draw(st.booleans()):
            attack["delivery"] = "last_moment"
        raw["adversary"] = attack
    try:
        return netsim.parse_scenario(raw)
    except ScenarioError:
        assume(False)
        raise


def runs_of(scenario: netsim.Scenario) -> list:
    """The fast engine as users call it, and its event engine alone."""
    return [
        lambda: simulate(fast(scenario)),
        lambda: run_server(fast(scenario), None, None, layered=False),
    ]


def staleness_warnings(caught: list) -> list[str]:
    return [str(w.message) for w in caught if "staleness_bound" in str(w.message)]


def check_equivalent(scenario: netsim.Scenario) -> None:
    """Reference vs both fast paths: the same run, or the same error, and the same staleness
    warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reference = simulate(scenario)
        except (SimulationStalled, ScenarioError) as err:
            for run in runs_of(scenario):
                with pytest.raises(type(err)) as raised:
                    run()
                assert str(raised.value) == str(err)
            return
    expected_warnings = staleness_warnings(caught)
    _, batched = run_both(scenario)
    assert_same_run(reference, batched)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = runs_of(scenario)[1]()
    assert staleness_warnings(caught) == expected_warnings
    assert_same_run(reference, events)


@pytest.mark.filterwarnings("ignore:Theorem 2 does not cover")
@pytest.mark.filterwarnings("ignore:protocol.staleness_bound")
@given(server_scenarios())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_cgc_runs_are_identical_on_both_engines(scenario):
    check_equivalent(scenario)


@pytest.mark.filterwarnings("ignore:Theorem 2 does not cover")
@pytest.mark.filterwarnings("ignore:protocol.staleness_bound")
@given(server_scenarios(mode="async"))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_asynchronous_cgc_runs_are_identical_on_both_engines(scenario):
    check_equivalent(scenario)


# --- which path runs -------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Theorem 2 does not cover")
@given(server_scenarios(mode="sync", waits=True))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_synchronous_cgc_without_deadline_runs_round_by_round(scenario):
    """Without a deadline the server waits for every reply, so every agent has finished round t
    before round t + 1 starts: the layered engine must not hand the run to the event engine
    (it may only stop where the run stalls or a bound violation stops it)."""
    honest = [scenario.costs.costs[i] for i in scenario.network.honest]
    engine = LayeredServerEngine(fast(scenario), aggregate_optimum(honest).point)
    engine.run()  # raises NotLayered otherwise
    reference = simulate(scenario)
    assert np.array_equal(engine.estimates[: engine.completed + 1], reference.estimates)


def test_asynchronous_cgc_no_longer_falls_back():
    scenario = netsim.load_scenario(ROOT / "scenarios" / "cgc_async.toml")
    for _, variant in scenario.runs():
        assert unsupported(fast(variant)) is None


# --- shipped scenarios and invariants ----------------------------------------------------------


@pytest.mark.filterwarnings("ignore:protocol.staleness_bound")
@pytest.mark.parametrize("path", ["cgc_async.toml", "cgc_sync.toml", "cgc_no_redundancy.toml"])
def test_shipped_cgc_scenarios_give_the_same_runs(path):
    scenario = netsim.load_scenario(ROOT / "scenarios" / path)
    reference = netsim.run(scenario.with_overrides({"engine": "reference"}))
    batched = netsim.run(scenario.with_overrides({"engine": "fast"}))
    assert batched.summary["trace_hash"] == reference.summary["trace_hash"]
    assert batched.summary["variants"] == reference.summary["variants"]
    for name, variant in reference.variants.items():
        assert np.array_equal(variant.estimates, batched.variants[name].estimates)
        if variant.staleness is not None:
            assert np.array_equal(variant.staleness, batched.variants[name].staleness)


@pytest.mark.parametrize("trigger", ["deadline", "quorum"])
@pytest.mark.parametrize("queue", ["latest", "fifo"])
def test_the_straggler_scenario_is_identical_on_both_triggers(trigger, queue):
    """An agent 20 times slower than the others: stale gradients and a growing backlog."""
    changes = {
        "protocol__mode": "async",
        "protocol__trigger": trigger,
        "protocol__deadline": 0.015,
        "protocol__agent_queue": queue,
        "protocol__step_size": {"schedule": "harmonic", "a": 0.05, "b": 2.0},
        "protocol__staleness_bound": 4,
        "network__compute_time": [0.002, 0.002, 0.002, 0.04, 0.002, 0.002],
        "protocol__rounds": 60,
        "trace": True,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference, batched = run_both(cgc(**changes))
    assert_same_run(reference, batched)
    staleness = batched.staleness
    rounds = np.arange(len(staleness))[:, None]
    assert np.all(staleness <= rounds)  # s_i(t) >= 0
    assert staleness[:, 3].max() > 0  # the straggler is stale


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_staleness_records_follow_the_mode(mode):
    """Sync: an agent's gradient is fresh (0) or absent (-1). Async with the quorum trigger and
    finite replies: at every round at least n - f agents' latest gradient answers w_t."""
    changes = {"protocol__mode": mode, "protocol__rounds": 40, "network__byzantine": []}
    changes["adversary"] = None
    if mode == "async":
        changes.update(
            protocol__trigger="quorum",
            protocol__step_size={"schedule": "harmonic", "a": 0.05, "b": 2.0},
        )
    else:
        changes.update(protocol__deadline=0.012, network__loss=0.2)
    raw = cgc_raw(**changes)
    raw.pop("adversary")
    scenario = netsim.parse_scenario(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference, batched = run_both(scenario)
    assert_same_run(reference, batched)
    staleness = batched.staleness
    if mode == "sync":
        assert set(np.unique(staleness)) <= {-1, 0}
        assert (staleness == -1).any()  # loss and the deadline leave gaps
    else:
        n, f = scenario.network.n, scenario.network.f
        assert np.all((staleness == 0).sum(axis=1) >= n - f)


def test_a_staleness_error_stops_both_engines_at_the_same_round():
    scenario = cgc(
        protocol__mode="async",
        protocol__trigger="quorum",
        protocol__step_size={"schedule": "harmonic", "a": 0.05, "b": 2.0},
        protocol__staleness_bound=1,
        protocol__on_staleness="error",
        network__compute_time=[0.001, 0.001, 0.001, 0.05, 0.001, 0.001],
    )
    with pytest.raises(ScenarioError) as reference:
        simulate(scenario)
    for run in runs_of(scenario):
        with pytest.raises(type(reference.value)) as batched:
            run()
        assert str(batched.value) == str(reference.value)


# --- the reply links ---------------------------------------------------------------------------


@pytest.mark.parametrize("table", [*COMPOSITES, {"model": "exponential", "mean": 0.01}])
@pytest.mark.parametrize("loss", [0.0, 0.3])
def test_reply_draws_equal_each_links_own_draws(table, loss):
    """Agent i's k-th reply takes the k-th message of link i -> server (the reference's Link),
    whichever agents reply together."""
    params = dict(table)
    model = DELAY_MODELS.build(params.pop("model"), params, "network.delay").for_network(3, 5)
    plan = DelayPlan(model)
    draws = ReplyDraws(plan, 5, 3, loss=loss, horizon=7)
    links = {i: Link(model, 5, i, SERVER) for i in range(3)}
    pattern = [[0, 1, 2], [1], [0, 2], [2, 1, 0], [0], [0, 1, 2], [1, 2]]
    for step, agents in enumerate(pattern):
        senders = np.array(sorted(agents))
        send_times = 0.3 * step + 0.01 * senders
        leaf, lost = draws.next(senders)
        delays = reply_delays(plan, leaf, senders, send_times)
        for k, i in enumerate(senders.tolist()):
            assert delays[k] == links[i].next_delay(float(send_times[k]))
            if loss:
                assert lost[k] == links[i].next_lost(loss)


# --- the stacked gradients -------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 30),
    m=st.integers(1, 4),
    d=st.integers(1, 12),
)
@settings(max_examples=40, deadline=None)
def test_stacked_gradients_equal_each_costs_own_gradient(seed, n, m, d):
    """Bit for bit grad Q_i(w) = 2 A_i^T (A_i w - B_i), over shapes (two per run) and scales."""
    rng = np.random.default_rng(seed)
    shapes = [(m, d), (m + 1, d)]
    costs = []
    for i in range(n):
        A = rng.normal(size=shapes[i % 2]) * 10.0 ** rng.integers(-3, 4)
        costs.append(LeastSquares(A, rng.normal(size=A.shape[0])))
    stacked = StackedGradients(costs, d)
    for _ in range(3):
        w = rng.normal(size=d) * 10.0 ** rng.integers(-3, 4)
        gradients = stacked(w)
        expected = np.array([cost.gradient(w) for cost in costs])
        assert np.array_equal(gradients.view(np.uint64), expected.view(np.uint64))
    assert stacked.stacked  # the guard found no difference


def test_stacked_gradients_turn_to_one_by_one_if_a_bit_differs(monkeypatch):
    rng = np.random.default_rng(1)
    costs = [LeastSquares(rng.normal(size=(2, 3)), rng.normal(size=2)) for _ in range(4)]
    stacked = StackedGradients(costs, 3)
    monkeypatch.setattr(stacked, "_stack", lambda w: np.zeros((4, 3)))
    w = rng.normal(size=3)
    assert np.array_equal(stacked(w), [cost.gradient(w) for cost in costs])
    assert not stacked.stacked


def test_the_guard_recomputes_a_bounded_sample_with_the_first_and_last_rows(monkeypatch):
    rng = np.random.default_rng(3)
    costs = [LeastSquares(rng.normal(size=(2, 3)), rng.normal(size=2)) for _ in range(50)]
    stacked = StackedGradients(costs, 3)
    w = rng.normal(size=3)
    right = stacked._stack(w)
    wrong = right.copy()
    wrong[-1] += 1.0  # only the last agent's gradient differs
    recomputed = []
    one_by_one = stacked._one_by_one
    monkeypatch.setattr(stacked, "_stack", lambda w: wrong.copy())
    monkeypatch.setattr(
        stacked, "_one_by_one", lambda w, rows=None: recomputed.append(rows) or one_by_one(w, rows)
    )
    assert np.array_equal(stacked(w), right)  # caught: the full one-by-one result
    assert not stacked.stacked
    sample = recomputed[0]
    assert len(sample) == CHECK_ROWS and sample[0] == 0 and sample[-1] == 49
    assert recomputed[1] is None  # then every row, one by one
