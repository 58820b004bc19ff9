"""Quantities researchers read off a run (pure numpy, from result columns only)."""

from __future__ import annotations

import numpy as np


def time_to_accuracy(
    metrics: dict[str, np.ndarray],
    epsilon: float,
    variant: str | None = None,
    settle: bool = False,
) -> tuple[int, float] | None:
    """First round r at which every tracked node (honest agents, or the server) is within
    ``epsilon`` of the optimum, and the simulated time (s) at which the last of them completed
    round r. With ``settle = True``: the first round from which it stays within ``epsilon`` to
    the end of the run. None if the run never gets there. ``metrics`` are the columns of
    metrics.csv (``RunResult.metrics``); ``variant`` picks one variant (default: the only one).
    """
    names = sorted({str(name) for name in metrics["variant"]})
    rows = np.ones(len(metrics["round"]), dtype=bool)
    if variant is not None:
        if variant not in names:
            raise ValueError(f"no variant {variant!r} in these metrics; they hold {names}")
        rows = metrics["variant"] == variant
    elif len(names) > 1:
        raise ValueError(f"several variants in these metrics: name one of {names}")
    rounds = metrics["round"][rows]
    worst = np.full(rounds.max() + 1, -np.inf)
    np.maximum.at(worst, rounds, metrics["distance"][rows])
    within = worst <= epsilon
    if settle:  # within from r on: a running "all" from the end
        within = np.logical_and.accumulate(within[::-1])[::-1]
    reached = np.flatnonzero(within)
    if reached.size == 0:
        return None
    first = int(reached[0])
    done = np.max(metrics["time"][rows][rounds == first])
    return first, float(done)
