"""Philox4x32-10 as a pure function of arrays (netsim.philox): Random123's known answers,
the documented counter layout, and the independence and batch properties the engines need."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim import philox

# Random123's kat_vectors, the three "philox4x32 10" lines: counter (4 words), key (2 words),
# expected output (4 words).
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF,) * 4,
        (0xFFFFFFFF,) * 2,
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_random123_known_answers(counter, key, expected):
    out = philox.philox4x32(np.array([counter], dtype=np.uint64), key)
    assert tuple(int(w) for w in out[0]) == expected


def test_known_answers_in_one_batch_across_a_block_boundary():
    """The same three answers as rows of one large batch, placed on both sides of a block
    boundary: a counter's output does not depend on its neighbours."""
    counters = np.zeros((philox.BLOCK + 3, 4), dtype=np.uint64)
    rows = [philox.BLOCK - 1, philox.BLOCK, philox.BLOCK + 2]
    for row, (counter, _, _) in zip(rows, KNOWN_ANSWERS[:1] * 3, strict=True):
        counters[row] = counter
    out = philox.philox4x32(counters, (0, 0))
    for row in rows:
        assert tuple(int(w) for w in out[row]) == KNOWN_ANSWERS[0][2]


def _unit_by_hand(high: int, low: int) -> float:
    """(k + 1/2) 2^-52, k the top 52 bits of high:low (module docstring), in exact integers."""
    k = ((high << 32) | low) >> 12
    return (2 * k + 1) / 2**53


@pytest.mark.parametrize(
    ("seed", "kind", "a", "b", "index", "draw"),
    [
        (0, 0, 0, 1, 0, 0),
        (12345678901234, 2, 7, 3, 2**40 + 5, 1),
        (2**64 - 1, 255, -1, 2**32 - 2, 2**48 - 1, 255),
    ],
)
def test_uniforms_follow_the_documented_counter_layout(seed, kind, a, b, index, draw):
    """The counter words and the conversion written out by hand from the module docstring."""
    a_word = 2**32 - 1 if a == -1 else a
    counter = (
        index & 0xFFFFFFFF,
        (kind << 24) | (draw << 16) | (index >> 32),
        a_word,
        b,
    )
    key = (seed & 0xFFFFFFFF, seed >> 32)
    words = [int(w) for w in philox.philox4x32(np.array([counter], dtype=np.uint64), key)[0]]
    first, second = philox.uniforms(seed, kind, a, b, index, draw)
    assert float(first) == _unit_by_hand(words[0], words[1])
    assert float(second) == _unit_by_hand(words[2], words[3])


@given(
    seed=st.integers(0, 2**64 - 1),
    kind=st.integers(0, 255),
    start=st.integers(0, 2**40),
    count=st.integers(1, 3 * philox.BLOCK // 2),
)
@settings(max_examples=12, deadline=None)
def test_a_batch_gives_each_counter_what_it_gives_alone(seed, kind, start, count):
    index = np.arange(start, start + count)
    first, second = philox.uniforms(seed, kind, 3, 4, index)
    for j in sorted({0, count // 2, count - 1}):
        alone = philox.uniforms(seed, kind, 3, 4, int(index[j]))
        assert first[j] == alone[0] and second[j] == alone[1]


@pytest.mark.parametrize(
    ("rows", "columns"),
    [(3, philox.BLOCK + 5), (philox.BLOCK // 2 + 1, 3), (1, 1)],
)
def test_blocks_over_rows_and_columns_and_one_part_agree_with_single_counters(rows, columns):
    """Blocks cut along both axes (long rows, many short rows) and ``uniform_part`` give each
    counter what it gives alone, for both parts."""
    a = np.arange(rows)[:, None]
    index = np.arange(columns)[None, :] * 7 + 3
    first, second = philox.uniforms(5, 9, a, 2, index, 1)
    assert first.shape == second.shape == (rows, columns)
    assert np.array_equal(philox.uniform_part(5, 9, a, 2, index, 1, 0), first)
    assert np.array_equal(philox.uniform_part(5, 9, a, 2, index, 1, 1), second)
    for i, j in {(0, 0), (rows - 1, columns - 1), (rows // 2, columns // 2)}:
        alone = philox.uniforms(5, 9, i, 2, int(index[0, j]), 1)
        assert (first[i, j], second[i, j]) == (alone[0], alone[1])
    with pytest.raises(ValueError, match="part is 0 or 1"):
        philox.uniform_part(5, 9, 0, 2, 0, 1, 2)


def test_adding_entities_changes_no_existing_draw():
    """A link's draws are the same computed among 5 agents or among 50 (no dependence on n)."""
    small = philox.uniforms(7, 0, np.arange(5)[:, None], np.arange(5)[None, :], 11)
    large = philox.uniforms(7, 0, np.arange(50)[:, None], np.arange(50)[None, :], 11)
    assert np.array_equal(small[0], large[0][:5, :5])
    assert np.array_equal(small[1], large[1][:5, :5])


def test_uniforms_lie_in_the_open_interval_on_a_symmetric_grid():
    u, v = philox.uniforms(1, 0, 0, 1, np.arange(200_000))
    both = np.concatenate([u, v])
    assert both.min() > 0.0 and both.max() < 1.0
    k = both * 2**52 - 0.5  # exactly an integer on the grid
    assert np.array_equal(k, np.floor(k))
    assert np.array_equal((1.0 - both) * 2**52 - 0.5, np.floor((1.0 - both) * 2**52 - 0.5))
    assert abs(both.mean() - 0.5) < 4 * np.sqrt(1 / 12 / both.size)  # 4 standard errors


def test_different_addresses_give_different_draws():
    """Seed, kind, draw, either entity or the index: changing any one changes the uniforms."""
    base = dict(seed=5, kind=0, a=1, b=2, index=9, draw=0)
    reference = philox.uniforms(**base)[0]
    for field, value in [("seed", 6), ("kind", 1), ("a", 2), ("b", 1), ("index", 10),
                         ("draw", 1), ("a", -1)]:  # fmt: skip
        changed = dict(base, **{field: value})
        assert philox.uniforms(**changed)[0] != reference, field


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(seed=-1, kind=0, a=0, b=0, index=0), "seed"),
        (dict(seed=0, kind=256, a=0, b=0, index=0), "kind"),
        (dict(seed=0, kind=0, a=2**32, b=0, index=0), "entity"),
        (dict(seed=0, kind=0, a=0, b=-2, index=0), "entity"),
        (dict(seed=0, kind=0, a=0, b=0, index=2**48), "index"),
        (dict(seed=0, kind=0, a=0, b=0, index=0, draw=256), "draw"),
    ],
)
def test_out_of_range_addresses_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        philox.uniforms(**arguments)
