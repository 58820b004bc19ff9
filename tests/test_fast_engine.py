"""The fast engine (netsim/fast) gives the reference engine's run, bit for bit.

Equivalence: hypothesis draws small scenarios (n, f, d, delay model, loss, deadline, absent
policy, compute time, partial synchrony, attack, protocol, filter, seed) and both engines must
return the same estimates and completion times at every round, the same message trace and
summary, and the same trace hash. No tolerance is needed anywhere: the fast engine reproduces
the reference's floating-point operations in the reference's order (see netsim/fast/
peer_update.py for the one place where that needs care, the stacked sums).
"""

from __future__ import annotations

import math
import os
import signal
import warnings

import numpy as np
import pytest
from builders import PAPER, ROOT, cgc, silenced, small, small_raw
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import netsim
from netsim import philox
from netsim.adversaries import ADVERSARIES
from netsim.delays import DELAY_MODELS
from netsim.engine.network import Link
from netsim.engine.trace import Decision
from netsim.errors import ScenarioError, SimulationStalled
from netsim.fast import simulate_fast
from netsim.fast.draws import DelayPlan, LinkDraws
from netsim.fast.peer_update import peer_step
from netsim.fast.results import run_peer
from netsim.filters import comparative_elimination
from netsim.portable import ordered_sum
from netsim.rng import LINK, LOSSES, SERVER, link_stream
from netsim.simulation import simulate

FAST = {"engine": "fast"}


def fast(scenario: netsim.Scenario) -> netsim.Scenario:
    return scenario.with_overrides(FAST)


def assert_same_run(reference, batched) -> None:
    """The reference's run and another engine's: :func:`assert_same_outputs`."""
    assert reference.engine == "reference"  # never the default (auto) by accident
    assert_same_outputs(reference, batched)


def assert_same_outputs(reference, batched) -> None:
    """Same estimates, times, messages, summary (trace hash included), staleness."""
    assert reference.nodes == batched.nodes
    assert np.array_equal(reference.times, batched.times)
    assert np.array_equal(reference.estimates, batched.estimates, equal_nan=True)
    assert np.array_equal(reference.distances, batched.distances, equal_nan=True)
    assert reference.messages.keys() == batched.messages.keys()
    for name, column in reference.messages.items():
        assert column.dtype == batched.messages[name].dtype, name
        assert np.array_equal(column, batched.messages[name], equal_nan=True), name
    assert reference.summary == batched.summary
    if reference.staleness is None:
        assert batched.staleness is None
    else:
        assert np.array_equal(reference.staleness, batched.staleness)


def run_both(scenario: netsim.Scenario):
    """Both engines on ``scenario``; the fast one must not fall back to the reference."""
    reference = simulate(scenario)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batched = simulate(fast(scenario))
    assert not [w for w in caught if 'engine = "fast"' in str(w.message)]
    return reference, batched


# --- the streams ----------------------------------------------------------------------------


LEAF_MODELS = [
    ("constant", {"value": 0.004}),
    ("uniform", {"low": 0.001, "high": 0.02}),
    ("exponential", {"mean": 0.01}),
    ("lognormal", {"median": 0.01, "sigma": 0.8}),
    ("pareto", {"scale": 0.01, "shape": 2.5}),
]


@pytest.mark.parametrize(("name", "params"), LEAF_MODELS)
def test_a_batch_of_k_draws_equals_k_single_draws(name, params):
    """What batching relies on: a leaf reads one uniform per message (none for a constant),
    and K at once give the numbers of K single draws, transformed by ``from_uniforms``."""
    model = DELAY_MODELS.build(name, params, "network.delay")
    one, many = link_stream(11, 0, 1), link_stream(11, 0, 1)
    singles = [model.delay(one, 0, 1, 0.0) for _ in range(500)]
    assert np.array_equal(model.sample(many, 500), singles)
    assert one.position == many.position == (0 if name == "constant" else 500)
    direct = model.from_uniforms(philox.uniforms(11, LINK, 0, 1, np.arange(500))[0])
    assert np.array_equal(direct, singles)


