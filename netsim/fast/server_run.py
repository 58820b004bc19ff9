"""CGC on the fast engine: run the server engine, return the reference's result and summary.

Synchronous CGC goes round by round (:mod:`netsim.fast.server_layered`) when that is the
reference's run, else event by event (:mod:`netsim.fast.server_engine`), like asynchronous CGC.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from ..config import Scenario
from ..costs import aggregate_optimum
from ..results import VariantResult
from ..simulation import _cgc_summary
from .results import Progress, _result
from .server_engine import ServerEngine
from .server_layered import LayeredServerEngine, NotLayered


def run_server(
    scenario: Scenario,
    name: str | None,
    on_round: Callable[[], None] | None,
    layered: bool = True,
) -> VariantResult:
    """CGC on the fast engine (module docstring); ``layered = False`` always takes the event
    engine (the tests check both)."""
    net = scenario.network
    honest_costs = [scenario.costs.costs[i] for i in net.honest]
    optimum = aggregate_optimum(honest_costs)
    progress = Progress(on_round)

    engine: ServerEngine
    try:
        if not layered or scenario.protocol.mode != "sync":
            raise NotLayered("asked for the event engine")
        engine = LayeredServerEngine(scenario, optimum.point, progress.layered)
        engine.run()
    except NotLayered:
        engine = ServerEngine(scenario, optimum.point, progress.resumed)
        engine.run()
    completed = engine.completed
    protocol = SimpleNamespace(
        staleness=engine.staleness,
        recorder=SimpleNamespace(completed=completed),
        terminated_at=engine.terminated_at,
        clipped_byzantine=engine.clipped_byzantine,
        staleness_breaches=engine.staleness_breaches,
    )
    return _result(
        scenario,
        name,
        optimum,
        nodes=("server",),
        times=engine.times[: completed + 1],
        estimates=engine.estimates[: completed + 1],
        completed=completed,
        trace=engine.trace,
        counters={**engine.counters.as_dict(), **engine.trace.late},
        capped=engine.capped,
        extra=_cgc_summary(scenario, protocol, honest_costs),
        staleness=engine.staleness[:completed],
    )
