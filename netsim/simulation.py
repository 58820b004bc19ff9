"""One run of one scenario, event by event: build the world, run SimPy, collect arrays."""

from __future__ import annotations

import gc
import hashlib
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .clocks import Guarantee, lockstep_guarantee
from .config import AsynchronyConfig, Scenario
from .costs import aggregate_optimum
from .engine import Network, OrderedEnvironment
from .engine.trace import late_honest
from .errors import SimulationStalled
from .fingerprint import RoundDigests
from .heap import keep_freed_memory
from .protocols.ce import CEProtocol
from .protocols.cgc import CGCProtocol
from .results import VariantResult, canonical_records
from .theory import CGCConstants, cgc_constants, check_redundancy

_FROZEN = [0]  # simulate calls under way in this process (they may nest: a fast-engine fallback)


@contextmanager
def _pre_run_objects_frozen() -> Iterator[None]:
    """Exempt the objects that exist when a run starts (imported modules, the parsed
    scenario) from the garbage collector's full collections until it ends (``gc.freeze``):
    they outlive the run anyway, and a full collection that traverses them all costs ~10 ms
    (CGC, n = 300, a 10-round run: 28 ms with, 15 ms without). Nothing a run computes
    depends on it; garbage made before the run is collected after it."""
    if _FROZEN[0] == 0:
        gc.freeze()
    _FROZEN[0] += 1
    try:
        yield
    finally:
        _FROZEN[0] -= 1
        if _FROZEN[0] == 0:
            gc.unfreeze()


def simulate(
    scenario: Scenario, name: str | None = None, on_round: Callable[[], None] | None = None
) -> VariantResult:
    """Run ``scenario`` (no variants applied); returns the run's arrays and summary.

    ``engine = "reference"`` runs it here, one SimPy event per message; ``"auto"`` (the
    default) and ``"fast"`` hand it to the batched engine (:mod:`netsim.fast`), which returns
    the same result bit for bit and comes back here for what it does not batch (``"fast"``
    says so in a warning). ``VariantResult.engine`` names the engine that ran.

    ``on_round`` is called after every round completion of an honest agent or of the server
    (progress bars). Raises :class:`SimulationStalled` if an honest agent or the server waits
    for a message that never comes.
    """
    keep_freed_memory()  # glibc: freed arrays stay for the next round (netsim.heap)
    with _pre_run_objects_frozen():
        if scenario.engine != "reference":
            from .fast import simulate_fast  # imported here: netsim.fast builds on this module

            return simulate_fast(scenario, name, on_round)
        return _simulate_reference(scenario, name, on_round)


def _simulate_reference(
    scenario: Scenario, name: str | None, on_round: Callable[[], None] | None
) -> VariantResult:
    """:func:`simulate` on the reference engine."""
    env = OrderedEnvironment()
    net = scenario.network
    honest_costs = [scenario.costs.costs[i] for i in net.honest]
    optimum = aggregate_optimum(honest_costs)
    cgc = scenario.protocol.kind == "cgc"
    network = Network(
        env,
        net.n,
        net.byzantine,
        net.delay,
        scenario.seed,
        server=cgc,
        loss=net.loss,
        asynchrony=net.asynchrony,
        byzantine_delivery=scenario.adversary_delivery,
    )
    protocol_class = CGCProtocol if cgc else CEProtocol
    protocol = protocol_class(scenario, env, network, optimum.point, on_round)
    env.run()
    _check_finished(scenario, protocol)
    recorder = protocol.recorder
    recorder.truncate()
    columns = len(recorder.nodes)
    distances = optimum.distance(recorder.estimates.reshape(-1, scenario.dim)).reshape(-1, columns)
    messages = network.trace.columns()
    records = canonical_records(messages)
    digest = hashlib.sha256(records.tobytes())
    digest.update(np.ascontiguousarray(recorder.estimates, dtype="<f8").tobytes())
    rounds = RoundDigests()
    rounds.add({name: records[name] for name in records.dtype.names})
    byzantine = np.zeros(net.n, dtype=bool)
    byzantine[list(net.byzantine)] = True
    gst = 0.0 if net.asynchrony is None else net.asynchrony.gst
    late = late_honest(messages, byzantine, gst)
    summary = run_summary(
        scenario,
        optimum,
        distances,
        recorder.times,
        completed=recorder.completed,
        sent=len(messages["round"]),
        delivered=int(messages["delivered"].sum()),
        counters={**protocol.counters.as_dict(), **late},
    )
    if net.asynchrony is not None:
        summary.update(_bound_check(messages, net.asynchrony, network.honest_delays_capped))
    staleness = None
    if isinstance(protocol, CGCProtocol):
        summary.update(_cgc_summary(scenario, protocol, honest_costs))
        staleness = protocol.staleness[: recorder.completed]
    summary["trace_hash"] = digest.hexdigest()
    return VariantResult(
        name=name or scenario.name,
        summary=summary,
        nodes=tuple("server" if cgc else i for i in recorder.nodes),
        times=recorder.times,
        estimates=recorder.estimates,
        distances=distances,
        messages=messages if scenario.trace else {},
        staleness=staleness,
        fingerprint=rounds.finish(recorder.estimates),
    )


