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


def _entity(key: int) -> int:
    return SERVER_KEY if key == SERVER else key


def seed_words(seed: int, senders: Sequence[int], receivers: Sequence[int]) -> np.ndarray:
    """The 4 uint64 words ``SeedSequence(seed, spawn_key=(0, a, b)).generate_state(4,
    np.uint64)`` for every pair (senders[k], receivers[k]); shape (len, 4)."""
    a = np.array([_entity(int(s)) for s in senders], dtype=np.uint64)
    b = np.array([_entity(int(r)) for r in receivers], dtype=np.uint64)
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


def pcg_states(seed: int, senders: Sequence[int], receivers: Sequence[int]) -> list[PCGState]:
    """The initial PCG64 (state, inc) of the link stream of every (sender, receiver) pair: the
    state ``netsim.rng.link_stream(seed, sender, receiver).bit_generator`` starts from."""
    out = []
    for w0, w1, w2, w3 in seed_words(seed, senders, receivers).tolist():
        inc = ((((w2 << 64) | w3) << 1) | 1) & _MASK128
        state = inc  # state = 0 * M + inc
        state = (state + ((w0 << 64) | w1)) & _MASK128
        state = (state * _PCG_MULTIPLIER + inc) & _MASK128
        out.append((state, inc))
    return out


class StreamSlot:
    """One ``Generator`` whose PCG64 state is swapped in and out: any link stream, on demand."""

    def __init__(self) -> None:
        self.bit_generator = np.random.PCG64(0)
        self.generator = np.random.Generator(self.bit_generator)

    def load(self, state: PCGState) -> np.random.Generator:
        """The generator, positioned at ``state`` (what the link has drawn so far)."""
        self.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": state[0], "inc": state[1]},
            "has_uint32": 0,
            "uinteger": 0,
        }
        return self.generator

    def save(self) -> PCGState:
        """The current (state, inc), to resume the same link later."""
        inner = self.bit_generator.state["state"]
        return inner["state"], inner["inc"]
