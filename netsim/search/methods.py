"""How the space is searched: random sampling (the baseline) and differential evolution.

Both are seeded and deterministic: the candidates depend only on the seed, and every batch of
candidates is evaluated through one :class:`netsim.sweep.executors.Executor` and put back in task
order before anything looks at it, so ``--jobs 1``, ``--jobs 8`` and a Dask cluster give the
same history. The search maximizes the objective; differential evolution minimizes its negative.

The box is the space's search box: ranges widened by a quarter on each side and clipped back
when applied, so that the ends of a range (delay 0 or Delta, the filter's limit) are reached
(:class:`netsim.search.space.Dimension`). The history records the values applied.

With ``warm_start`` the hand-written cases that are points of the space (every delay 0, every
delay Delta; the ``filter_aware`` attack = radius 1, angle 0; no hold-back, every lag Delta,
desync's split of the receivers; perfect clock offsets, alternating +-eps) are evaluated first
(random) or put in the initial population (DE): the search then starts from the library and
reports how far it improves on it. Without it (the default) the search starts cold, from the
seed alone.

With ``polish`` a quarter of the budget goes to :func:`vertex_polish` after the method (a
greedy search over the ends of the ranges, from the best point found).

- ``random``: ``budget`` points uniform in the box, from ``numpy.random.default_rng(seed)``.
- ``de``: :func:`scipy.optimize.differential_evolution` (``best1bin``, ``updating =
  "deferred"``, no polishing) with a Latin-hypercube population of M points (M = max(5,
  min(10 x dimension, budget // 10))) and ``budget // M - 1`` generations: at most ``budget``
  evaluations, fewer when the population converges (every member equal) or ``budget`` is not a
  multiple of M. A failed evaluation counts as the best possible value for the honest side.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import ScenarioError
from ..sweep.executors import Executor
from .evaluate import evaluate
from .space import SearchSpace

METHODS = ("random", "de", "exhaustive")
FAILED_ENERGY = 1e300  # what DE sees for a failed evaluation (never better than a success)


@dataclass
class Evaluator:
    """Evaluates batches of scenarios through an executor, in task order, and keeps the history
    (every evaluation: its point, value, status and trace hash) and the best so far."""

    objective: str
    jobs: int | None = None
    executor: str = "local"
    scheduler: str | None = None
    progress: bool | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    raws: list[dict[str, Any]] = field(default_factory=list)  # the scenario of each evaluation
    best: float | None = None
    _bar: Any = None
    _workers: Executor | None = None  # kept up across batches (a DE generation is a batch)

    def __enter__(self) -> Evaluator:
        self._workers = Executor(self.executor, self.jobs, self.scheduler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def start(self, total: int, desc: str) -> None:
        """A progress bar over ``total`` evaluations (stderr; off when not a terminal)."""
        disable = None if self.progress is None else not self.progress
        self._bar = tqdm(total=total, desc=desc, unit="run", disable=disable, file=sys.stderr)

    def run(self, raws: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Evaluate every scenario of ``raws``; results in the order of ``raws``."""
        tasks = [{"raw": raw, "objective": self.objective} for raw in raws]
        results: list[dict[str, Any] | None] = [None] * len(tasks)
        workers = self._workers or Executor(self.executor, self.jobs, self.scheduler)
        try:
            for index, result in workers.map_unordered(evaluate, tasks):
                results[index] = result
                if self._bar is not None:
                    value = result.get("value")
                    if value is not None and (self.best is None or value > self.best):
                        self.best = value
                    if self.best is not None:
                        self._bar.set_postfix_str(f"best {self.best:.4g}")
                    self._bar.update(1)
        finally:
            if workers is not self._workers:
                workers.close()
        return [r for r in results if r is not None]

    def record(
        self, raw: dict[str, Any], x: Sequence[float], result: dict[str, Any], **extra: Any
    ) -> None:
        """Append one evaluation to the history (its scenario is kept in ``raws``)."""
        self.raws.append(raw)
        self.history.append(
            {
                "evaluation": len(self.history),
                "x": [float(v) for v in x],
                **extra,
                "status": result["status"],
                "value": result.get("value"),
                "final_distance": result.get("final_distance"),
                "trace_hash": result.get("trace_hash"),
                **({"error": result["error"]} if "error" in result else {}),
            }
        )

    def search(
        self, space: SearchSpace, raw: dict[str, Any], points: Sequence[Sequence[float]]
    ) -> list[dict[str, Any]]:
        """Evaluate points of ``space`` applied to ``raw``, recording each in the history."""
        raws = [space.apply(raw, x) for x in points]
        results = self.run(raws)
        for candidate, x, result in zip(raws, points, results):
            self.record(candidate, space.clipped(x), result)  # the values applied
        return results