def test_a_batch_of_loss_draws_equals_single_draws():
    """The loss decision of message k is the second uniform of the link's counter k."""
    one, many = link_stream(3, 2, 4, LOSSES), link_stream(3, 2, 4, LOSSES)
    singles = [one.random() for _ in range(300)]
    assert np.array_equal(many.random(300), singles)
    assert np.array_equal(philox.uniforms(3, LINK, 2, 4, np.arange(300))[1], singles)


COMPOSITES = [
    {"model": "matrix", "plane": 0.02, "jitter": {"model": "exponential", "mean": 0.003}},
    {"model": "matrix", "base": [[0.0, 0.011, 0.012], [0.013, 0.0, 0.014], [0.015, 0.016, 0.0]]},
    {
        "model": "stragglers",
        "agents": [1],
        "factor": 3,
        "base": {"model": "uniform", "low": 0.001, "high": 0.002},
    },
    {
        "model": "profile",
        "times": [0.5],
        "multipliers": [1, 7],
        "base": {"model": "lognormal", "median": 0.01, "sigma": 0.5},
    },
]


@pytest.mark.parametrize("table", COMPOSITES)
@pytest.mark.parametrize("loss", [0.0, 0.3])
def test_honest_link_draws_equal_the_links_own_draws(table, loss):
    """A sender's draws on every link at once (delays and losses) equal the reference Link's,
    message by message; so do the stacked rows of several senders and per-link message
    numbers (a Byzantine sender's links advance separately)."""
    params = dict(table)
    model = DELAY_MODELS.build(params.pop("model"), params, "network.delay").for_network(3, 5)
    plan = DelayPlan(model)
    draws = LinkDraws(plan, 5, range(3), loss=loss, horizon=7)
    expected = np.zeros((3, 7, 3))
    for sender in range(3):
        links = {j: Link(model, 5, sender, j) for j in range(3) if j != sender}
        for round in range(7):
            send_time = 0.3 * round
            leaf, lost = draws.draws(sender, round)
            expected[sender, round] = leaf
            delays = plan.delays(leaf, sender, np.arange(3), send_time)
            for j, link in links.items():
                assert delays[j] == link.next_delay(send_time)
                if loss:
                    assert lost[j] == link.next_lost(loss)
    for round in range(7):
        rows, _ = draws.rows(np.arange(3), round)
        others = ~np.eye(3, dtype=bool)
        assert np.array_equal(rows[others], expected[:, round][others])
    index = np.array([4, 0, 6])
    leaf, _ = draws.indexed(1, index, np.array([True, False, True]))
    assert leaf[0] == expected[1, 4, 0] and leaf[2] == expected[1, 6, 2]


def test_link_draws_are_the_same_through_any_window(monkeypatch):
    """Windows of one message number (the smallest), or none at all (links whose message numbers
    lie far apart), give the draws of the reference's Link."""
    import netsim.fast.draws as draws_module

    model = DELAY_MODELS.build("exponential", {"mean": 0.01}, "network.delay")
    plan = DelayPlan(model)
    expected = {}
    for j in range(4):
        link = Link(model, 9, 2, j)
        expected[j] = [link.next_delay(0.0) for _ in range(12)]
    for floats in (16, 1 << 22):  # 16 // 4^2: a window of one message number
        monkeypatch.setattr(draws_module, "WINDOW_FLOATS", floats)
        draws = LinkDraws(plan, 9, range(4), loss=0.0, horizon=12)
        for round in range(12):
            leaf, _ = draws.draws(2, round)
            assert all(leaf[j] == expected[j][round] for j in (0, 1, 3))
        index = np.array([11, 0, 5, 3])  # spread 11: direct draws when the window is small
        leaf, _ = draws.indexed(2, index, np.array([True, True, False, True]))
        assert [leaf[j] for j in (0, 1, 3)] == [expected[0][11], expected[1][0], expected[3][3]]


