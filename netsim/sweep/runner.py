"""``netsim sweep``: run the missing points of a sweep into its store, with a progress bar."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..errors import ScenarioError
from .executors import Executor
from .point import run_point
from .spec import Sweep, SweepPoint
from .store import SweepStore


@dataclass(frozen=True)
class SweepOutcome:
    """What one ``netsim sweep`` invocation did."""

    store: Path
    total: int  # valid points in the sweep
    already: int  # found in the store, not run again
    done: int  # run now, finished
    failed: int  # run now, failed (traceback in the store)
    invalid: int  # rejected by validation and skipped


def default_store(sweep: Sweep) -> Path:
    """``results/<name>/sweep.db`` (spec/interface.md)."""
    return Path("results") / sweep.name / "sweep.db"


def run_sweep(
    sweep: Sweep,
    store: str | Path | None = None,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: bool | None = None,
) -> SweepOutcome:
    """Run every point of ``sweep`` not yet in the store (and the failed ones if
    ``retry_failed``); each point is stored the moment it finishes.

    Raises :class:`ScenarioError` before anything runs when invalid points are fatal
    (``on_invalid = "fail"``) or when the store holds a different scenario's results.
    """
    if sweep.invalid and sweep.on_invalid == "fail":
        raise ScenarioError(
            "sweep.on_invalid",
            sweep.invalid_summary()
            + ' -- set on_invalid = "skip" in [sweep] or pass --skip-invalid to run the rest',
            "fail",
            "skip | fail",
        )
    path = Path(store) if store is not None else default_store(sweep)
    workers = Executor(executor, jobs, scheduler)  # options checked before anything is written
    with SweepStore(path, writer=True) as db, workers:
        _check_same_sweep(db, sweep)
        db.set_meta(
            name=sweep.name,
            source=str(sweep.source) if sweep.source else None,
            keys=list(sweep.keys),
            seeds=list(sweep.seeds),
            points=len(sweep.points),
            netsim_version=__version__,
            updated_at=time.time(),
        )
        stored = db.status()
        todo = [
            p
            for p in sweep.points
            if p.point_id not in stored or (retry_failed and stored[p.point_id] == "failed")
        ]
        tasks = [
            {"raw": p.raw, "source": str(sweep.source) if sweep.source else None} for p in todo
        ]
        done = failed = 0
        disable = None if progress is None else not progress
        with tqdm(
            total=len(todo), desc=sweep.name, unit="point", disable=disable, file=sys.stderr
        ) as bar:
            for index, result in workers.map_unordered(run_point, tasks):
                db.add(_row(todo[index], result))
                if result["status"] == "done":
                    done += 1
                else:
                    failed += 1
                bar.update(1)
                bar.set_postfix(done=done, failed=failed)
    return SweepOutcome(
        store=path,
        total=len(sweep.points),
        already=len(sweep.points) - len(todo),
        done=done,
        failed=failed,
        invalid=len(sweep.invalid),
    )


def _row(point: SweepPoint, result: dict) -> dict:
    return {
        "point_id": point.point_id,
        "idx": point.index,
        "params": point.params,
        "seed": point.seed,
        "config": point.resolved,
        "config_hash": point.config_hash,
        **result,
    }


def _check_same_sweep(db: SweepStore, sweep: Sweep) -> None:
    """A stored point must have been run from the same resolved scenario: if the base scenario
    changed since, resuming would mix two experiments in one table."""
    keys = db.meta().get("keys")
    if keys is not None and db.count() and keys != list(sweep.keys):
        raise ScenarioError(
            "--store",
            f"holds a sweep over other keys ({', '.join(keys) or 'seeds only'}); this one "
            f"sweeps {', '.join(sweep.keys) or 'seeds only'}",
            str(db.path),
            "a new --store path, or delete the store to start again",
        )
    stored = db.config_hashes()
    for point in sweep.points:
        if point.point_id in stored and stored[point.point_id] != point.config_hash:
            raise ScenarioError(
                "--store",
                f"holds a result for point {point.params | {'seed': point.seed}} run from a "
                "different scenario (the base scenario changed since it was stored)",
                str(db.path),
                "a new --store path, or delete the store to start again",
            )