def random_search(
    space: SearchSpace,
    raw: dict[str, Any],
    evaluator: Evaluator,
    budget: int,
    seed: int,
    warm: list[list[float]] | None = None,
) -> None:
    """``budget`` points uniform in the box, evaluated as one batch; the ``warm`` points (at
    most ``budget``) come first and replace as many random ones."""
    rng = np.random.default_rng(seed)
    low, high = np.array(space.bounds, dtype=np.float64).T
    points = (low + (high - low) * rng.random((budget, len(low)))).tolist()
    warm = (warm or [])[:budget]
    evaluator.search(space, raw, [*warm, *points[len(warm) :]])


def population_size(dimension: int, budget: int) -> int:
    """M of the module docstring."""
    return max(5, min(10 * dimension, budget // 10))


def differential_evolution_search(
    space: SearchSpace,
    raw: dict[str, Any],
    evaluator: Evaluator,
    budget: int,
    seed: int,
    warm: list[list[float]] | None = None,
) -> dict[str, Any]:
    """scipy's differential evolution with ``workers`` = the evaluator (module docstring); the
    ``warm`` points replace the first members of the initial population."""
    try:
        from scipy.optimize import differential_evolution
        from scipy.stats import qmc
    except ImportError:
        raise ScenarioError(
            "--method",
            "differential evolution needs scipy: pip install -e '.[search]' in the netsim checkout",
            "de",
            "random, or de with scipy installed",
        ) from None
    dimension = len(space.bounds)
    size = population_size(dimension, budget)
    if budget < size:
        raise ScenarioError(
            "--budget",
            f"differential evolution needs at least a population of {size} evaluations",
            budget,
            f">= {size}, or --method random",
        )
    generations = budget // size - 1
    low, high = np.array(space.bounds, dtype=np.float64).T
    sample = qmc.LatinHypercube(d=dimension, **_qmc_seed(qmc.LatinHypercube, seed)).random(size)
    initial = qmc.scale(sample, low, high) if dimension else sample
    for k, point in enumerate((warm or [])[:size]):
        initial[k] = point

    def workers(func: Callable[..., float], candidates: Any) -> list[float]:
        results = evaluator.search(space, raw, [list(x) for x in candidates])
        return [-float(r["value"]) if r["status"] == "done" else FAILED_ENERGY for r in results]

    seed_argument = (
        "rng" if "rng" in inspect.signature(differential_evolution).parameters else "seed"
    )
    outcome = differential_evolution(
        _not_called,
        space.bounds,
        strategy="best1bin",
        maxiter=generations,
        init=initial,
        tol=0.0,
        atol=0.0,
        polish=False,
        updating="deferred",
        workers=workers,
        **{seed_argument: seed},
    )
    return {
        "population": size,
        "generations_planned": generations,
        "generations_run": int(outcome.nit),
        "message": str(outcome.message),
    }


def vertex_polish(
    space: SearchSpace, raw: dict[str, Any], evaluator: Evaluator, budget: int
) -> dict[str, Any]:
    """Steepest ascent over the ends of the clipped ranges, from the best point so far.

    One step evaluates, as one batch, every point that differs from the current one in a
    single clipped coordinate set to one end of its range (delay 0 or Delta, radius 0 or the
    filter's limit); the best of them becomes the current point if it is strictly better, else
    the polish stops. Adversarial schedules and attacks often sit at such ends (bang-bang), and
    differential evolution, whose trials move every coordinate at once, rarely lands on a
    point with many coordinates at an end. At most ``budget`` evaluations; deterministic.
    """
    done = [h for h in evaluator.history if h["status"] == "done"]
    if not done:
        return {"polish_evaluations": 0, "polish_moves": 0}
    start = max(done, key=lambda h: (h["value"], -h["evaluation"]))
    current, value = list(start["x"]), float(start["value"])
    used = moves = 0
    while used < budget:
        candidates = []
        for k, dimension in enumerate(space.dimensions):
            if not dimension.clipped:
                continue
            for end in (dimension.low, dimension.high):
                if current[k] != end:
                    candidates.append([*current[:k], end, *current[k + 1 :]])
        candidates = candidates[: budget - used]
        if not candidates:
            break
        results = evaluator.search(space, raw, candidates)
        used += len(candidates)
        scores = [float(r["value"]) if r["status"] == "done" else -math.inf for r in results]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        if not scores[best] > value:
            break
        current, value = candidates[best], scores[best]
        moves += 1
    return {"polish_evaluations": used, "polish_moves": moves}


def _qmc_seed(engine: Any, seed: int) -> dict[str, int]:
    """scipy renamed ``seed`` to ``rng`` (1.15): pass the seed under the name it takes."""
    return {"rng" if "rng" in inspect.signature(engine).parameters else "seed": seed}


def _not_called(x: np.ndarray) -> float:  # pragma: no cover - the workers map evaluates
    raise RuntimeError("the search evaluates candidates through its workers")
