"""Counter-based randomness: Philox4x32-10 as a pure function of arrays (pure numpy).

Philox (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11;
the Random123 library) maps a 128-bit counter and a 64-bit key to 128 random bits through ten
rounds of two 32 x 32 -> 64-bit multiplications and xors. It has no state: the draw for a
counter is the same whenever, wherever and in whatever batch it is computed. That is what lets
a draw be addressed by what it is for instead of by how many draws came before it:

    key     = the run's seed (64 bits: low word, high word)
    counter = (index low 32 bits,
               kind << 24 | draw << 16 | index high 16 bits,
               a, b)

with ``kind`` and ``(a, b)`` the entity of :mod:`netsim.rng` (a link, an agent, an adversary
towards a receiver, ...; the server's id -1 is written 2^32 - 1), ``index`` the position of the
draw in that entity's sequence (a message number, or a stream's running count) and ``draw``
which variate of that position (a message's delay, its loss, ...). Adding an agent adds new
counters and changes no existing one.

Each counter gives two uniform doubles (:func:`uniforms`): the four 32-bit output words, two
at a time, as a 52-bit integer k, and u = (k + 1/2) / 2^52, so that u lies in (0, 1) on a
grid symmetric about 1/2 (1 - u is on it too, exactly) and log(u) is always finite.

Speed: a round is five vectorized integer operations over both lanes, into reused buffers, on
blocks of :data:`BLOCK` counters; about 25 ns a counter on one core, conversion to uniforms
left out (blocks of 2^13 to 2^15 counters, whose arrays stay in a core's L2 cache, run 2x
faster than 2^12 or 2^16 and up on a 2-vCPU AMD EPYC with 1 MiB of L2 a core:
benchmarks/philox_blocks.py), within 2x of numpy's own (C) Philox bit generator, which steps
one sequential counter and so cannot address draws this way. Checked against Random123's
published known-answer vectors (tests/test_philox.py).
"""

from __future__ import annotations

import numpy as np

ROUNDS = 10
MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)  # Random123's PHILOX_M4x32_0, _1
WEYL = (0x9E3779B9, 0xBB67AE85)  # the key's bump between rounds: PHILOX_W32_0, _1
BLOCK = 1 << 14  # counters per block: a round's arrays (about 1 MiB) stay in a core's L2 cache
WORD = 0xFFFFFFFF
MAX_INDEX = 1 << 48  # index: 32 bits in word 0, 16 in word 1
MAX_KIND = 1 << 8
MAX_DRAW = 1 << 8
ENTITY_LIMIT = 1 << 32  # a and b are 32-bit words
UNIT = 2.0**-52

_M0 = np.uint64(MULTIPLIERS[0])
_M1 = np.uint64(MULTIPLIERS[1])
_LOW = np.uint64(WORD)
_SHIFT = np.uint64(32)


def philox4x32(counters: np.ndarray, key: tuple[int, int], rounds: int = ROUNDS) -> np.ndarray:
    """Philox4x32-``rounds`` of each row of ``counters`` (k, 4), 32-bit words, under ``key``
    (two 32-bit words): (k, 4) uint32. Random123's ``philox4x32_R``: in each round, with
    (hi, lo) the two halves of the 64-bit products M0 c0 and M1 c2,
    c <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)), and the key is
    bumped by the Weyl constants before every round but the first."""
    counters = np.asarray(counters)
    if counters.ndim != 2 or counters.shape[1] != 4:
        raise ValueError(f"philox4x32: counters must have shape (k, 4), not {counters.shape}")
    words = [counters[:, i].astype(np.uint64) & _LOW for i in range(4)]
    out = np.empty(counters.shape, dtype=np.uint32)
    for start in range(0, len(counters), BLOCK):
        block = [w[start : start + BLOCK] for w in words]
        result = _rounds(*block, key[0] & WORD, key[1] & WORD, rounds)
        for i in range(4):
            out[start : start + BLOCK, i] = result[i]
    return out


def _round_keys(k0: int, k1: int, rounds: int) -> np.ndarray:
    """The key of every round, (rounds, 2, 1) uint64: (k0, k1), bumped by the Weyl constants
    before every round but the first."""
    keys = [((k0 + r * WEYL[0]) & WORD, (k1 + r * WEYL[1]) & WORD) for r in range(rounds)]
    return np.array(keys, dtype=np.uint64)[:, :, None]


_MULTIPLIERS = np.array(MULTIPLIERS, dtype=np.uint64)[:, None]  # (M0, M1) against (c0, c2)


def _rounds(
    c0: np.ndarray, c1: np.ndarray, c2: np.ndarray, c3: np.ndarray, k0: int, k1: int, rounds: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Philox rounds on uint64 arrays holding 32-bit words (the products fit in 64 bits).

    The two lanes of a round are stacked, (c0, c2) and (c1, c3), so that a round is five
    array operations: the products (M0 c0, M1 c2), their high and low halves, and
    c <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0))."""
    even = np.stack([c0, c2])  # (c0, c2)
    odd = np.stack([c1, c3])  # (c1, c3)
    products, high = np.empty_like(even), np.empty_like(even)  # reused: no allocation a round
    for key in _round_keys(k0, k1, rounds):
        np.multiply(_MULTIPLIERS, even, out=products)  # (M0 c0, M1 c2)
        np.right_shift(products, _SHIFT, out=high)
        np.bitwise_xor(high[::-1], odd, out=even)  # (hi(M1 c2) ^ c1, hi(M0 c0) ^ c3)
        even ^= key
        np.bitwise_and(products, _LOW, out=odd[::-1])  # odd = (lo(M1 c2), lo(M0 c0))
    return even[0], odd[0], even[1], odd[1]


def seed_key(seed: int) -> tuple[int, int]:
    """The Philox key of a run's seed (0 <= seed < 2^64): its low and high 32-bit words."""
    if not 0 <= seed < 1 << 64:
        raise ValueError(f"a seed is a 64-bit unsigned integer, got {seed}")
    return seed & WORD, seed >> 32


