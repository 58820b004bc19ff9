"""Random streams derived from the root seed *by key* (spec/engine.md, "Messages and links").

Every draw of a run is a pure function of (seed, KIND, a, b, index): Philox4x32-10 of that
counter under the seed (:mod:`netsim.philox`), turned into a variate by an exact transform
(:mod:`netsim.variates`). An entity ``(KIND, a, b)`` reads its draws as a
:class:`~netsim.variates.KeyedStream`, the j-th draw at index j. A draw depends only on the
seed and on who draws and which draw it is, never on n, on which other entities exist or on
the order in which a simulation asks: adding an agent, or turning one Byzantine, leaves every
other stream's draws unchanged, and an engine may compute a whole round's draws in one
vectorized call.

| KIND | entity | a | b |
|---|---|---|---|
| 0 | directed link a -> b (delays, loss) | sender | receiver |
| 1 | agent a (initial points, compute-time jitter) | agent | 0 |
| 1 | agent a's clock (offset and drift, ``[network.clocks]``) | agent | 1 |
| 2 | the adversary of Byzantine agent a towards receiver b | sender | receiver |
| 3 | the network's geometry (random points of a ``matrix`` delay model) | 0 | 0 |
| 4 | receiver a's filter in round b (the permutation of a ``bucketing`` step) | receiver | round |

The index of a draw is its position in the entity's sequence (the j-th draw it makes), except
on a link, where it is the message number: message k on link a -> b takes its delay from the
first uniform of counter k and its loss decision from the second.

The CGC server has node id -1 (:data:`SERVER`); in a counter it is written 2**32 - 1
(:data:`SERVER_KEY`), so the server's links never depend on n either.
"""

from __future__ import annotations

from .philox import ENTITY_LIMIT
from .variates import KeyedStream

LINK = 0
AGENT = 1
ADVERSARY = 2
GEOMETRY = 3
FILTER = 4
SERVER = -1
SERVER_KEY = ENTITY_LIMIT - 1
DELAYS = 0  # a link's message k: the first uniform of counter k gives its delay,
LOSSES = 1  # the second its loss decision

Stream = KeyedStream  # what every entity draws from


def stream(seed: int, kind: int, a: int, b: int = 0, part: int = 0) -> Stream:
    """The stream of entity ``(kind, a, b)`` under root ``seed``, at its first draw; ``part``:
    which of each counter's two uniforms it reads."""
    return KeyedStream(seed, kind, _key(a), _key(b), part=part)


def link_stream(seed: int, sender: int, receiver: int, part: int = DELAYS) -> Stream:
    """The link ``sender -> receiver`` (KIND 0): its delays (``part`` :data:`DELAYS`) or loss
    decisions (:data:`LOSSES`); message k on the link reads index k."""
    return stream(seed, LINK, sender, receiver, part)


def agent_stream(seed: int, agent: int) -> Stream:
    """Stream of ``agent`` (KIND 1, b = 0)."""
    return stream(seed, AGENT, agent, 0)


def clock_stream(seed: int, agent: int) -> Stream:
    """Stream of ``agent``'s clock imperfection (KIND 1, b = 1): its offset, then its drift."""
    return stream(seed, AGENT, agent, 1)


def adversary_stream(seed: int, sender: int, receiver: int) -> Stream:
    """Stream of the adversary controlling ``sender`` when it talks to ``receiver`` (KIND 2)."""
    return stream(seed, ADVERSARY, sender, receiver)


def filter_stream(seed: int, receiver: int, round: int) -> Stream:
    """Stream of ``receiver``'s filter in ``round`` (KIND 4; the server is ``SERVER``): what a
    pre-aggregation step that draws (bucketing) uses, the same in every engine."""
    return stream(seed, FILTER, receiver, round)


def _key(entity: int) -> int:
    return SERVER_KEY if entity == SERVER else entity
