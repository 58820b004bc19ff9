"""The fast engine: the reference's message-level semantics, batched with numpy.

It runs every scenario with ``engine = "auto"`` (the default) or ``"fast"``; ``"reference"``
bypasses it. It returns the same :class:`netsim.results.VariantResult` as the reference engine
(:func:`netsim.simulate`): the same estimates and completion times at every round, bit for bit,
the same message trace (every message's own delay draw from its link's stream, arrival time,
loss, decision) and the same trace hash (tests/test_fast_engine.py). What differs is the cost:

- link draws: message k on link a -> b is Philox of counter (k, 0, a, b) (:mod:`netsim.rng`),
  a pure function, so a whole round's delays and losses are one vectorized call over the links
  (:mod:`netsim.fast.draws`), with no per-link state;
- CE: a whole round as arrays when that is the reference's run (:mod:`netsim.fast.layered`),
  else one SimPy event per agent event in the reference's order (:mod:`netsim.fast.peer_engine`);
  either way the filter and step run on stacked receivers (:mod:`netsim.fast.peer_update`);
- CGC: synchronous, a whole round as arrays when that is the reference's run
  (:mod:`netsim.fast.server_layered`: requests, replies from the per-link streams, the filter
  on the stacked gradients), else, like asynchronous CGC, one SimPy event per agent event and
  per reply in the reference's order (:mod:`netsim.fast.server_engine`);
- the clock: a SimPy ``OrderedEnvironment`` (``engine.env``), as in the reference, with one
  event per agent wake-up (event engines) or per round (round-by-round engines), never one
  per message; same-time events keep the reference's order keys;
- the trace hash streams a round (or a batch of small rounds) at a time
  (:mod:`netsim.fast.trace`); the trace columns, when ``trace`` is on, stream to disk in send
  order past 2^20 rows. Memory: the estimates of every round and a few (n, n) arrays per
  round in flight.

Support matrix:

- CE (``protocol.kind = "ce"``): every option: every filter, deadlines, ``absent`` =
  eliminated | stale, loss, partial synchrony (caps, errors, last-moment delivery), compute
  times, stragglers, every delay model of the registry as of this engine, every adversary.
- CGC, synchronous and asynchronous mode (both triggers): every option: deadlines, loss,
  partial synchrony, compute times, agent queues, staleness bounds, step-size schedules,
  every filter and adversary.

Two fallbacks to the reference engine (the same run; a one-line warning when the scenario
asked for ``engine = "fast"``, silent under ``"auto"``): a delay model the fast engine does not
know layer by layer (a plug-in registered later), and a message whose delay does not move time
forward (``constant`` 0, or a draw too small to change its send time): the same-instant order of
the reference then needs its per-message events.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

from ..config import Scenario
from ..delays import Constant, Matrix
from ..results import VariantResult
from .draws import DelayPlan, batchable
from .peer_engine import ZeroDelay

__all__ = ["simulate_fast", "unsupported"]


def unsupported(scenario: Scenario) -> str | None:
    """Why ``scenario`` cannot run on the fast engine (None when it can)."""
    net = scenario.network
    if not batchable(net.delay):
        return f"network.delay.model = {net.delay.name!r} is not batched"
    plan = DelayPlan(net.delay)
    zero_leaf = isinstance(plan.leaf, Constant) and float(plan.leaf.value) == 0.0
    if zero_leaf and not any(isinstance(layer, Matrix) for layer in plan.layers):
        return "zero link delays need the reference's same-instant event order"
    return None


def simulate_fast(
    scenario: Scenario, name: str | None = None, on_round: Callable[[], None] | None = None
) -> VariantResult:
    """Run ``scenario`` on the fast engine (module docstring); fall back to the reference
    engine where the fast engine does not apply, with a warning if the scenario asked for
    ``engine = "fast"`` (``"auto"``, the default, falls back silently: same run either way)."""
    reason = unsupported(scenario)
    if reason is None:
        try:
            if scenario.protocol.kind == "cgc":
                from .server_run import run_server  # imported when first needed

                return run_server(scenario, name, on_round)
            from .results import run_peer

            return run_peer(scenario, name, on_round)
        except ZeroDelay as err:
            reason = str(err)
    if scenario.engine == "fast":
        warnings.warn(f'engine = "fast": {reason}; running the reference engine', stacklevel=3)
    from ..simulation import simulate

    return simulate(dataclasses.replace(scenario, engine="reference"), name, on_round)
