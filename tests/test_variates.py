"""Variates from uniforms (netsim.variates): each transform against scipy's distribution
(Kolmogorov-Smirnov at fixed seeds) and its closed form, and KeyedStream's batch property."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from netsim import philox, variates
from netsim.variates import KeyedStream

SAMPLE = 20_000


def grid_uniforms(seed: int, count: int = SAMPLE) -> np.ndarray:
    return philox.uniforms(seed, 0, 0, 1, np.arange(count))[0]


# A wrong transform (a mean off by 5%, a tail of the wrong weight) gives p-values far below
# 1e-4 at this sample size; a right one stays above it at these fixed seeds.
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("name", "draw", "distribution"),
    [
        ("exponential", lambda u: variates.exponential(u, 0.01), stats.expon(scale=0.01)),
        ("normal", variates.standard_normal, stats.norm()),
        ("lomax", lambda u: variates.lomax(u, 2.5), stats.lomax(2.5)),
        ("uniform", lambda u: variates.uniform(u, 0.002, 0.005), stats.uniform(0.002, 0.003)),
    ],
)
def test_each_transform_has_its_distribution(seed, name, draw, distribution):
    sample = draw(grid_uniforms(seed))
    assert stats.kstest(sample, distribution.cdf).pvalue > 1e-4, name


def test_a_transform_with_the_wrong_parameter_is_rejected():
    """The KS check above can fail: a 5% error in the exponential's mean is caught."""
    sample = variates.exponential(grid_uniforms(0), 0.0105)
    assert stats.kstest(sample, stats.expon(scale=0.01).cdf).pvalue < 1e-4


def test_normal_quantile_matches_scipy_to_rounding():
    u = np.concatenate(
        [grid_uniforms(3, 100_000), [2.0**-53, 1e-300, 1e-20, 0.075, 0.5, 0.925, 1 - 2**-53]]
    )
    ours, theirs = variates.standard_normal(u), special.ndtri(u)
    relative = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)
    assert relative.max() < 1e-14
    assert variates.standard_normal(np.array([0.5]))[0] == 0.0


def test_normal_quantile_is_odd_bit_for_bit_on_the_grid():
    u = grid_uniforms(4, 50_000)
    assert np.array_equal(variates.standard_normal(1.0 - u), -variates.standard_normal(u))


def test_exponential_and_lomax_are_their_inverse_cdfs():
    """-m log u and u^(-1/a) - 1, checked against math's functions (within a few ulps)."""
    u = grid_uniforms(5, 2_000)
    expected = np.array([-0.01 * math.log(x) for x in u])
    assert np.allclose(variates.exponential(u, 0.01), expected, rtol=4e-16, atol=0)
    expected = np.array([x ** (-1 / 2.5) - 1 for x in u])
    assert np.allclose(variates.lomax(u, 2.5), expected, rtol=1e-14, atol=1e-15)


def test_largest_draws_are_the_documented_bounds():
    smallest = np.array([2.0**-53])  # the grid's smallest uniform
    assert variates.exponential(smallest)[0] == pytest.approx(53 * math.log(2), rel=1e-15)
    assert variates.EXPONENTIAL_MAX == pytest.approx(36.7368005696771, rel=1e-12)
    assert -variates.standard_normal(smallest)[0] == variates.NORMAL_MAX
    assert variates.NORMAL_MAX == pytest.approx(-special.ndtri(2.0**-53), rel=1e-14)


def test_uniform_with_bounds_near_the_largest_float_stays_finite():
    u = grid_uniforms(6, 1_000)
    values = variates.uniform(u, -1e308, 1e308)
    assert np.all(np.isfinite(values)) and values.min() >= -1e308 and values.max() <= 1e308
    scaled = values / 1e308  # uniform on [-1, 1]: mean 0, standard deviation 1/sqrt(3)
    assert abs(scaled.mean()) < 4 / math.sqrt(3 * 1_000)


