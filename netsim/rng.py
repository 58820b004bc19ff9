"""Random streams derived from the root seed *by key* (spec/engine.md, "Messages and links").

Every entity draws from its own ``numpy.random.Generator`` built from
``SeedSequence(seed, spawn_key=(KIND, a, b))``. A stream depends only on the seed and on who
draws, never on n or on which other entities exist: adding an agent, or turning one Byzantine,
leaves every other stream's draws unchanged.

| KIND | entity | a | b |
|---|---|---|---|
| 0 | directed link a -> b (delays, loss) | sender | receiver |
| 1 | agent a (initial points, compute-time jitter) | agent | 0 |
| 1 | agent a's clock (offset and drift, ``[network.clocks]``) | agent | 1 |
| 2 | the adversary of Byzantine agent a towards receiver b | sender | receiver |
| 3 | the network's geometry (random points of a ``matrix`` delay model) | 0 | 0 |
| 4 | receiver a's filter in round b (the permutation of a ``bucketing`` step) | receiver | round |

The CGC server has node id -1 (:data:`SERVER`); in a spawn key, which takes non-negative
integers only, it is written 2**32 - 1, so the server's links never depend on n either.
"""

from __future__ import annotations

import numpy as np

LINK = 0
AGENT = 1
ADVERSARY = 2
GEOMETRY = 3
FILTER = 4
SERVER = -1
SERVER_KEY = 2**32 - 1


def stream(seed: int, kind: int, a: int, b: int = 0) -> np.random.Generator:
    """The generator of entity ``(kind, a, b)`` under root ``seed``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(kind, _key(a), _key(b)))
    return np.random.Generator(np.random.PCG64(sequence))


def link_stream(seed: int, sender: int, receiver: int) -> np.random.Generator:
    """Stream of the directed link ``sender -> receiver`` (KIND 0)."""
    return stream(seed, LINK, sender, receiver)


def agent_stream(seed: int, agent: int) -> np.random.Generator:
    """Stream of ``agent`` (KIND 1, b = 0)."""
    return stream(seed, AGENT, agent, 0)


def clock_stream(seed: int, agent: int) -> np.random.Generator:
    """Stream of ``agent``'s clock imperfection (KIND 1, b = 1): its offset, then its drift."""
    return stream(seed, AGENT, agent, 1)


def adversary_stream(seed: int, sender: int, receiver: int) -> np.random.Generator:
    """Stream of the adversary controlling ``sender`` when it talks to ``receiver`` (KIND 2)."""
    return stream(seed, ADVERSARY, sender, receiver)


def filter_stream(seed: int, receiver: int, round: int) -> np.random.Generator:
    """Stream of ``receiver``'s filter in ``round`` (KIND 4; the server is ``SERVER``): what a
    pre-aggregation step that draws (bucketing) uses, the same in every engine."""
    return stream(seed, FILTER, receiver, round)


def _key(entity: int) -> int:
    return SERVER_KEY if entity == SERVER else entity