def run_summary(
    scenario: Scenario,
    optimum: Any,
    distances: np.ndarray,
    times: np.ndarray,
    completed: int,
    sent: int,
    delivered: int,
    counters: dict[str, int],
) -> dict[str, Any]:
    """The summary every run reports (spec/interface.md), whichever engine ran it: the
    scenario's key facts, where the run ended, and the protocol's counters."""
    net = scenario.network
    return {
        "protocol": scenario.protocol.kind,
        "filter": scenario.protocol.filter,
        "rounds": completed,
        "n": net.n,
        "f": net.f,
        "byzantine": list(net.byzantine),
        "byzantine_over_f": max(0, len(net.byzantine) - net.f),  # > 0: outside the guarantees
        "adversary": getattr(scenario.adversary, "name", None),
        "delay_model": net.delay.name,
        "deadline": scenario.protocol.deadline,
        "deadline_rule": scenario.protocol.deadline_rule,
        "sim_time_end": float(times[-1].max()),
        "optimum": optimum.point.tolist(),
        "optimum_unique": optimum.unique,
        "final_distance": float(distances[-1].max()),
        "time_to_accuracy": _time_to_accuracy(distances, times),
        "messages_sent": sent,
        "messages_delivered": delivered,
        "messages_lost": sent - delivered,
        "compute_time": list(net.compute_time),
        **_clock_summary(scenario, times, completed),
        **counters,
    }


def lockstep_check(scenario: Scenario) -> Guarantee | None:
    """Whether the scenario's lock-step rounds lose no honest value sent at or after GST
    (:func:`netsim.clocks.lockstep_guarantee`); None on the event clock and for CGC. The bound is
    Delta after GST when declared, else the delay model's largest delay from time 0."""
    clock = scenario.protocol.round_clock
    if clock is None:
        return None
    net = scenario.network
    asynchrony = net.asynchrony
    if asynchrony is not None:
        bound, gst, lossy = asynchrony.delta, asynchrony.gst, False
    else:
        upper = net.delay.upper_bound
        bound, gst, lossy = (upper if math.isfinite(upper) else None), 0.0, net.loss > 0
    clocks = net.clocks
    return lockstep_guarantee(
        clock,
        net.honest,
        net.compute_time,
        scenario.protocol.rounds,
        bound,
        gst,
        lossy,
        offset=0.0 if clocks is None else clocks.offset,
        drift=0.0 if clocks is None else clocks.drift,
    )


def _clock_summary(scenario: Scenario, times: np.ndarray, completed: int) -> dict[str, Any]:
    """Which round clock ran (netsim.clocks) and how far apart the honest agents' rounds ended:
    ``max_round_end_spread`` is the largest gap, over the rounds, between the first and the last
    honest completion of a round (the drift of the event clock; the clock skew on the lock-step
    clock), ``max_clock_skew`` the largest skew between two honest lock-step clocks over the run
    (0 with perfect clocks). The CGC server keeps the only clock."""
    proto, net = scenario.protocol, scenario.network
    if proto.kind == "cgc":
        return {"clock": "server"}
    clocks = net.clocks
    spread = float(np.ptp(times, axis=1).max()) if times.shape[1] > 1 else 0.0
    return {
        "clock": proto.clock,
        "round_length": proto.round_length,
        "round_length_rule": proto.round_length_rule or None,
        "clocks": None if clocks is None else {"offset": clocks.offset, "drift": clocks.drift},
        "max_clock_skew": (
            None if proto.round_clock is None else proto.round_clock.skew(net.honest, completed)
        ),
        "max_round_end_spread": spread,
        "no_late_after_gst_guaranteed": (
            None if (check := lockstep_check(scenario)) is None else check.holds
        ),
    }


