"""Exhaustive mode for tiny systems: every delivery order of one round that matters.

The round explored is round 0 of a peer-to-peer (CE) scenario, where every agent starts at
simulated time 0. Honest receiver i waits for its n - 1 round-0 messages until its deadline D.
What i does with the round depends only on *which* messages arrive before D, never on their
order: the CE filter (and every rule of netsim.aggregators) is a function of the set of values
received (ties go to the lower sender id, not to the earlier arrival), and the absent ones are
eliminated or replaced by stale values by sender, not by time. So of the n! orders in which i can
see its n - 1 messages and its deadline event, two matter differently exactly when a different
set of messages precedes the deadline: 2^(n-1) classes per receiver, and the receivers choose
independently (a receiver sees only its own arrivals; the rushing adversary sees honest values
when they are *sent*, so deliveries do not change what it knows). The Byzantine agents' own
inboxes only clock their rounds and keep the base model.

Each class is realized by a ``scheduled`` delay table for round 0 (``first = 0``): a message
that precedes the deadline takes delay 0, one that misses it takes delay Delta (the latest the
model allows, ``network.asynchrony.delta``), which misses the deadline only if D < Delta: a
deadline of at least Delta makes every order of round 0 equivalent, and the mode refuses it.
Every other message of the run takes the base delay model's draw, as without the table. So the
exhaustive mode runs 2^((n-1) h) scenarios (h honest agents) standing for (n!)^h delivery orders;
n <= 4 keeps that at most 2^9 = 512.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..config import Scenario
from ..delays import link_key
from ..errors import ScenarioError
from .methods import Evaluator
from .space import require_delta

MAX_AGENTS = 4


@dataclass(frozen=True)
class ExhaustiveCount:
    """How big the exhaustive mode's space is (module docstring)."""

    receivers: tuple[int, ...]  # the honest agents, whose round-0 deliveries are enumerated
    senders_per_receiver: int  # n - 1
    classes: int  # 2^((n-1) h): the scenarios run
    interleavings: int  # (n!)^h: the orders of messages and deadlines they stand for


def exhaustive_count(scenario: Scenario) -> ExhaustiveCount:
    """The classes to explore, after refusing what the mode cannot do."""
    net, proto = scenario.network, scenario.protocol
    if net.n > MAX_AGENTS:
        raise ScenarioError(
            "network.n",
            "the exhaustive search enumerates every delivery order: tiny systems only",
            net.n,
            f"n <= {MAX_AGENTS}, or --method random | de",
        )
    if proto.kind != "ce":
        raise ScenarioError(
            "protocol.kind",
            "the exhaustive search enumerates the delivery orders of a peer-to-peer round",
            proto.kind,
            "ce, or --method random | de for the CGC server",
        )
    delta = require_delta(scenario, "the exhaustive search (a late message arrives at Delta)")
    if proto.deadline is None or proto.deadline >= delta:
        raise ScenarioError(
            "protocol.deadline",
            "within Delta no message of round 0 can miss a deadline >= Delta, so every delivery "
            "order is equivalent; give a deadline shorter than Delta",
            proto.deadline,
            f"< {delta:g} (network.asynchrony.delta)",
        )
    receivers = tuple(net.honest)
    h = len(receivers)
    return ExhaustiveCount(
        receivers=receivers,
        senders_per_receiver=net.n - 1,
        classes=2 ** ((net.n - 1) * h),
        interleavings=math.factorial(net.n) ** h,
    )


def delivery_classes(scenario: Scenario) -> Iterator[dict[str, list[float]]]:
    """Every class as the round-0 delay table of the honest receivers' links: 0 (before the
    deadline) or Delta (after it), in a fixed order (receiver by receiver, sender by sender)."""
    count = exhaustive_count(scenario)
    delta = require_delta(scenario, "the exhaustive search")
    n = scenario.network.n
    links = [(j, i) for i in count.receivers for j in range(n) if j != i]
    for late in itertools.product((False, True), repeat=len(links)):
        yield {link_key(*link): [delta if slow else 0.0] for link, slow in zip(links, late)}


def exhaustive_raw(raw: dict[str, Any], table: dict[str, list[float]]) -> dict[str, Any]:
    """The base scenario with one class's round-0 table over its delay model."""
    out = copy.deepcopy(raw)
    base = out["network"].get("delay", {"model": "constant", "value": 0.0})
    out["network"]["delay"] = {
        "model": "scheduled",
        "first": 0,
        "repeat": False,
        "delays": table,
        "default": base,
    }
    return out


def exhaustive_search(
    scenario: Scenario, raw: dict[str, Any], evaluator: Evaluator
) -> ExhaustiveCount:
    """Run every class (module docstring) through the evaluator; the history holds them all
    (``x``: 1 for each late message, in :func:`delivery_classes` order)."""
    count = exhaustive_count(scenario)
    tables = list(delivery_classes(scenario))
    raws = [exhaustive_raw(raw, table) for table in tables]
    results = evaluator.run(raws)
    for candidate, table, result in zip(raws, tables, results):
        late = sorted(key for key, entry in table.items() if entry[0] > 0)
        x = [1.0 if entry[0] > 0 else 0.0 for entry in table.values()]
        evaluator.record(candidate, x, result, late=late)
    return count