@given(
    seed=st.integers(0, 2**63 - 1),
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=30),  # past LOOKAHEAD_MAX
    method=st.sampled_from(["random", "exponential", "standard_normal", "uniform", "pareto"]),
)
@settings(max_examples=40, deadline=None)
def test_keyed_stream_gives_the_same_draws_in_any_batching(seed, sizes, method):
    arguments = {"exponential": (0.5,), "uniform": (-2.0, 3.0), "pareto": (1.5,)}.get(method, ())
    batched = getattr(KeyedStream(seed, 2, 4, 5), method)(*arguments, size=sum(sizes))
    stream = KeyedStream(seed, 2, 4, 5)
    pieces = [getattr(stream, method)(*arguments, size=size) for size in sizes]
    assert np.array_equal(np.concatenate(pieces), batched)
    single = KeyedStream(seed, 2, 4, 5)
    if sum(sizes):
        assert getattr(single, method)(*arguments) == batched[0]  # size None: one float


def test_a_stream_drawn_in_vectors_gives_counter_j_across_its_refills():
    # 60 draws of a 100-vector (an attack's value every round): the stream computes 32 calls
    # ahead, capped at LOOKAHEAD_MAX = 4096 variates, so the 6000 variates span two refills;
    # variate j is still counter j's uniform, mapped to [-10, 10].
    stream = KeyedStream(5, 3, 1, 2)
    drawn = np.concatenate([stream.uniform(-10.0, 10.0, 100) for _ in range(60)])
    u = philox.uniforms(5, 3, 1, 2, np.arange(6000))[0]
    assert np.array_equal(drawn, -10.0 + 20.0 * u)  # low + (high - low) u, as written
    assert np.array_equal(drawn, KeyedStream(5, 3, 1, 2).uniform(-10.0, 10.0, 6000))
    assert stream.position == 6000


def test_keyed_stream_draw_j_is_counter_j():
    stream = KeyedStream(9, 1, 3, 0)
    stream.random(5)
    out = np.empty((2, 3))
    stream.random(out=out)
    expected = philox.uniforms(9, 1, 3, 0, np.arange(5, 11))[0].reshape(2, 3)
    assert np.array_equal(out, expected)
    assert stream.position == 11


def test_keyed_permutation_is_a_permutation_and_uniform_enough():
    stream = KeyedStream(2, 4, 0, 7)
    firsts = np.zeros(4, dtype=int)
    for _ in range(4_000):
        order = stream.permutation(4)
        assert sorted(order.tolist()) == [0, 1, 2, 3]
        firsts[order[0]] += 1
    assert stats.chisquare(firsts).pvalue > 1e-4


@given(
    seed=st.integers(0, 2**40),
    count=st.integers(1, 40),
    calls=st.integers(1, 6),
    transform=st.sampled_from([("random",), ("uniform", -3.0, 2.0), ("normal",)]),
    meddle=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_draw_rows_gives_each_stream_its_own_draws(seed, count, calls, transform, meddle):
    """Rows for several streams at once (two entity families, streams at different positions)
    equal each stream's draws alone, call after call, and leave every stream where it would be:
    from the block computed ahead (later calls) and, with ``meddle``, when one stream also
    draws alone between calls (no longer the same distance into the block as the others)."""

    def make() -> list[KeyedStream]:
        family = [KeyedStream(seed, 2, 0, b) for b in (1, 2, 5)] + [KeyedStream(seed, 2, 3, 1)]
        family[1].random(7)  # a stream already advanced
        return family

    together, alone = make(), make()
    method = {"random": "random", "uniform": "uniform", "normal": "standard_normal"}[transform[0]]
    for call in range(calls):
        rows = variates.draw_rows(together, count, transform)
        for row, stream in zip(rows, alone, strict=True):
            assert np.array_equal(row, getattr(stream, method)(*transform[1:], size=count))
        if meddle and call % 2 == 0:
            assert np.array_equal(together[2].random(3), alone[2].random(3))
    assert [s.position for s in together] == [s.position for s in alone]
