"""The fast engine's clock is a SimPy environment (``engine.env``) that follows the run.

spec/engine.md: "a SimPy `Environment` holds the clock" -- for the fast engine too. Its event
engines process one SimPy event per agent event (round start, deadline check, completion; the
server's requests, computations and replies), so ``env.now`` ends at the last one; its
round-by-round engines process one event per round and one that closes the run at its last
completion. Either way the clock ends at or after the last completion the run reports
(``sim_time_end``), exactly there when nothing is scheduled after it, and never runs backwards.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import cgc, small, small_raw

import netsim
from netsim.costs import aggregate_optimum
from netsim.engine.environment import ROUND_START, OrderedEnvironment
from netsim.fast.layered import LayeredPeerEngine
from netsim.fast.peer_engine import PeerEngine, tracked
from netsim.fast.results import run_peer
from netsim.fast.server_engine import ServerEngine
from netsim.fast.server_layered import LayeredServerEngine
from netsim.fast.server_run import run_server


def optimum_of(scenario: netsim.Scenario) -> np.ndarray:
    honest = [scenario.costs.costs[i] for i in scenario.network.honest]
    return aggregate_optimum(honest).point


def run_engine(engine_class, scenario: netsim.Scenario):
    """Run one engine; returns it and the clock it showed at each progress call."""
    seen: list[float] = []
    engine = engine_class(scenario, optimum_of(scenario), lambda: seen.append(engine.env.now))
    engine.run()
    return engine, seen


def peer_end(engine: PeerEngine) -> float:
    """The summary's ``sim_time_end``: the last honest completion."""
    times, _ = tracked(engine)
    return float(times[-1].max())


def server_end(engine: ServerEngine) -> float:
    return float(engine.times[engine.completed].max())


def no_byzantine(**changes) -> netsim.Scenario:
    raw = small_raw(**changes)
    raw["network"].update(f=0, byzantine=[])
    raw.pop("adversary")
    return netsim.parse_scenario(raw)


@pytest.mark.parametrize("engine_class", [LayeredPeerEngine, PeerEngine])
def test_ce_clock_ends_at_the_last_completion(engine_class):
    """Without a deadline nothing is scheduled after the last round's completions, and with
    every agent honest the last of them is the summary's ``sim_time_end``."""
    scenario = no_byzantine()
    assert scenario.protocol.deadline is None
    engine, seen = run_engine(engine_class, scenario)
    assert engine.env.now == peer_end(engine)
    assert engine.env.now == run_peer(scenario, None, None).summary["sim_time_end"]
    assert seen == sorted(seen) and seen[-1] <= engine.env.now


def test_ce_clocks_of_both_paths_agree_without_deadline():
    """A Byzantine agent completes rounds too (after the honest ones, here): both paths end
    at its last completion, after ``sim_time_end``."""
    scenario = small()
    layered, seen_layered = run_engine(LayeredPeerEngine, scenario)
    event, seen_event = run_engine(PeerEngine, scenario)
    assert layered.env.now == event.env.now >= peer_end(event) == peer_end(layered)
    last = layered.completions[-1]
    assert layered.env.now == last[np.isfinite(last)].max()
    for seen, engine in ((seen_layered, layered), (seen_event, event)):
        assert seen == sorted(seen) and seen[-1] <= engine.env.now


@pytest.mark.parametrize(
    "scenario",
    [
        small(protocol__deadline=0.02, network__compute_time=0.003),
        small(protocol__deadline=0.015, network__loss=0.2),
        small(protocol__deadline=0.02, protocol__absent="stale"),
    ],
    ids=["deadline", "loss", "stale"],
)
def test_ce_clock_ends_at_or_after_the_last_completion(scenario):
    """With a deadline the event engine may still check one after the last completion (a
    no-op): the clock ends at or after ``sim_time_end``; the layered engine ends at its last
    completion, which the event engine's clock does not precede."""
    event, seen = run_engine(PeerEngine, scenario)
    summary = run_peer(scenario, None, None).summary
    assert peer_end(event) == summary["sim_time_end"] <= event.env.now
    assert seen == sorted(seen) and seen[-1] <= event.env.now
    if scenario.protocol.absent == "stale":
        return  # never layered
    layered, seen = run_engine(LayeredPeerEngine, scenario)  # these runs are layered
    assert summary["sim_time_end"] <= layered.env.now <= event.env.now
    assert seen == sorted(seen)


@pytest.mark.parametrize("engine_class", [LayeredServerEngine, ServerEngine])
def test_server_clock_ends_at_the_last_completion(engine_class):
    """A synchronous server without a deadline waits for every reply, so nothing comes after
    its last completion: the clock ends at ``sim_time_end``."""
    scenario = cgc(protocol__deadline="none", protocol__rounds=30)
    engine, seen = run_engine(engine_class, scenario)
    assert engine.completed == 30
    assert engine.env.now == server_end(engine)
    assert engine.env.now == run_server(scenario, None, None).summary["sim_time_end"]
    assert seen == sorted(seen) and seen[-1] <= engine.env.now


@pytest.mark.parametrize(
    "scenario",
    [
        cgc(protocol__rounds=30),
        cgc(protocol__rounds=30, network__loss=0.2, network__compute_time=0.004),
        cgc(protocol__rounds=30, protocol__mode="async", protocol__deadline=0.012),
        cgc(
            protocol__rounds=30,
            protocol__mode="async",
            protocol__trigger="quorum",
            network__compute_time=[0.0, 0.0, 0.03, 0.0, 0.001, 0.0],
        ),
    ],
    ids=["sync-deadline", "sync-loss", "async-deadline", "async-quorum"],
)
def test_server_clock_ends_at_or_after_the_last_completion(scenario):
    """Agents may still compute and replies arrive after the server's last completion: the
    event engine's clock ends at or after ``sim_time_end``; the layered one (synchronous)
    closes at the last completion."""
    event, seen = run_engine(ServerEngine, scenario)
    summary = run_server(scenario, None, None).summary
    assert server_end(event) == summary["sim_time_end"] <= event.env.now
    assert seen == sorted(seen) and seen[-1] <= event.env.now
    if scenario.protocol.mode != "sync":
        return
    layered, seen = run_engine(LayeredServerEngine, scenario)  # these runs are layered
    assert summary["sim_time_end"] <= layered.env.now <= event.env.now
    if not layered.terminated_at:
        assert layered.env.now == summary["sim_time_end"]
    assert seen == sorted(seen)


def test_call_at_keeps_absolute_times_and_key_order():
    """``call_at`` queues at the absolute time given (no now + delay rounding) and orders
    same-time events by key, then insertion; it refuses a time before now."""
    env = OrderedEnvironment()
    order: list[tuple] = []
    before, time = 0.6369616873214543, 27.70888466262316
    assert before + (time - before) != time  # what a delay from now would give
    env.call_at(before, (ROUND_START, 0, 0), lambda event: order.append(event.value))
    env.run()
    for key in [(ROUND_START, 1, 0), (ROUND_START, 0, 2), (ROUND_START, 0, 2), (1, 0, 9)]:
        env.call_at(time, key, lambda event: order.append((env.now, event.value)), key)
    env.run()
    assert env.now == time
    assert [value for _, value in order[1:]] == [
        (1, 0, 9),
        (ROUND_START, 0, 2),
        (ROUND_START, 0, 2),
        (ROUND_START, 1, 0),
    ]
    assert all(now == time for now, _ in order[1:])
    with pytest.raises(ValueError):
        env.call_at(before, (ROUND_START, 0, 0), None)
