"""Lock-step round clocks (CE): when every agent's round r starts and ends, and what it guarantees.

On the lock-step clock (``protocol.clock = "lockstep"``) the agents share a global round clock of
period D = ``protocol.round_length``: round r of agent i spans [S_i(r), S_i(r + 1)). At S_i(r) the
agent completes round r - 1 with the values that arrived by then; after its compute time c_i it
sends its round-r value (round 0: at S_i(0), there is nothing to compute). A round-r value that
reaches agent i after S_i(r + 1) is *late*. With perfect clocks S_i(r) = r D, the papers'
synchronous rounds.

Imperfect clocks (``[network.clocks]``, seeded per agent): agent i's clock is off by
eps_i in [-eps, eps] (eps_i > 0: it starts its rounds eps_i late) and its rounds last
D (1 + rho_i), rho_i in [-rho, rho], so

    S_i(r) = eps + eps_i + r D (1 + rho_i)        (simulated seconds)

(shifted by eps so that no round starts before time 0). ``offsets`` holds S_i(0) = eps + eps_i,
``periods`` D (1 + rho_i). Both engines compute S_i(r) with :meth:`RoundClock.start` /
:meth:`RoundClock.starts`, the same float operations, so their times agree bit for bit.

The guarantee (a hand check of it is in the docs): if every honest value sent at or after GST
arrives within Delta, no honest value sent at or after GST is late iff for every round r and
honest i != j

    S_j(r) + c_j [r >= 1] + Delta <= S_i(r + 1),

i.e. D must cover Delta, the compute time and the skew between the two clocks. For any clocks
within (eps, rho) over R rounds the worst case is D (1 - rho) - 2 eps - 2 (R - 1) D rho >= c + Delta
(``required_round_length``). The margins are affine in r, so their minimum over a range of rounds
is at one of its ends (``worst_margin``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .rng import clock_stream

CLOCKS = ("lockstep", "event")
ROUNDING_SLACK = 1.0 + 1e-9  # relative slack of a derived round length (and of deadlines)


@dataclass(frozen=True, eq=False)
class RoundClock:
    """Lock-step rounds: agent i starts round r at ``offsets[i] + r * periods[i]`` (simulated s).

    ``period`` is D as declared; ``offsets`` (n,) and ``periods`` (n,) are per agent (all 0 and
    all D with perfect clocks)."""

    period: float
    offsets: np.ndarray
    periods: np.ndarray

    @classmethod
    def perfect(cls, period: float, n: int) -> RoundClock:
        """Every agent starts round r at exactly r D."""
        return cls(period, np.zeros(n), np.full(n, period))

    @classmethod
    def skewed(
        cls, period: float, offset: float, offsets: np.ndarray, drifts: np.ndarray
    ) -> RoundClock:
        """Clocks off by ``offsets`` (eps_i) and running at rates 1 + ``drifts`` (rho_i), shifted
        by the bound ``offset`` (eps) so that S_i(0) = eps + eps_i >= 0."""
        return cls(period, offset + np.asarray(offsets), period * (1.0 + np.asarray(drifts)))

    def start(self, agent: int, round: int) -> float:
        """S_agent(round): when ``agent`` completes round - 1 and starts ``round``."""
        return float(self.offsets[agent] + round * self.periods[agent])

    def starts(self, round: int) -> np.ndarray:
        """S_i(round) of every agent, (n,); element i equals ``start(i, round)`` bit for bit."""
        return self.offsets + round * self.periods

    def skew(self, agents: Sequence[int], rounds: int) -> float:
        """The largest |S_i(r) - S_j(r)| over ``agents`` and rounds 0..``rounds`` (simulated s).
        The spread of affine functions of r is convex in r: its maximum is at r = 0 or r = R."""
        ids = np.asarray(agents, dtype=np.int64)
        if len(ids) < 2:
            return 0.0
        spread = [float(np.ptp(self.starts(r)[ids])) for r in (0, rounds)]
        return max(spread)

    def worst_margin(
        self,
        agents: Sequence[int],
        compute: Sequence[float],
        bound: float,
        first_round: int,
        rounds: int,
    ) -> float:
        """min over rounds r in [first_round, rounds - 1] and ``agents`` i != j of
        S_i(r + 1) - (S_j(r) + c_j [r >= 1] + bound): how much earlier than agent i's round end
        the latest honest value of round r arrives (negative: some value is late). ``inf``
        when there is no such pair of agents or round."""
        ids = np.asarray(agents, dtype=np.int64)
        if len(ids) < 2 or first_round >= rounds:
            return math.inf
        c = np.asarray(compute, dtype=np.float64)[ids]
        candidates = {first_round, min(max(first_round, 1), rounds - 1), rounds - 1}
        worst = math.inf
        for r in sorted(candidates):
            end = self.starts(r + 1)[ids]
            due = self.starts(r)[ids] + (c if r >= 1 else 0.0) + bound
            worst = min(worst, _min_difference(end, due))
        return worst


def _min_difference(end: np.ndarray, due: np.ndarray) -> float:
    """min over i != j of end[i] - due[j], in O(n)."""
    i = int(np.argmin(end))
    j = int(np.argmax(due))
    if i != j:
        return float(end[i] - due[j])
    others_end = np.delete(end, i)
    others_due = np.delete(due, j)
    return float(min(end[i] - others_due.max(), others_end.min() - due[j]))


def required_round_length(
    bound: float, compute: float, offset: float, drift: float, rounds: int
) -> float:
    """The smallest D that guarantees no late honest value for *any* clocks within
    (``offset``, ``drift``) over ``rounds`` rounds (module docstring):
    D (1 - rho) - 2 eps - 2 (R - 1) D rho >= c + Delta, i.e.
    D >= (Delta + c + 2 eps) / (1 - (2R - 1) rho); ``inf`` when (2R - 1) rho >= 1 (drift alone
    then outgrows any period: the clocks need resynchronising)."""
    shrink = 1.0 - (2 * rounds - 1) * drift
    if shrink <= 0:
        return math.inf
    return (bound + compute + 2 * offset) / shrink


def first_round_sent_after(
    clock: RoundClock, agents: Sequence[int], compute: Sequence[float], time: float, rounds: int
) -> int:
    """The first round r in which some agent of ``agents`` sends at or after ``time``
    (S_j(r) + c_j [r >= 1] >= time); ``rounds`` if none does. Send times grow with r."""
    ids = np.asarray(agents, dtype=np.int64)
    c = np.asarray(compute, dtype=np.float64)[ids]

    def latest_send(r: int) -> float:
        return float((clock.starts(r)[ids] + (c if r >= 1 else 0.0)).max())

    low, high = 0, rounds
    while low < high:
        middle = (low + high) // 2
        if latest_send(middle) >= time:
            high = middle
        else:
            low = middle + 1
    return low


def draw_clocks(seed: int, n: int, offset: float, drift: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent clock offsets eps_i ~ U[-offset, offset] and drifts rho_i ~ U[-drift, drift],
    each agent from its own stream (:func:`netsim.rng.clock_stream`: an offset, then a drift),
    so adding an agent leaves every other agent's clock unchanged."""
    offsets, drifts = np.zeros(n), np.zeros(n)
    for agent in range(n):
        u = clock_stream(seed, agent).uniform(-1.0, 1.0, 2)
        offsets[agent], drifts[agent] = offset * u[0], drift * u[1]
    return offsets, drifts


