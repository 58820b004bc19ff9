"""One run of one scenario, event by event: build the world, run SimPy, collect arrays."""

from __future__ import annotations

from collections.abc import Callable

from .config import Scenario
from .costs import aggregate_optimum
from .engine import Network, OrderedEnvironment
from .errors import SimulationStalled
from .protocols.ce import CEProtocol
from .results import VariantResult, trace_hash


def simulate(
    scenario: Scenario, name: str | None = None, on_round: Callable[[], None] | None = None
) -> VariantResult:
    """Run ``scenario`` (no variants applied) on the reference engine: one event per message.

    ``on_round`` is called after every honest round completion (progress bars).
    Raises :class:`SimulationStalled` if an honest agent waits for a message that never comes.
    """
    env = OrderedEnvironment()
    net = scenario.network
    network = Network(env, net.n, net.byzantine, net.delay, scenario.seed)
    protocol = CEProtocol(scenario, env, network, on_round)
    env.run()
    _check_finished(scenario, protocol)
    honest_costs = [scenario.costs.costs[i] for i in net.honest]
    optimum = aggregate_optimum(honest_costs)
    recorder = protocol.recorder
    h = len(net.honest)
    distances = optimum.distance(recorder.estimates.reshape(-1, scenario.dim)).reshape(-1, h)
    messages = network.trace.columns()
    digest = trace_hash(messages, recorder.estimates)
    delivered = int(messages["delivered"].sum())
    summary = {
        "protocol": scenario.protocol.kind,
        "filter": scenario.protocol.filter,
        "rounds": scenario.protocol.rounds,
        "n": net.n,
        "f": net.f,
        "byzantine": list(net.byzantine),
        "delay_model": net.delay.name,
        "deadline": scenario.protocol.deadline,
        "deadline_rule": scenario.protocol.deadline_rule,
        "sim_time_end": float(recorder.times[-1].max()),
        "optimum": optimum.point.tolist(),
        "optimum_unique": optimum.unique,
        "final_distance": float(distances[-1].max()),
        "messages_sent": len(messages["round"]),
        "messages_delivered": delivered,
        **protocol.counters.as_dict(),
        "trace_hash": digest,
    }
    return VariantResult(
        name=name or scenario.name,
        summary=summary,
        honest=net.honest,
        times=recorder.times,
        estimates=recorder.estimates,
        distances=distances,
        messages=messages if scenario.trace else {},
    )


def _check_finished(scenario: Scenario, protocol: CEProtocol) -> None:
    for i in scenario.network.honest:
        if protocol.processes[i].is_alive:
            inbox = protocol.inboxes[i]
            raise SimulationStalled(
                "protocol.deadline",
                f"honest agent {i} waits forever in round {inbox.current} (a sender stays silent "
                "and delays are unbounded); set a round deadline in simulated seconds",
                scenario.protocol.deadline,
                "a number > 0",
            )
