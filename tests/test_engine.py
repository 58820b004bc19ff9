"""The timing model is real: per-message events, round completion, deadlines, ordering."""

from __future__ import annotations

import numpy as np
import pytest
from builders import small

import netsim
from netsim.engine import Decision, OrderedEnvironment
from netsim.engine.environment import COMPLETION, DEADLINE, DELIVERY, ROUND_START


def only_variant(result: netsim.RunResult):
    (variant,) = result.variants.values()
    return variant


def test_constant_delay_round_r_ends_at_r_delta():
    """Event clock, constant delay delta, zero compute: every agent completes round r at exactly
    r * delta (its last arrival). delta = 0.125 is a power of two, so r * delta is exact in
    binary and equality is exact."""
    delta = 0.125
    variant = only_variant(
        netsim.run(
            small(
                network__delay={"model": "constant", "value": delta},
                protocol__rounds=30,
                protocol__clock="event",
            )
        )
    )
    expected = np.arange(31) * delta
    assert np.array_equal(variant.times, np.repeat(expected[:, None], 5, axis=1))


def test_constant_delay_with_a_decimal_delta_is_r_delta_up_to_rounding():
    delta = 0.01
    variant = only_variant(
        netsim.run(
            small(
                network__delay={"model": "constant", "value": delta},
                protocol__rounds=50,
                protocol__clock="event",
            )
        )
    )
    np.testing.assert_allclose(variant.times[:, 0], np.arange(51) * delta, rtol=1e-12)


def test_compute_time_delays_the_next_round_start():
    """Event clock: start(r + 1) = completion(r) + c, so with constant delay round r completes
    at r * delta + (r - 1) * c (delta, c powers of two: exact)."""
    delta, c = 0.25, 0.5
    variant = only_variant(
        netsim.run(
            small(
                network__delay={"model": "constant", "value": delta},
                network__compute_time=c,
                protocol__rounds=10,
                protocol__clock="event",
            )
        )
    )
    r = np.arange(1, 11)
    assert np.array_equal(variant.times[1:, 2], r * delta + (r - 1) * c)


def test_random_delays_each_round_ends_at_its_last_needed_arrival():
    """Unbounded delays, no deadline: agent i completes round r when the last of the n - 1
    round-r messages reaches it, or at once if they all came before it started round r: the
    max-plus recursion T_i(r + 1) = max(T_i(r), max_j arrival_{j->i}(r)) (spec/engine.md)."""
    result = netsim.run(small(protocol__rounds=25))
    variant = only_variant(result)
    m = result.messages
    waited = 0
    for column, agent in enumerate(variant.honest):
        for r in range(25):
            mine = (m["receiver"] == agent) & (m["round"] == r)
            assert mine.sum() == 5
            expected = max(variant.times[r, column], m["arrival_time"][mine].max())
            assert variant.times[r + 1, column] == expected
            waited += variant.times[r, column] < expected
    assert waited > 100  # most rounds really wait for a message


def test_every_message_arrives_after_it_is_sent_and_by_its_own_delay():
    result = netsim.run(small(protocol__rounds=20))
    m = result.messages
    delay = m["arrival_time"] - m["send_time"]
    assert np.all(delay >= 0)
    assert len(np.unique(delay)) == len(delay)  # exponential draws: one per message
    # Each agent sends round r at the instant it starts round r: the time it completed r - 1.
    variant = only_variant(result)
    for column, agent in enumerate(variant.honest):
        sent = m["sender"] == agent
        assert np.array_equal(
            m["send_time"][sent & (m["round"] == 7)], np.full(5, variant.times[7, column])
        )


def test_links_do_not_impose_fifo():
    """Two messages on one link may arrive out of send order (spec/engine.md)."""
    m = netsim.run(small(protocol__rounds=200)).messages
    inversions = 0
    for sender in range(6):
        for receiver in range(6):
            link = (m["sender"] == sender) & (m["receiver"] == receiver)
            order = np.argsort(m["send_time"][link], kind="stable")
            inversions += int(np.sum(np.diff(m["arrival_time"][link][order]) < 0))
    assert inversions > 0


