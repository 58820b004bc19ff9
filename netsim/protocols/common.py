"""What both protocols share: a base class, run counters, per-round records, adversary streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..rng import Stream, adversary_stream

if TYPE_CHECKING:
    from ..config import Scenario
    from ..engine import Network, OrderedEnvironment


@dataclass
class RunCounters:
    """Events worth reporting that the papers' synchronous model excludes."""

    absent_honest: int = 0  # honest values that missed the receiver's deadline
    synchrony_violations: int = 0  # (receiver, round) pairs with more than f values absent
    non_finite_received: int = 0  # received values with a NaN/inf entry (treated as absent)
    non_finite_updates: int = 0  # updates that came out non-finite and were not applied
    deadline_rounds: int = 0  # honest (receiver, round) pairs completed by the deadline
    filter_skipped: int = 0  # updates skipped: too few values for the filter's n/f condition
    late_honest: int = 0  # honest values that reached an honest receiver after its round ended
    late_honest_after_gst: int = 0  # of those, sent at or after GST (GST = 0 if none declared)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class RoundRecorder:
    """Completion time and estimate of every tracked node (honest agents, or the server) after
    every round; round 0 is the initial state at time 0."""

    nodes: tuple[int, ...]
    rounds: int
    dim: int
    times: np.ndarray = field(init=False)
    estimates: np.ndarray = field(init=False)
    completed: int = 0  # rounds actually run (CGC may terminate early)

    def __post_init__(self) -> None:
        self.times = np.zeros((self.rounds + 1, len(self.nodes)))
        self.estimates = np.zeros((self.rounds + 1, len(self.nodes), self.dim))
        self._column = {node: k for k, node in enumerate(self.nodes)}

    def record(self, node: int, round: int, time: float, x: np.ndarray) -> None:
        k = self._column[node]
        self.times[round, k] = time
        self.estimates[round, k] = x
        self.completed = max(self.completed, round)

    def truncate(self) -> None:
        """Drop the rows of rounds that never ran."""
        self.times = self.times[: self.completed + 1]
        self.estimates = self.estimates[: self.completed + 1]


class AdversaryStreams:
    """One generator per (Byzantine sender, receiver), created on first use (rng KIND 2)."""

    def __init__(self, seed: int):
        self.seed = seed
        self._streams: dict[tuple[int, int], Stream] = {}

    def __call__(self, sender: int, receiver: int) -> Stream:
        key = (sender, receiver)
        if key not in self._streams:
            self._streams[key] = adversary_stream(self.seed, sender, receiver)
        return self._streams[key]


class RoundProtocol:
    """What every protocol holds: the scenario, the simulated world, the honest optimum (for
    the omniscient adversary), counters, the adversary's streams and the progress callback."""

    def __init__(
        self,
        scenario: Scenario,
        env: OrderedEnvironment,
        network: Network,
        optimum: np.ndarray,
        on_round: Callable[[], None] | None = None,
    ):
        self.scenario = scenario
        self.env = env
        self.network = network
        self.optimum = optimum
        self.n, self.f = scenario.network.n, scenario.network.f
        self.rounds = scenario.protocol.rounds
        self.honest = scenario.network.honest
        self.costs = scenario.costs.costs
        self.counters = RunCounters()
        self.honest_sent: dict[int, dict[int, np.ndarray]] = {}  # round -> sender -> value
        self._adversary_rng = AdversaryStreams(scenario.seed)
        self.adversary_memory: dict[str, Any] = {}  # the adversary's state for this run
        self._on_round = on_round

    def _round_done(self) -> None:
        if self._on_round is not None:
            self._on_round()