def test_a_lone_sender_gets_the_whole_window(monkeypatch):
    """The CGC server is the only sender on its links (``senders=1``): its window holds
    WINDOW_FLOATS // n message numbers, not WINDOW_FLOATS // n^2 (the budget of n CE senders),
    so 12 rounds to n = 4 receivers with a budget of 16 floats are 3 computations (4 message
    numbers each) instead of 12 (1 each); the draws are the same either way."""
    import netsim.fast.draws as draws_module

    monkeypatch.setattr(draws_module, "WINDOW_FLOATS", 16)
    plan = DelayPlan(DELAY_MODELS.build("exponential", {"mean": 0.01}, "network.delay"))
    calls = {"computed": 0}
    original = LinkDraws._compute

    def counted(self, senders, index):
        calls["computed"] += 1
        return original(self, senders, index)

    monkeypatch.setattr(LinkDraws, "_compute", counted)
    rows = {}
    for senders, expected_calls in ((None, 12), (1, 3)):
        calls["computed"] = 0
        draws = LinkDraws(plan, 9, range(4), loss=0.0, horizon=12, senders=senders)
        rows[senders] = [draws.draws(SERVER, round)[0].copy() for round in range(12)]
        assert calls["computed"] == expected_calls
    assert all(np.array_equal(a, b) for a, b in zip(rows[None], rows[1]))


def test_an_invalid_draw_raises_only_where_a_message_uses_it(monkeypatch):
    """A window found all valid when computed is not checked again; one with an invalid draw is
    checked where it is used, as the reference checks each message's draw: a NaN on the link
    of a sender to itself (no message) raises nothing, on a used link a ScenarioError naming
    network.delay, through ``draws``, ``rows`` and ``indexed`` alike."""
    from netsim.delays import Exponential

    plan = DelayPlan(DELAY_MODELS.build("exponential", {"mean": 0.01}, "network.delay"))
    original = Exponential.from_uniforms
    poisoned = {"column": 1}

    def from_uniforms(self, u):  # NaN on every message to receiver ``column``
        out = original(self, u)
        out[..., poisoned["column"]] = np.nan
        return out

    monkeypatch.setattr(Exponential, "from_uniforms", from_uniforms)
    draws = LinkDraws(plan, 3, range(4), loss=0.0, horizon=6)
    for round in range(6):
        leaf, _ = draws.draws(1, round)  # sender 1: its NaN link to itself is never used
        assert np.isnan(leaf[1]) and np.all(np.isfinite(leaf[[0, 2, 3]]))
    leaf, _ = draws.indexed(1, np.array([2, 0, 5, 1]), np.array([True, False, True, True]))
    assert np.isnan(leaf[1])
    for call in (
        lambda: draws.draws(2, 0),  # sender 2 -> receiver 1
        lambda: draws.indexed(2, np.array([0, 3, 0, 0]), np.array([True, True, False, True])),
        lambda: draws.rows(np.arange(4), 0),  # every sender but 1 sends to 1
    ):
        with pytest.raises(ScenarioError) as err:
            call()
        assert err.value.key == "network.delay"


# --- the stacked CE step --------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**31),
    batch=st.integers(1, 5),
    n=st.integers(2, 40),
    d=st.integers(1, 12),
    f=st.integers(0, 5),
)
@settings(max_examples=40, deadline=None)
def test_the_stacked_ce_step_equals_the_reference_filter_and_sum(seed, batch, n, d, f):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-4, 4, size=(batch, n, 1))
    values = rng.normal(size=(batch, n, d)) * scale
    own = rng.normal(size=(batch, d))
    present = rng.random((batch, n)) < 0.8
    stale = present & (rng.random((batch, n)) < 0.3)
    eta = [0.1] * batch
    step = peer_step("ce", own, values, present, stale, eta, n, f)
    for u in range(batch):
        rows = [s for s in range(n) if present[u, s] and not stale[u, s]]
        rows += [s for s in range(n) if present[u, s] and stale[u, s]]
        received = values[u][rows] if rows else np.empty((0, d))
        f_left = max(0, f - ((n - 1) - len(rows)))
        kept = comparative_elimination(own[u], received, f_left, np.array(rows, dtype=int))
        expected = own[u] + 0.1 * ordered_sum(received[kept] - own[u], axis=0)
        assert np.array_equal(step.aggregate[u], expected)
        assert sorted(np.array(rows, dtype=int)[kept]) == sorted(np.flatnonzero(step.kept[u]))