def _cgc_summary(scenario: Scenario, protocol: CGCProtocol, honest_costs: list) -> dict[str, Any]:
    """Theorem 2's constants for this run, and what the asynchronous server saw."""
    proto, net = scenario.protocol, scenario.network
    constants = cgc_constants(honest_costs, net.n, net.f)
    redundant = check_redundancy(honest_costs, net.n, net.f).holds
    eta = proto.step_size(0) if proto.step_size.name == "constant" else None
    theory: dict[str, Any] = {
        "mu": constants.mu,
        "lambda": constants.lam,
        "alpha": constants.alpha,
        "eta_bar": constants.eta_bar,
        "eta": eta,
        "rho": constants.rho(eta) if eta is not None else None,
        "redundant": redundant,
        "covered": bool(
            redundant
            and eta is not None
            and proto.mode == "sync"
            and proto.filter == "cgc"
            and constants.covers(eta)
        ),
    }
    if proto.mode == "sync" and proto.filter == "cgc" and eta is not None and not theory["covered"]:
        warnings.warn(_uncovered(constants, eta, redundant), stacklevel=2)
    staleness = protocol.staleness[: protocol.recorder.completed]
    honest = list(net.honest)
    summary: dict[str, Any] = {
        "mode": proto.mode,
        "server_compute_time": proto.server_compute_time,
        "trigger": proto.trigger if proto.mode == "async" else None,
        "step_size": proto.step_size.name,
        "theory": theory,
        "terminated_at": protocol.terminated_at,
        "byzantine_clipped": protocol.clipped_byzantine,
    }
    if proto.mode == "async" and staleness.size:
        never = staleness[:, honest] < 0
        rounds = np.arange(len(staleness))[:, None]
        effective = np.where(never, rounds + 1, staleness[:, honest])
        summary["max_honest_staleness"] = int(effective.max())
        summary["staleness_bound"] = proto.staleness_bound
        summary["staleness_breaches"] = len(protocol.staleness_breaches)
    return summary


def _time_to_accuracy(distances: np.ndarray, times: np.ndarray) -> dict[str, Any]:
    """For eps in 1e-3, 1e-6, 1e-9: [first round with every tracked node within eps, the
    simulated time the last of them completed it], or None (see netsim.time_to_accuracy)."""
    worst = distances.max(axis=1)
    out: dict[str, Any] = {}
    for eps in (1e-3, 1e-6, 1e-9):
        reached = np.flatnonzero(worst <= eps)
        out[f"{eps:.0e}"] = (
            [int(reached[0]), float(times[reached[0]].max())] if reached.size else None
        )
    return out


def _bound_check(
    messages: dict[str, np.ndarray], asynchrony: AsynchronyConfig, capped: int
) -> dict[str, Any]:
    """The declared partial synchrony, checked on the trace: honest messages sent at or after
    GST that arrived later than Delta after sending (0 when the engine caps), the largest such
    honest delay, and how many draws were capped."""
    after = ~messages["byzantine"] & (messages["send_time"] >= asynchrony.gst)
    delivered = after & messages["delivered"]
    arrival, send = messages["arrival_time"][delivered], messages["send_time"][delivered]
    return {
        "gst": asynchrony.gst,
        "delta": asynchrony.delta,
        "honest_bound_violations": int(np.sum(arrival > send + asynchrony.delta)),
        "honest_lost_after_gst": int(np.sum(after & ~messages["delivered"])),
        "max_honest_delay_after_gst": float((arrival - send).max()) if arrival.size else 0.0,
        "honest_delays_capped": capped,
    }


def _uncovered(constants: CGCConstants, eta: float, redundant: bool) -> str:
    """Why Theorem 2 does not cover a synchronous CGC run (it still runs: users study that)."""
    reasons = []
    if not redundant:
        reasons.append("the honest costs are not 2f-redundant")
    if constants.alpha <= 0:
        reasons.append(f"alpha = {constants.alpha:.4g} <= 0")
    elif not 0 < eta < constants.eta_bar:
        reasons.append(f"eta = {eta:.4g} >= eta_bar = {constants.eta_bar:.4g}")
    return "Theorem 2 does not cover this run: " + "; ".join(reasons)


def _check_finished(scenario: Scenario, protocol: CEProtocol | CGCProtocol) -> None:
    if isinstance(protocol, CGCProtocol):
        if protocol.server.is_alive:
            raise SimulationStalled(
                "protocol.deadline",
                f"the server waits forever in round {protocol.inbox.current} (an agent never "
                "replies and delays are unbounded); set a round deadline in simulated seconds",
                scenario.protocol.deadline,
                "a number > 0",
            )
        return
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
