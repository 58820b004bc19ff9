"""Where sweep points run: in this process, a local process pool, or a dask.distributed cluster.

Every executor calls the same pure function on the same task, so a point's result does not depend
on the executor or the number of workers; only the order in which results come back does, and the
store keys them by point. :func:`execute` yields ``(task index, result)`` as points finish.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..errors import ScenarioError

T = TypeVar("T")
EXECUTORS = ("local", "dask")
POOL_RESTARTS = 3  # a worker that dies (out of memory, killed) breaks the pool; start a new one


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def execute(
    fn: Callable[[T], dict[str, Any]],
    tasks: Sequence[T],
    jobs: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Run ``fn`` on every task; yield ``(index into tasks, result)`` in completion order.

    ``fn`` must be a module-level function that catches its own errors (a sweep point that raises
    is a result, not a crash). ``executor="local"`` with ``jobs=1`` runs in this process;
    ``jobs > 1`` uses a process pool (spawned workers). ``executor="dask"`` submits to the
    dask.distributed scheduler at ``scheduler``, or to a LocalCluster of ``jobs`` single-threaded
    workers when no address is given.
    """
    if executor not in EXECUTORS:
        raise ScenarioError("--executor", "unknown executor", executor, " | ".join(EXECUTORS))
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ScenarioError("--jobs", "must be at least 1", jobs, "an integer >= 1")
    if executor == "dask":
        yield from _dask(fn, tasks, jobs, scheduler)
    elif scheduler is not None:
        raise ScenarioError(
            "--scheduler", "a scheduler address needs --executor dask", scheduler, "--executor dask"
        )
    elif jobs == 1 or len(tasks) <= 1:
        for index, task in enumerate(tasks):
            yield index, fn(task)
    else:
        yield from _pool(fn, tasks, jobs)


def _pool(
    fn: Callable[[T], dict[str, Any]], tasks: Sequence[T], jobs: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """A spawn-context process pool (no state inherited from this process: the same start on
    every platform). A worker that dies breaks the pool; the unfinished tasks go to a new pool,
    at most POOL_RESTARTS times."""
    pending = dict(enumerate(tasks))
    context = multiprocessing.get_context("spawn")
    restarts = 0
    while pending:
        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(pending)), mp_context=context, initializer=_ignore_sigint
        )
        try:
            futures: dict[Future, int] = {pool.submit(fn, task): i for i, task in pending.items()}
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=futures.__getitem__):
                    index = futures.pop(future)
                    result = future.result()  # fn catches its own errors; this raises only
                    del pending[index]  # for a broken pool
                    yield index, result
        except BrokenProcessPool:
            restarts += 1
            if restarts > POOL_RESTARTS:
                raise RuntimeError(
                    f"sweep workers died {restarts} times (out of memory? killed?); "
                    "finished points are stored: run the same command again to resume"
                ) from None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def _ignore_sigint() -> None:
    """Ctrl-C is for the coordinating process: it stops the sweep, and the workers with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _dask(
    fn: Callable[[T], dict[str, Any]], tasks: Sequence[T], jobs: int, scheduler: str | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ScenarioError(
            "--executor",
            "dask.distributed is not installed: pip install 'netsim[dask]'",
            "dask",
            "local, or dask with dask.distributed installed",
        ) from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = client.map(fn, list(tasks), pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            i = index[future.key]
            try:
                result = future.result()
            except Exception as err:  # a worker that died, or a cluster problem
                result = {"status": "failed", "error": "".join(traceback.format_exception(err))}
            yield i, result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