# --- hand-computable: max-plus completion times ---------------------------------------------


def test_fixed_latencies_follow_the_max_plus_recursion():
    """spec/engine.md: with fixed latencies L[j, i], compute 0 and no deadline,
    T_i(r+1) = max(T_i(r), max_{j != i} T_j(r) + L[j, i]), T(0) = 0."""
    latency = [
        [0.0, 0.010, 0.030, 0.002],
        [0.020, 0.0, 0.001, 0.004],
        [0.005, 0.007, 0.0, 0.025],
        [0.003, 0.011, 0.006, 0.0],
    ]
    raw = small_raw(protocol__rounds=6)
    raw["network"] = {
        "n": 4,
        "f": 1,
        "byzantine": [],
        "delay": {"model": "matrix", "base": latency},
    }
    raw["costs"] = {
        "A": [[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]], [[1.0, -1.0]]],
        "B": [[1.0], [1.0], [2.0], [0.0]],
    }
    raw.pop("adversary")
    raw["protocol"]["deadline"] = "none"
    scenario = netsim.parse_scenario(raw)
    expected = [[0.0] * 4]
    for _ in range(6):
        previous = expected[-1]
        expected.append(
            [
                max([previous[i]] + [previous[j] + latency[j][i] for j in range(4) if j != i])
                for i in range(4)
            ]
        )
    reference, batched = run_both(scenario)
    assert np.array_equal(batched.times, np.array(expected))
    assert_same_run(reference, batched)
    assert batched.summary["sim_time_end"] == pytest.approx(6 * 0.025 + 0.0, abs=0.1)


# --- randomized equivalence -----------------------------------------------------------------

DELAYS = st.sampled_from(
    [
        {"model": "constant", "value": 0.01},
        {"model": "uniform", "low": 0.001, "high": 0.02},
        {"model": "exponential", "mean": 0.01},
        {"model": "lognormal", "median": 0.008, "sigma": 0.6},
        {"model": "pareto", "scale": 0.01, "shape": 2.5},
        {"model": "matrix", "plane": 0.02, "jitter": {"model": "exponential", "mean": 0.002}},
        {
            "model": "stragglers",
            "agents": [1],
            "factor": 4.0,
            "base": {"model": "exponential", "mean": 0.01},
        },
        {
            "model": "profile",
            "times": [0.05, 0.1],
            "multipliers": [1, 5, 1],
            "base": {"model": "uniform", "low": 0.002, "high": 0.01},
        },
    ]
)
ATTACKS = [
    {"kind": name}
    for name in ADVERSARIES.names()
    if name not in ("omission", "non_finite", "random_uniform")
]
ATTACKS += [
    {"kind": "random_uniform", "low": -10.0, "high": 10.0},
    {"kind": "omission", "from_round": 2},
    {"kind": "non_finite", "value": "nan"},
    {"kind": "non_finite", "value": "huge"},
    {"kind": "desync", "lag": 0.01, "early": [0, 1]},
    {"kind": "desync", "lag": 0.004, "early": []},  # the CGC server too gets it late
]