@dataclass(frozen=True)
class Guarantee:
    """Whether lock-step rounds lose no honest value sent at or after GST (module docstring).

    ``holds``: None when nothing bounds the honest delays (no Delta, an unbounded model) or
    messages may be lost; ``margin``: the worst S_i(r + 1) - (S_j(r) + c_j + bound) over the
    drawn clocks (simulated s); ``required``: the D that guarantees it for any clocks within the
    declared (eps, rho); ``tight``: the margin is below the rounding of the times (1e-9 D)."""

    holds: bool | None
    bound: float | None
    first_round: int = 0
    margin: float = math.inf
    required: float = math.inf
    tight: bool = False
    reason: str = ""


def rounding_of_times(clock: RoundClock, rounds: int) -> float:
    """A bound on how far the float sums S_j(r) + c + delay and S_i(r + 1) can stray from their
    exact values over ``rounds`` rounds: a few ulps of the last round end (netsim's derived D
    carries a relative slack of 1e-9, far above it for any run of fewer than ~10^6 rounds)."""
    last = float(np.max(clock.starts(rounds)))
    return float(8 * np.finfo(float).eps * max(last, clock.period))


def lockstep_guarantee(
    clock: RoundClock,
    honest: Sequence[int],
    compute: Sequence[float],
    rounds: int,
    bound: float | None,
    gst: float,
    lossy: bool,
    offset: float = 0.0,
    drift: float = 0.0,
) -> Guarantee:
    """Check S_j(r) + c_j [r >= 1] + ``bound`` <= S_i(r + 1) for the honest agents from the
    first round sent at or after ``gst`` (``bound``: Delta, or the delay model's largest delay
    with ``gst`` = 0; None when nothing bounds the delays)."""
    if bound is None:
        return Guarantee(None, None, reason="delays are unbounded and no Delta is declared")
    if lossy:
        return Guarantee(None, bound, reason="honest messages may be lost (network.loss > 0)")
    first = first_round_sent_after(clock, honest, compute, gst, rounds)
    margin = clock.worst_margin(honest, compute, bound, first, rounds)
    worst_compute = max((compute[i] for i in honest), default=0.0)
    required = required_round_length(bound, worst_compute, offset, drift, rounds) * ROUNDING_SLACK
    rounding = rounding_of_times(clock, rounds)
    return Guarantee(
        holds=bool(margin > rounding),  # robust to the rounding of the times
        bound=bound,
        first_round=first,
        margin=margin,
        required=required,
        tight=bool(abs(margin) <= rounding),
    )