def uniforms(
    seed: int,
    kind: int,
    a: np.ndarray | int,
    b: np.ndarray | int,
    index: np.ndarray | int,
    draw: np.ndarray | int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The two uniforms in (0, 1) of each counter (module docstring) addressed by ``kind``,
    entities ``a``, ``b`` (server: -1), ``index`` and ``draw``; the array arguments broadcast.
    Returns two float64 arrays of the broadcast shape: the first and the second uniform.

    Computed a block of rows of the broadcast shape at a time: the counters of a block are
    formed, run through the rounds and converted while they are in cache."""
    first, second = _generate(seed, kind, a, b, index, draw, (0, 1))
    return first, second


def uniform_part(
    seed: int,
    kind: int,
    a: np.ndarray | int,
    b: np.ndarray | int,
    index: np.ndarray | int,
    draw: np.ndarray | int,
    part: int,
) -> np.ndarray:
    """``uniforms(...)[part]`` bit for bit, without converting the other uniform of each
    counter (a stream that reads one of the two)."""
    if part not in (0, 1):
        raise ValueError(f"part is 0 or 1 (a counter gives two uniforms), got {part}")
    return _generate(seed, kind, a, b, index, draw, (part,))[0]


def _generate(
    seed: int,
    kind: int,
    a: np.ndarray | int,
    b: np.ndarray | int,
    index: np.ndarray | int,
    draw: np.ndarray | int,
    parts: tuple[int, ...],
) -> list[np.ndarray]:
    """The uniforms ``parts`` (0: the first of each counter, 1: the second) of :func:`uniforms`."""
    if not 0 <= kind < MAX_KIND:
        raise ValueError(f"kind must be in [0, {MAX_KIND}), got {kind}")
    a_words, b_words = _entity_words(a), _entity_words(b)
    index = np.asarray(index, dtype=np.int64)
    draw = np.asarray(draw, dtype=np.int64)
    if index.size and (index.min() < 0 or index.max() >= MAX_INDEX):
        raise ValueError(f"a draw index must be in [0, 2^48), got {index.min()}..{index.max()}")
    if draw.size and (draw.min() < 0 or draw.max() >= MAX_DRAW):
        raise ValueError(f"draw must be in [0, {MAX_DRAW}), got {draw.min()}..{draw.max()}")
    shape = np.broadcast_shapes(a_words.shape, b_words.shape, index.shape, draw.shape)
    columns = shape[-1] if shape else 1
    rows = int(np.prod(shape[:-1], dtype=np.int64)) if shape else 1
    index = index.astype(np.uint64)
    high = (np.uint64(kind) << np.uint64(24)) | (draw.astype(np.uint64) << np.uint64(16))
    high = high | (index >> _SHIFT)  # word 1: kind, draw and the index's high bits
    low = index & _LOW
    words_of = [_as_rows(w, shape, rows, columns) for w in (low, high, a_words, b_words)]
    k0, k1 = seed_key(seed)
    out = [np.empty((rows, columns)) for _ in parts]
    row_step, column_step = max(1, BLOCK // max(columns, 1)), max(1, min(columns, BLOCK))
    for top in range(0, rows, row_step):
        for left in range(0, columns, column_step):
            block = (slice(top, top + row_step), slice(left, left + column_step))
            words = [np.ascontiguousarray(w[block], dtype=np.uint64) for w in words_of]
            mixed = _rounds(*(w.reshape(-1) for w in words), k0, k1, ROUNDS)
            for values, part in zip(out, parts):
                unit = _unit(mixed[2 * part], mixed[2 * part + 1])
                values[block] = unit.reshape(words[0].shape)
    return [values.reshape(shape) for values in out]


def _as_rows(words: np.ndarray, shape: tuple[int, ...], rows: int, columns: int) -> np.ndarray:
    """``words`` broadcast to ``shape`` and viewed as (rows, columns), without copying where
    an axis is broadcast (its stride stays 0)."""
    return np.broadcast_to(words, shape).reshape(rows, columns) if shape else words.reshape(1, 1)


def _entity_words(entity: np.ndarray | int) -> np.ndarray:
    entity = np.asarray(entity, dtype=np.int64)
    words = np.where(entity == -1, ENTITY_LIMIT - 1, entity)
    if words.size and (words.min() < 0 or words.max() >= ENTITY_LIMIT):
        raise ValueError("an entity id must be in [0, 2^32) or -1 (the server)")
    return words.astype(np.uint64)


def _unit(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """(k + 1/2) 2^-52 for k the top 52 of the 64 bits high:low: exact (k + 1/2 has 53
    significant bits at most), in (0, 1)."""
    k = (high << np.uint64(20)) | (low >> np.uint64(12))
    return (k.astype(np.float64) + 0.5) * UNIT