@st.composite
def scenarios(draw, protocol: str) -> netsim.Scenario:
    n = draw(st.integers(4, 8))
    f = draw(st.integers(0, (n - 1) // 2))
    byzantine = draw(st.lists(st.integers(0, n - 1), max_size=f, unique=True))
    d = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    x_star = rng.normal(size=d)
    A = [rng.normal(size=(2, d)) for _ in range(n)]
    raw: dict = {
        "name": "hyp",
        "seed": draw(st.integers(0, 2**31)),
        "engine": "reference",  # the side the fast engine is compared with
        "network": {"n": n, "f": f, "byzantine": byzantine, "delay": draw(DELAYS)},
        "costs": {"A": [a.tolist() for a in A], "B": [(a @ x_star).tolist() for a in A]},
        "protocol": {"kind": protocol, "rounds": draw(st.integers(3, 12))},
    }
    deadline = draw(st.sampled_from([None, 0.008, 0.015, 0.04]))
    if deadline is not None:
        raw["protocol"]["deadline"] = deadline
    if deadline is not None and draw(st.booleans()):
        raw["network"]["loss"] = draw(st.sampled_from([0.05, 0.3]))
    if draw(st.booleans()):
        raw["network"]["compute_time"] = draw(st.sampled_from([0.002, ([0.0, 0.03] * n)[:n]]))
    if draw(st.booleans()):
        raw["network"]["asynchrony"] = {"gst": draw(st.sampled_from([0.0, 0.05])), "delta": 0.012}
    if byzantine:
        attack = dict(draw(st.sampled_from(ATTACKS)))
        if draw(st.booleans()):
            attack["delivery"] = "last_moment"
        raw["adversary"] = attack
    if protocol == "ce":
        raw["protocol"]["filter"] = draw(
            st.sampled_from(
                [
                    "ce",
                    "ce",
                    "none",
                    "median",
                    "trimmed_mean",
                    "krum",
                    "multi_krum",
                    "geometric_median",
                    "centered_clipping",
                    "bucketing(s=2)+median",  # draws: both engines use the same stream
                    "nnm+ce",
                    "arc+trimmed_mean",
                ]
            )
        )
        raw["protocol"]["absent"] = draw(st.sampled_from(["eliminated", "stale"]))
        clock = draw(st.sampled_from([None, "event", "lockstep"]))  # None: the default
        if clock is not None:
            raw["protocol"]["clock"] = clock
        if clock != "event" and draw(st.booleans()):
            raw["protocol"]["round_length"] = draw(st.sampled_from([0.0125, 0.03]))
        if clock != "event" and draw(st.booleans()):
            raw["network"]["clocks"] = {
                "offset": draw(st.sampled_from([0.0, 0.001, 0.01])),
                "drift": draw(st.sampled_from([0.0, 1e-3, 0.05])),
            }
        raw["protocol"]["step_size"] = {
            "schedule": "constant",
            "eta": draw(st.sampled_from([0.1, 1 / (n - f)])),
        }
    else:
        raw["protocol"]["filter"] = draw(
            st.sampled_from(
                ["cgc", "cgc", "none", "cge", "median", "krum", "bucketing(s=2)+cgc", "nnm+median"]
            )
        )
        raw["protocol"]["mode"] = "sync"
        raw["protocol"]["x0"] = rng.normal(size=d).tolist()
        raw["protocol"]["step_size"] = {"schedule": "constant", "eta": 0.02}
        raw["protocol"]["agent_queue"] = draw(st.sampled_from(["latest", "fifo"]))
        raw["protocol"]["server_compute_time"] = draw(st.sampled_from([0.0, 0.004]))
    raw["trace"] = True
    try:
        return netsim.parse_scenario(raw)
    except ScenarioError:
        assume(False)
        raise


def check_equivalent(scenario: netsim.Scenario) -> None:
    """Reference vs fast engine; for CE also vs the event-by-event fast engine alone (the
    round-by-round one hands it the runs it cannot do, see netsim/fast/layered.py)."""
    runs = [lambda: simulate(fast(scenario))]
    if scenario.protocol.kind == "ce":
        runs.append(lambda: run_peer(fast(scenario), None, None, layered=False))
    try:
        reference = simulate(scenario)
    except (SimulationStalled, ScenarioError) as err:
        for run in runs:
            with pytest.raises(type(err)) as caught:
                run()
            assert str(caught.value) == str(err)
        return
    _, batched = run_both(scenario)
    assert_same_run(reference, batched)
    for run in runs[1:]:
        assert_same_run(reference, run())


@given(scenarios("ce"))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_ce_runs_are_identical_on_both_engines(scenario):
    check_equivalent(scenario)


@pytest.mark.filterwarnings("ignore:Theorem 2 does not cover")
@given(scenarios("cgc"))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_synchronous_cgc_runs_are_identical_on_both_engines(scenario):
    check_equivalent(scenario)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"protocol__deadline": 0.012, "protocol__absent": "stale", "network__loss": 0.2},
        {"protocol__filter": "centered_clipping", "adversary": {"kind": "sign_flip"}},
        {"network__compute_time": [0.0, 0.05, 0.0, 0.0, 0.0, 0.0], "protocol__deadline": 0.02},
    ],
)
def test_the_small_ce_scenario_is_identical(changes):
    assert_same_run(*run_both(small(protocol__rounds=25, trace=True, **changes)))


