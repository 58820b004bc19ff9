"""What a worst-case search maximizes: one number per run, computed from the run's results.

Every objective is *larger is worse* for the honest side:

- ``final_distance``: the largest distance of an honest agent (or the server) to the honest
  optimum after the last round (``summary.json``'s ``final_distance``).
- ``time_to_1e-03``, ``time_to_1e-06``, ``time_to_1e-09``: the simulated time (s) at which every
  honest agent is within epsilon of the optimum for the first time. A run that never gets there
  scores ``UNREACHED_FACTOR`` (2) times its own simulated end time: more than any time at which
  that run could have reached epsilon, so an unreached epsilon is always worse than a reached one
  *within a run*; across runs with different end times a long reached run can outscore a short
  unreached one (the value is still a time, in simulated seconds).
- ``max_honest_staleness`` (asynchronous CGC only): the largest t - s_i(t) of an honest agent
  over the run, in rounds (``summary.json``; never-heard agents count t + 1).
- ``byzantine_influence``: the share of (honest receiver, round) pairs in which a Byzantine value
  entered the receiver's aggregate unchanged: decision ``kept`` in the message trace (CE: not
  eliminated; CGC: neither clipped nor eliminated; a clipped gradient enters only at the
  threshold's norm, so it does not count). For the asynchronous server a message is decided when
  it is first used, so this is the share of rounds in which a *fresh* Byzantine reply entered.
- ``theorem2_ratio`` (synchronous CGC with a constant step): max over rounds t >= 1 of
  ||w_t - w*||^2 / (rho^t ||w_0 - w*||^2), rho from Theorem 2 (``summary.json``'s ``theory``);
  round 0 is left out (its ratio is 1 by definition). Above 1 means the run breaks the
  theorem's bound; 0 for a run of no rounds, or one that starts at w*.
- ``late_honest_after_gst``: how many honest values sent at or after GST reached an honest
  receiver (or the CGC server) after it had completed their round (``summary.json``'s
  ``late_honest_after_gst``; GST = 0 when the scenario declares none, so every late honest
  value counts). On CE's lock-step clock it is 0 whenever the round length covers Delta, the
  compute time and the clocks' skew (:mod:`netsim.clocks`); on the event clock it need not be.
"""

from __future__ import annotations

import numpy as np

from ..config import Scenario
from ..engine.trace import Decision
from ..errors import ScenarioError
from ..results import VariantResult

UNREACHED_FACTOR = 2.0
ACCURACIES = ("1e-03", "1e-06", "1e-09")
OBJECTIVES = (
    "final_distance",
    *(f"time_to_{eps}" for eps in ACCURACIES),
    "max_honest_staleness",
    "byzantine_influence",
    "theorem2_ratio",
    "late_honest_after_gst",
)


def check_objective(name: str, scenario: Scenario, key: str = "--objective") -> None:
    """Refuse an objective that is unknown or that this scenario cannot measure."""
    if name not in OBJECTIVES:
        raise ScenarioError(key, "unknown objective", name, ", ".join(OBJECTIVES))
    proto = scenario.protocol
    if name == "max_honest_staleness" and not (proto.kind == "cgc" and proto.mode == "async"):
        raise ScenarioError(
            key,
            "staleness exists only at the asynchronous CGC server",
            name,
            'protocol.kind = "cgc" with protocol.mode = "async"',
        )
    if name == "byzantine_influence" and not scenario.network.byzantine:
        raise ScenarioError(key, "needs a Byzantine agent", name, "network.byzantine non-empty")
    if name == "theorem2_ratio" and not (
        proto.kind == "cgc" and proto.mode == "sync" and proto.step_size.name == "constant"
    ):
        raise ScenarioError(
            key,
            "Theorem 2's bound is stated for the synchronous CGC server with a constant step",
            name,
            'protocol.kind = "cgc", protocol.mode = "sync", a constant step size',
        )


def needs_trace(name: str) -> bool:
    """Whether the objective reads the message trace (the run must keep it)."""
    return name == "byzantine_influence"


def objective_value(name: str, result: VariantResult) -> float:
    """The objective ``name`` of one finished run (module docstring)."""
    summary = result.summary
    if name == "final_distance":
        return float(summary["final_distance"])
    if name.startswith("time_to_"):
        reached = summary["time_to_accuracy"][name.removeprefix("time_to_")]
        if reached is None:
            return UNREACHED_FACTOR * float(summary["sim_time_end"])
        return float(reached[1])
    if name == "max_honest_staleness":
        return float(summary["max_honest_staleness"])
    if name == "byzantine_influence":
        return byzantine_influence(result)
    if name == "theorem2_ratio":
        return theorem2_ratio(result)
    if name == "late_honest_after_gst":
        return float(summary["late_honest_after_gst"])
    raise ScenarioError("--objective", "unknown objective", name, ", ".join(OBJECTIVES))


def byzantine_influence(result: VariantResult) -> float:
    """Share of (honest receiver, round) pairs with a Byzantine value kept unchanged."""
    messages = result.messages
    if not messages:
        raise ScenarioError("trace", "byzantine_influence reads the message trace", False, "true")
    receivers = [-1 if node == "server" else int(node) for node in result.nodes]
    rounds = int(result.summary["rounds"])
    entered = (
        messages["byzantine"].astype(bool)
        & (messages["decision"] == int(Decision.KEPT))
        & np.isin(messages["receiver"], receivers)
        & (messages["round"] < rounds)
    )
    pairs = {
        (int(r), int(t)) for r, t in zip(messages["receiver"][entered], messages["round"][entered])
    }
    total = rounds * len(receivers)
    return len(pairs) / total if total else 0.0


def theorem2_ratio(result: VariantResult) -> float:
    """max_{t >= 1} ||w_t - w*||^2 / (rho^t ||w_0 - w*||^2) (Theorem 2: at most 1)."""
    rho = float(result.summary["theory"]["rho"])
    squared = result.distances[:, 0] ** 2
    if len(squared) < 2 or squared[0] == 0.0:
        return 0.0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        bound = rho ** np.arange(1, len(squared)) * squared[0]
        ratios = np.where(squared[1:] > 0, squared[1:] / bound, 0.0)
    return float(ratios.max())
