"""Random streams by key: draw j of entity (KIND, a, b) is Philox of counter (j, KIND, a, b)
under the seed (spec/engine.md, netsim.philox)."""

from __future__ import annotations

import numpy as np
import pytest

from netsim import philox
from netsim.rng import (
    ADVERSARY,
    AGENT,
    LINK,
    LOSSES,
    SERVER_KEY,
    adversary_stream,
    agent_stream,
    filter_stream,
    link_stream,
    stream,
)


def draws(generator: np.random.Generator) -> np.ndarray:
    return generator.random(16)


def test_spec_kinds_are_link_0_agent_1_adversary_2():
    assert (LINK, AGENT, ADVERSARY) == (0, 1, 2)


def test_same_key_gives_identical_draws():
    np.testing.assert_array_equal(draws(stream(42, 1, 3, 0)), draws(stream(42, 1, 3, 0)))


@pytest.mark.parametrize(
    "other",
    [(43, 0, 2, 3), (42, 1, 2, 3), (42, 0, 1, 3), (42, 0, 2, 4), (42, 0, 3, 2)],
    ids=["seed", "kind", "a", "b", "swapped-a-b"],
)
def test_changing_any_part_of_the_key_changes_the_draws(other):
    reference = draws(stream(42, 0, 2, 3))
    assert not np.array_equal(reference, draws(stream(*other)))


def counter_draws(seed: int, kind: int, a: int, b: int, part: int = 0) -> np.ndarray:
    """The first 16 draws of entity (kind, a, b) as the spec defines them: Philox of counters
    0..15 (netsim.philox's documented layout), the first (or second) uniform of each."""
    return philox.uniforms(seed, kind, a, b, np.arange(16))[part]


def test_link_stream_reads_message_k_from_counter_k_delay_then_loss():
    np.testing.assert_array_equal(draws(link_stream(42, 2, 3)), counter_draws(42, 0, 2, 3))
    np.testing.assert_array_equal(
        draws(link_stream(42, 2, 3, LOSSES)), counter_draws(42, 0, 2, 3, part=1)
    )


def test_agent_stream_is_kind_1_with_b_0():
    np.testing.assert_array_equal(draws(agent_stream(7, 4)), counter_draws(7, 1, 4, 0))


def test_adversary_stream_is_kind_2():
    np.testing.assert_array_equal(draws(adversary_stream(7, 0, 5)), counter_draws(7, 2, 0, 5))


def test_filter_stream_is_kind_4_receiver_then_round_the_server_as_2_to_32_minus_1():
    np.testing.assert_array_equal(draws(filter_stream(7, 3, 11)), counter_draws(7, 4, 3, 11))
    np.testing.assert_array_equal(
        draws(filter_stream(7, -1, 11)), counter_draws(7, 4, SERVER_KEY, 11)
    )
    assert SERVER_KEY == 2**32 - 1


def test_a_stream_does_not_depend_on_other_streams_being_drawn():
    # Drawing from other entities first (as a larger network would) leaves this stream unchanged.
    alone = draws(link_stream(9, 1, 2))
    for sender in range(5):
        for receiver in range(5):
            link_stream(9, sender, receiver).random(100)
    agent_stream(9, 1).random(100)
    np.testing.assert_array_equal(draws(link_stream(9, 1, 2)), alone)