def test_a_round_handed_to_the_trace_in_blocks_of_receivers_is_the_same_run(monkeypatch):
    """At n = 10^4 a round's 10^8 messages reach the trace in blocks of receivers; SHA-256 and
    the per-round digests stream, so any block size gives the reference's run (here blocks of
    one receiver and of two, with a deadline, loss and the columns kept)."""
    import netsim.fast.peer_engine as peer_engine

    scenario = small(protocol__rounds=12, trace=True, protocol__deadline=0.012, network__loss=0.2)
    reference = simulate(scenario)
    for messages in (1, 13):  # n = 6: blocks of 1 and of 2 receivers
        monkeypatch.setattr(peer_engine, "EMIT_MESSAGES", messages)
        assert_same_run(reference, simulate(fast(scenario)))


def test_hashing_and_draws_on_the_background_worker_give_the_same_run(monkeypatch):
    """Big rounds are hashed, and the next window of draws computed, on a worker thread
    (netsim.fast.background); forced on for every call, the run is still the reference's,
    window after window (a window of one round: WINDOW_FLOATS = n^2)."""
    import netsim.fast.draws as draws_module
    import netsim.fast.trace as trace_module

    scenario = small(protocol__rounds=15, trace=True, network__loss=0.1, protocol__deadline=0.012)
    reference = simulate(scenario)
    monkeypatch.setattr(trace_module, "BATCH_ROWS", 1)
    monkeypatch.setattr(trace_module, "OFFLOAD_ROWS", 1)
    monkeypatch.setattr(draws_module, "PREFETCH_DRAWS", 1)
    for floats in (36, 1 << 22):
        monkeypatch.setattr(draws_module, "WINDOW_FLOATS", floats)
        assert_same_run(reference, simulate(fast(scenario)))


