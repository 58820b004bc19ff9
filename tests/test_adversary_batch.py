"""The batch interface of netsim.adversaries: ``batch_values`` for one sender and many receivers
equals the loop of ``value`` calls, bit for bit, for every registered adversary (and leaves each
receiver's stream where the loop leaves it); a subclass that changes ``value`` gets the loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.adversaries import (
    ADVERSARIES,
    RandomUniform,
    Receivers,
    View,
    batch_values,
    loop_values,
)
from netsim.rng import SERVER, Stream, adversary_stream

# parameters that make an attack do something in a small run (the defaults otherwise)
PARAMETERS = {
    "mimic": {"target": 1},
    "omission": {"from_round": 2},
    "parametric": {"radius": [[0.5, 1.5], [1.0]], "angle": [0.0, 1.0]},
}


def streams(seed: int, count: int) -> list[Stream]:
    """The adversary's streams towards receivers 1..count, as the engines build them."""
    return [adversary_stream(seed, 0, k + 1) for k in range(count)]


def ce_case(seed: int, n: int, d: int, byzantine: set[int], round: int):
    """A CE round start of sender 0: the honest agents' estimates, the receivers 1..n-1."""
    rng = np.random.default_rng(seed)
    honest = [i for i in range(n) if i not in byzantine]
    estimates = {i: rng.normal(size=d) * 10.0 ** rng.integers(-3, 3) for i in honest}
    view = View(
        round=round,
        now=float(round),
        dim=d,
        honest_sent={i: estimates[i] for i in honest[: len(honest) // 2]},
        honest_latest=dict(estimates),
        optimum=rng.normal(size=d),
        f=max(1, len(byzantine)),
        filter=["ce", "none", "median"][seed % 3],
        memory={},
    )
    ids = np.arange(1, n)
    target = np.array([estimates.get(int(j), np.zeros(d)) for j in ids]).reshape(len(ids), d)
    has_target = np.array([int(j) not in byzantine for j in ids], dtype=bool)
    return view, ids, target, has_target


def same_run(adversary, view: View, ids, target, has_target, seed: int, rounds: int = 3):
    """batch_values and loop_values over a few rounds (memory carries over), each from its own
    copy of the streams and its own run memory."""
    batch_rngs, loop_rngs = streams(seed, len(ids)), streams(seed, len(ids))
    batch_view = View(**{**view.__dict__, "memory": {}})
    loop_view = View(**{**view.__dict__, "memory": {}})
    for r in range(rounds):
        batch = batch_values(
            adversary,
            0,
            view.round + r,
            batch_view,
            Receivers(ids, target, has_target, batch_rngs),
        )
        loop = loop_values(
            adversary,
            0,
            view.round + r,
            loop_view,
            Receivers(ids, target, has_target, loop_rngs),
        )
        assert np.array_equal(batch[1], loop[1])
        assert batch[0].shape == loop[0].shape
        assert np.array_equal(batch[0].view(np.uint64), loop[0].view(np.uint64))
    for a, b in zip(batch_rngs, loop_rngs):  # the same number of draws from every stream
        assert a.position == b.position


@given(
    name=st.sampled_from(ADVERSARIES.names()),
    seed=st.integers(0, 2**31),
    n=st.integers(2, 9),
    d=st.integers(1, 6),
    byzantine=st.sets(st.integers(1, 8), max_size=3),
    round=st.integers(0, 6),
)
@settings(max_examples=200, deadline=None)
def test_a_batch_equals_the_loop_of_value_calls_for_every_adversary(
    name, seed, n, d, byzantine, round
):
    byzantine = {b for b in byzantine if b < n} | {0}
    adversary = ADVERSARIES.build(name, PARAMETERS.get(name, {}), "adversary")
    view, ids, target, has_target = ce_case(seed, n, d, byzantine, round)
    same_run(adversary, view, ids, target, has_target, seed)


@given(name=st.sampled_from(ADVERSARIES.names()), seed=st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_a_batch_to_the_server_equals_the_value_call(name, seed):
    rng = np.random.default_rng(seed)
    gradients = {i: rng.normal(size=3) for i in range(1, 5)}
    view = View(
        round=1,
        now=1.0,
        dim=3,
        honest_sent=dict(gradients),
        honest_latest={},
        target=rng.normal(size=3),
        optimum=rng.normal(size=3),
        honest_gradients=dict(gradients),
        server=True,
        f=1,
        memory={},
    )
    adversary = ADVERSARIES.build(name, PARAMETERS.get(name, {}), "adversary")
    ids = np.array([SERVER])
    target = np.asarray(view.target)[None, :]
    same_run(adversary, view, ids, target, np.ones(1, dtype=bool), seed)


@given(
    low=st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-1000, 1000),
    width=st.floats(0.0, 1e6, allow_nan=False),
    seed=st.integers(0, 2**31),
)
@settings(max_examples=60, deadline=None)
def test_uniform_draws_of_a_batch_are_each_streams_own_uniform_draws(low, width, seed):
    """Row k is what ``rng_k.uniform(low, high, d)`` draws, for any range (the affine form of
    the batch is used only where numpy computes uniform that way)."""
    high = low + width
    adversary = RandomUniform(low=low, high=high)
    ids = np.arange(1, 6)
    view = View(round=0, now=0.0, dim=4, honest_sent={}, honest_latest={})
    receivers = Receivers(ids, np.zeros((5, 4)), np.ones(5, dtype=bool), streams(seed, 5))
    values, sent = batch_values(adversary, 0, 0, view, receivers)
    expected = np.array([rng.uniform(low, high, 4) for rng in streams(seed, 5)])
    assert sent.all()
    assert np.array_equal(values.view(np.uint64), expected.view(np.uint64))


def test_a_subclass_that_changes_value_is_asked_receiver_by_receiver():
    class Zeros(RandomUniform):
        def value(self, sender, receiver, round, view, rng):
            return np.full(view.dim, float(receiver))

    ids = np.array([1, 2, 3])
    view = View(round=0, now=0.0, dim=2, honest_sent={}, honest_latest={})
    receivers = Receivers(ids, np.zeros((3, 2)), np.ones(3, dtype=bool), streams(0, 3))
    values, sent = batch_values(Zeros(), 0, 0, view, receivers)
    assert sent.all()
    assert np.array_equal(values, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])


def test_nothing_sent_is_a_zero_row_and_a_false_flag():
    adversary = ADVERSARIES.build("large_norm", {}, "adversary")
    view, ids, target, has_target = ce_case(0, 4, 2, {0, 2}, 0)
    values, sent = batch_values(adversary, 0, 0, view, Receivers(ids, target, has_target, []))
    assert np.array_equal(sent, has_target)
    assert np.all(values[~sent] == 0.0)
