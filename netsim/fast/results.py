"""A fast run's arrays as the reference's :class:`netsim.results.VariantResult` and summary.

The summary has the same keys and values as :func:`netsim.simulation.simulate`'s; the helpers
that compute its parts from arrays are the reference's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import Scenario
from ..costs import aggregate_optimum
from ..results import VariantResult
from ..simulation import run_summary
from .layered import LayeredPeerEngine, NotLayered
from .peer_engine import PeerEngine, tracked


class Progress:
    """``on_round`` across a round-by-round attempt and the event engine that may take over
    from the start: the event engine's first calls repeat rounds already reported, and are
    skipped, so a progress bar counts every round once."""

    def __init__(self, on_round: Callable[[], None] | None):
        self.on_round = on_round
        self.reported = 0

    def layered(self) -> None:
        self.reported += 1
        if self.on_round is not None:
            self.on_round()

    def resumed(self) -> None:
        if self.reported:
            self.reported -= 1
        elif self.on_round is not None:
            self.on_round()


def run_peer(
    scenario: Scenario,
    name: str | None,
    on_round: Callable[[], None] | None,
    layered: bool = True,
) -> VariantResult:
    """CE on the fast engine: round by round (:mod:`netsim.fast.layered`) when that is the
    reference's run, else event by event (:mod:`netsim.fast.peer_engine`; always, with
    ``layered = False``: the tests check both)."""
    net = scenario.network
    honest_costs = [scenario.costs.costs[i] for i in net.honest]
    optimum = aggregate_optimum(honest_costs)
    progress = Progress(on_round)

    engine = LayeredPeerEngine(scenario, optimum.point, progress.layered)
    try:
        if not layered:
            raise NotLayered("asked for the event engine")
        engine.run()
    except NotLayered:
        engine = PeerEngine(scenario, optimum.point, progress.resumed)
        engine.run()
    times, estimates = tracked(engine)
    return _result(
        scenario,
        name,
        optimum,
        nodes=tuple(net.honest),
        times=times,
        estimates=estimates,
        completed=scenario.protocol.rounds,
        trace=engine.trace,
        counters={**engine.counters.as_dict(), **engine.trace.late},
        capped=engine.capped,
        extra={},
        staleness=None,
    )


def _result(
    scenario: Scenario,
    name: str | None,
    optimum: Any,
    nodes: tuple,
    times: np.ndarray,
    estimates: np.ndarray,
    completed: int,
    trace: Any,
    counters: dict[str, int],
    capped: int,
    extra: dict[str, Any],
    staleness: np.ndarray | None,
) -> VariantResult:
    net = scenario.network
    columns = len(nodes)
    distances = optimum.distance(estimates.reshape(-1, scenario.dim)).reshape(-1, columns)
    summary = run_summary(
        scenario,
        optimum,
        distances,
        times,
        completed=completed,
        sent=trace.sent,
        delivered=trace.delivered,
        counters=counters,
    )
    if net.asynchrony is not None:
        summary.update(trace.bound_summary(capped))
    summary.update(extra)
    summary["trace_hash"] = trace.digest(estimates)
    return VariantResult(
        name=name or scenario.name,
        summary=summary,
        nodes=nodes,
        times=times,
        estimates=estimates,
        distances=distances,
        messages=trace.columns() if scenario.trace else {},
        staleness=staleness,
        engine="fast",
        fingerprint=trace.rounds.finish(estimates),
    )
