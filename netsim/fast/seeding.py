"""Many link streams at once: the PCG64 state of ``SeedSequence(seed, spawn_key=(0, a, b))``.

:func:`netsim.rng.link_stream` builds one ``Generator`` per link, which costs ~30 µs: 30 s for
the 10^6 links of n = 1000. The fast engine needs the *same* streams, so it computes their
initial states in bulk and loads them, one after the other, into a single reusable ``PCG64``
(a state assignment costs ~2 µs).

The maths is numpy's own (``numpy/random/bit_generator.pyx`` and ``pcg64.c``), vectorised over
links; every operation is on 32-bit words modulo 2^32:

- entropy = [seed words, zero-padded to the pool size 4] + [KIND, a, b] (one word each);
- ``mix_entropy``: hashmix each word into a pool of 4 words (INIT_A, MULT_A), then cross-mix
  (MIX_MULT_L, MIX_MULT_R), then mix in the words beyond the pool;
- ``generate_state(4, uint64)``: 8 words drawn from the pool (INIT_B, MULT_B), paired
  little-endian into 4 uint64: seed = (w0 << 64) | w1, inc = (w2 << 64) | w3;
- PCG64 seeding (``pcg_setseq_128_srandom_r``): state = 0, inc = (inc << 1) | 1, step,
  state += seed, step; a step is state = state * M + inc modulo 2^128.

``tests/test_fast_engine.py`` checks every state against ``netsim.rng.link_stream``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

from ..rng import LINK, SERVER, SERVER_KEY

_MASK32 = 0xFFFFFFFF
_MASK128 = (1 << 128) - 1
_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_MULT_L = 0xCA01F9DD
_MIX_MULT_R = 0x4973F715
_POOL = 4
_PCG_MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341

PCGState = tuple[int, int]  # (state, inc), 128-bit integers as numpy's PCG64 reports them


def _words(value: int) -> list[int]:
    """An integer as little-endian 32-bit words (numpy's ``_int_to_uint32_array``)."""
    if value == 0:
        return [0]
    words = []
    while value > 0:
        words.append(value & _MASK32)
        value >>= 32
    return words


def _hashmix(value: np.ndarray, constant: list[int]) -> np.ndarray:
    value = value ^ np.uint64(constant[0])
    constant[0] = (constant[0] * _MULT_A) & _MASK32
    value = (value * np.uint64(constant[0])) & np.uint64(_MASK32)
    return value ^ (value >> np.uint64(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = (np.uint64(_MIX_MULT_L) * x - np.uint64(_MIX_MULT_R) * y) & np.uint64(_MASK32)
    return result ^ (result >> np.uint64(16))


def seed_words(seed: int, senders: Sequence[int], receivers: Sequence[int]) -> np.ndarray:
    """The 4 uint64 words ``SeedSequence(seed, spawn_key=(0, a, b)).generate_state(4,
    np.uint64)`` for every pair (senders[k], receivers[k]); shape (len, 4)."""
    a = np.asarray(senders, dtype=np.int64)
    b = np.asarray(receivers, dtype=np.int64)
    a = np.where(a == SERVER, SERVER_KEY, a).astype(np.uint64)
    b = np.where(b == SERVER, SERVER_KEY, b).astype(np.uint64)
    count = len(a)
    run = _words(seed)
    run = run + [0] * (_POOL - len(run)) if len(run) < _POOL else run
    columns = [np.full(count, w, dtype=np.uint64) for w in run]
    columns += [np.full(count, LINK, dtype=np.uint64), a, b]
    constant = [_INIT_A]
    pool = [_hashmix(columns[i], constant) for i in range(_POOL)]
    for source in range(_POOL):
        for target in range(_POOL):
            if source != target:
                pool[target] = _mix(pool[target], _hashmix(pool[source], constant))
    for source in range(_POOL, len(columns)):
        for target in range(_POOL):
            pool[target] = _mix(pool[target], _hashmix(columns[source], constant))
    constant_b = _INIT_B
    state = []
    for word in range(8):
        value = pool[word % _POOL] ^ np.uint64(constant_b)
        constant_b = (constant_b * _MULT_B) & _MASK32
        value = (value * np.uint64(constant_b)) & np.uint64(_MASK32)
        state.append(value ^ (value >> np.uint64(16)))
    return np.stack([state[2 * k] | (state[2 * k + 1] << np.uint64(32)) for k in range(4)], axis=1)


def _multiply(hi: np.ndarray, lo: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) * m modulo 2^128, on 64-bit halves (32-bit limbs for the low product)."""
    m_hi, m_lo = np.uint64(m >> 64), np.uint64(m & (2**64 - 1))
    mask = np.uint64(_MASK32)
    shift = np.uint64(32)
    a1, a0 = lo >> shift, lo & mask
    b1, b0 = m_lo >> shift, m_lo & mask
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> shift) + (p01 & mask) + (p10 & mask)
    low = (p00 & mask) | (middle << shift)
    high = p11 + (p01 >> shift) + (p10 >> shift) + (middle >> shift)
    high = high + hi * m_lo + lo * m_hi
    return high, low


def _add(
    a_hi: np.ndarray, a_lo: np.ndarray, b_hi: np.ndarray, b_lo: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    low = a_lo + b_lo
    return a_hi + b_hi + (low < a_lo).astype(np.uint64), low


def pcg_words(seed: int, senders: Sequence[int], receivers: Sequence[int]) -> np.ndarray:
    """The initial PCG64 state of the link stream of every (sender, receiver) pair, as uint64
    words (state low, state high, inc low, inc high); shape (len, 4)."""
    words = seed_words(seed, senders, receivers)
    with np.errstate(over="ignore"):
        one = np.uint64(1)
        inc_hi = (words[:, 2] << one) | (words[:, 3] >> np.uint64(63))
        inc_lo = (words[:, 3] << one) | one
        state_hi, state_lo = _add(inc_hi, inc_lo, words[:, 0], words[:, 1])  # 0 * M + inc + seed
        state_hi, state_lo = _multiply(state_hi, state_lo, _PCG_MULTIPLIER)
        state_hi, state_lo = _add(state_hi, state_lo, inc_hi, inc_lo)
    return np.ascontiguousarray(np.stack([state_lo, state_hi, inc_lo, inc_hi], axis=1))


def pcg_states(seed: int, senders: Sequence[int], receivers: Sequence[int]) -> list[PCGState]:
    """The initial PCG64 (state, inc) of the link stream of every (sender, receiver) pair: the
    state ``netsim.rng.link_stream(seed, sender, receiver).bit_generator`` starts from."""
    return [_state(row) for row in pcg_words(seed, senders, receivers).tolist()]


def _state(row: Sequence[int]) -> PCGState:
    return (int(row[1]) << 64) | int(row[0]), (int(row[3]) << 64) | int(row[2])


class StreamSlot:
    """One ``Generator`` whose PCG64 state is swapped in and out: any link stream, on demand.

    Loading a state through ``bit_generator.state`` (a dict) costs ~4 µs; writing the 32
    bytes of the state straight into the bit generator (``PCG64.ctypes.state_address``) costs
    well under 1 µs. The direct write is used only if a self-test at construction shows that
    it gives the stream numpy gives (the layout of numpy's 128-bit state is platform-specific).
    """

    def __init__(self) -> None:
        self.bit_generator = np.random.PCG64(0)
        self.generator = np.random.Generator(self.bit_generator)
        self._flags = self.bit_generator.ctypes.state_address
        self._pointer = ctypes.cast(self._flags, ctypes.POINTER(ctypes.c_void_p))[0]
        self._has_uint32 = ctypes.c_int.from_address(self._flags + ctypes.sizeof(ctypes.c_void_p))
        self.direct = False
        probe = pcg_words(7, [3], [5])
        self.load(probe[0])
        direct = self.generator.random(4)
        self.direct = True
        self.load(probe[0])
        self.direct = bool(np.array_equal(self.generator.random(4), direct))

    def load(self, words: np.ndarray) -> np.random.Generator:
        """The generator, positioned at ``words`` (a row of :func:`pcg_words`)."""
        if self.direct:
            self.load_address(words.ctypes.data)
            return self.generator
        state, inc = _state(words.tolist())
        self.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": state, "inc": inc},
            "has_uint32": 0,
            "uinteger": 0,
        }
        return self.generator

    def load_address(self, address: int) -> np.random.Generator:
        """:meth:`load` from the address of a row of words (direct mode only): the fast path
        for a loop over the rows of one array."""
        ctypes.memmove(self._pointer, address, 32)
        self._has_uint32.value = 0
        return self.generator

    def save(self, words: np.ndarray) -> None:
        """Write the current state into ``words`` (to resume the same link later)."""
        if self.direct:
            ctypes.memmove(words.ctypes.data, self._pointer, 32)
            return
        inner = self.bit_generator.state["state"]
        mask = 2**64 - 1
        words[:] = [
            inner["state"] & mask,
            inner["state"] >> 64,
            inner["inc"] & mask,
            inner["inc"] >> 64,
        ]