def test_late_means_arrived_after_the_receiver_completed_that_round():
    """Event clock, uniform delays with the default deadline (delay bound): a message is `late`
    exactly when it arrives after its receiver completed that round (round starts drift apart,
    so some are)."""
    result = netsim.run(
        small(
            network__delay={"model": "uniform", "low": 0.0, "high": 0.05},
            protocol__rounds=60,
            protocol__absent="stale",
            protocol__clock="event",
        )
    )
    variant = only_variant(result)
    m = result.messages
    completion = {
        (agent, r): variant.times[r + 1, column]
        for column, agent in enumerate(variant.honest)
        for r in range(60)
    }
    to_honest = m["receiver"] != 0
    late = m["decision"] == Decision.LATE
    for k in np.flatnonzero(to_honest):
        done = completion[(int(m["receiver"][k]), int(m["round"][k]))]
        assert late[k] == (m["arrival_time"][k] > done)
    assert late[to_honest].sum() == variant.summary["absent_honest"] + np.sum(
        late & to_honest & m["byzantine"]
    )
    assert variant.summary["deadline_rounds"] > 0


def test_deadline_bounds_every_round():
    """Event clock: no honest round lasts longer than its deadline (start + deadline)."""
    deadline = 0.015
    variant = only_variant(
        netsim.run(small(protocol__deadline=deadline, protocol__rounds=40, protocol__clock="event"))
    )
    # Compute time 0: start(r + 1) = completion(r); the deadline is start + deadline (floats).
    assert np.all(variant.times[1:] <= variant.times[:-1] + deadline)
    assert variant.summary["deadline_rounds"] > 0  # exponential delays exceed it sometimes


def test_same_time_events_follow_the_documented_order():
    """At one instant: deliveries by (sender, receiver, round), then deadline checks, then
    completions, then round starts (honest before Byzantine), each by agent id."""
    env = OrderedEnvironment()
    seen: list[tuple[int, ...]] = []
    keys = [
        (ROUND_START, 1, 0),
        (COMPLETION, 2),
        (DELIVERY, 3, 1, 0),
        (ROUND_START, 0, 5),
        (DEADLINE, 4),
        (DELIVERY, 1, 2, 0),
        (COMPLETION, 0),
        (DELIVERY, 1, 0, 0),
    ]
    for key in keys:
        event = env.trigger_after(1.0, key)
        event.callbacks.append(lambda _e, key=key: seen.append(key))
    env.run()
    assert seen == sorted(keys)
    assert seen[0] == (DELIVERY, 1, 0, 0) and seen[-1] == (ROUND_START, 1, 0)


@pytest.mark.parametrize("policy", ["eliminated", "stale"])
def test_absent_policies_agree_when_nothing_is_late(policy):
    """With no deadline nothing is ever absent, so both policies give the same run."""
    a = only_variant(netsim.run(small(protocol__absent=policy, protocol__rounds=20)))
    b = only_variant(netsim.run(small(protocol__rounds=20)))
    assert a.summary["trace_hash"] == b.summary["trace_hash"]


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_a_run_freezes_the_objects_before_it_and_unfreezes_them_after(engine):
    # simulate() exempts the objects alive when it starts from full collections (gc.freeze)
    # and gives them back to the collector when it ends, also when the run raises.
    import gc

    from netsim.simulation import simulate

    scenario = small(protocol__rounds=6, engine=engine)
    during: list[int] = []
    result = simulate(scenario, on_round=lambda: during.append(gc.get_freeze_count()))
    assert gc.get_freeze_count() == 0
    assert during and min(during) > 0
    assert result.summary["rounds"] == 6

    def stop() -> None:
        raise KeyboardInterrupt  # a user's Ctrl-C in the middle of a round

    with pytest.raises(KeyboardInterrupt):
        simulate(scenario, on_round=stop)
    assert gc.get_freeze_count() == 0