@pytest.mark.parametrize("protocol", ["ce", "cgc"])
def test_messages_counted_and_hashed_in_batches_of_any_size_give_the_same_run(
    monkeypatch, protocol
):
    """The trace sink gathers small rounds and counts and hashes them together (SHA-256 and the
    per-round CRCs stream). A batch may end inside a round, hold many rounds, or be the whole
    run: the trace hash, the per-round fingerprint, the late and sent counts and the
    partial-synchrony summary are the reference's for every batch size (6 agents: a CE round
    has 30 messages, a CGC round 10 to 12)."""
    import netsim.fast.trace as trace_module

    changes = {"network__asynchrony": {"gst": 0.02, "delta": 0.006}, "protocol__rounds": 9}
    build = small if protocol == "ce" else cgc
    scenario = build(network__loss=0.1, protocol__deadline=0.008, **changes)
    reference = simulate(scenario)
    assert reference.summary["late_honest"] > 0  # the late counts are exercised
    for rows in (1, 7, 50, 1 << 30):
        monkeypatch.setattr(trace_module, "BATCH_ROWS", rows)
        batched = simulate(fast(scenario))
        assert_same_run(reference, batched)
        assert batched.fingerprint == reference.fingerprint


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork: POSIX only")
def test_a_forked_child_gets_its_own_background_worker(monkeypatch):
    """A fork copies the worker's executor but not its thread: the child must make its own,
    or its first hashed round would wait forever. The child's run has the parent's hash."""
    import netsim.fast.trace as trace_module

    monkeypatch.setattr(trace_module, "BATCH_ROWS", 1)
    monkeypatch.setattr(trace_module, "OFFLOAD_ROWS", 1)
    scenario = fast(small(protocol__rounds=5))
    expected = simulate(scenario).summary["trace_hash"]  # the parent's worker now exists
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's exit code is the result)
        signal.alarm(60)  # a hang fails the test instead of blocking it
        same = simulate(scenario).summary["trace_hash"] == expected
        os._exit(0 if same else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_constant_delays_with_byzantine_receivers_keep_the_delivery_order():
    """Event clock: constant delays make whole rounds arrive at one instant: a Byzantine
    receiver keeps only the messages delivered before the one that completes its round (by
    sender id)."""
    scenario = small(
        protocol__clock="event",
        network__n=7,
        network__f=2,
        network__byzantine=[2, 6],
        trace=True,
        network__delay={"model": "constant", "value": 0.01},
        protocol__rounds=6,
        costs__A=[[row] for row in np.vstack([np.eye(2), np.eye(2), np.eye(2), [[1, 1]]]).tolist()],
        costs__B=[[1.0], [1.0], [1.0], [1.0], [1.0], [1.0], [2.0]],
    )
    reference, batched = run_both(scenario)
    assert_same_run(reference, batched)
    messages = batched.messages
    to_2 = messages["receiver"] == 2
    late = Decision.LATE
    assert np.all(messages["decision"][to_2 & (messages["sender"] == 6)] == late)  # after 5
    assert not np.any(messages["decision"][to_2 & (messages["sender"] < 6)] == late)


def test_a_stalled_run_stops_with_the_same_error():
    scenario = silenced(small(protocol__rounds=5), 1)  # validation would refuse it
    with pytest.raises(SimulationStalled) as reference:
        simulate(scenario)
    with pytest.raises(SimulationStalled) as batched:
        simulate(silenced(fast(small(protocol__rounds=5)), 1))
    assert str(batched.value) == str(reference.value)


# --- fallbacks ------------------------------------------------------------------------------


def test_zero_delays_fall_back_to_the_reference_with_a_warning():
    scenario = small(network__delay={"model": "constant", "value": 0.0}, protocol__rounds=4)
    with pytest.warns(UserWarning, match='engine = "fast"'):
        batched = simulate_fast(fast(scenario))
    assert batched.summary == simulate(scenario).summary


# --- the shipped scenarios ------------------------------------------------------------------


@pytest.mark.parametrize("path", [PAPER, ROOT / "scenarios" / "cgc_sync.toml"])
def test_shipped_scenarios_give_the_same_trace_hash(path):
    scenario = netsim.load_scenario(path)
    reference = netsim.run(scenario.with_overrides({"engine": "reference"}))
    batched = netsim.run(scenario.with_overrides(FAST))
    default = netsim.run(scenario)  # engine = "auto"
    assert default.summary == batched.summary
    assert set(default.manifest["engines"].values()) == {"fast"}
    assert set(reference.manifest["engines"].values()) == {"reference"}
    assert batched.summary["trace_hash"] == reference.summary["trace_hash"]
    assert batched.summary["variants"] == reference.summary["variants"]
    assert batched.manifest["engine"] == "fast"
    for summary in batched.summary["variants"].values():
        assert not math.isnan(summary["final_distance"])


def test_cgc_builder_scenario_is_identical():
    assert_same_run(*run_both(cgc(protocol__rounds=40, trace=True)))


def test_the_default_engine_is_auto_and_the_manifest_says_which_ran():
    """auto: the fast engine where it applies, the reference silently where it does not."""
    scenario = netsim.load_scenario(PAPER).with_overrides({"protocol.rounds": 5})
    assert scenario.engine == "auto"
    assert set(netsim.run(scenario).manifest["engines"].values()) == {"fast"}
    zero = small(network__delay={"model": "constant", "value": 0.0}, protocol__rounds=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning under auto
        ran = netsim.run(zero.with_overrides({"engine": "auto"}))
    assert set(ran.manifest["engines"].values()) == {"reference"}
    with pytest.raises(ScenarioError, match=r"engine.*auto.*fast.*reference"):
        zero.with_overrides({"engine": "turbo"})
