"""Where sweep points run: in this process, a local process pool, or a dask.distributed cluster.

Every executor calls the same pure function on the same task, so a point's result does not depend
on the executor or the number of workers; only the order in which results come back does, and the
store keys them by point. :meth:`Executor.map_unordered` yields ``(task index, result)`` as
points finish; the workers stay up across batches until the executor is closed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..errors import ScenarioError

T = TypeVar("T")
EXECUTORS = ("local", "dask")
ORPHAN_POLL_S = 0.5  # how often a worker checks that its coordinator is alive
POOL_RESTARTS = 3  # a worker that dies (out of memory, killed) breaks the pool; start a new one


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


class Executor:
    """Workers that run batches of tasks: this process, a local process pool, or Dask.

    ``fn`` must be a module-level function that catches its own errors (a sweep point that raises
    is a result, not a crash). ``executor="local"`` with ``jobs=1`` runs in this process;
    ``jobs > 1`` uses a process pool (spawned workers). ``executor="dask"`` submits to the
    dask.distributed scheduler at ``scheduler``, or to a LocalCluster of ``jobs`` single-threaded
    workers when no address is given. The workers start on first use and serve every batch
    until :meth:`close` (or the end of a ``with`` block). Options are checked at construction.
    """

    def __init__(
        self, executor: str = "local", jobs: int | None = None, scheduler: str | None = None
    ):
        if executor not in EXECUTORS:
            raise ScenarioError("--executor", "unknown executor", executor, " | ".join(EXECUTORS))
        jobs = default_jobs() if jobs is None else jobs
        if jobs < 1:
            raise ScenarioError("--jobs", "must be at least 1", jobs, "an integer >= 1")
        if executor == "local" and scheduler is not None:
            raise ScenarioError(
                "--scheduler",
                "a scheduler address needs --executor dask",
                scheduler,
                "--executor dask",
            )
        if executor == "dask":
            _distributed()  # installed? say so now, not after the first batch is queued
        self.executor, self.jobs, self.scheduler = executor, jobs, scheduler
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers this executor started."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def map_unordered(
        self, fn: Callable[[T], dict[str, Any]], tasks: Sequence[T]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Run ``fn`` on every task; yield ``(index into tasks, result)`` as tasks finish."""
        if self.executor == "dask":
            yield from self._dask(fn, tasks)
        elif self.jobs == 1 or len(tasks) <= 1:
            for index, task in enumerate(tasks):
                yield index, fn(task)
        else:
            yield from self._local(fn, tasks)

    def _local(
        self, fn: Callable[[T], dict[str, Any]], tasks: Sequence[T]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """A spawn-context process pool (no state inherited from this process: the same start
        on every platform). A worker that dies breaks the pool; the unfinished tasks go to a new
        pool, at most POOL_RESTARTS times."""
        pending = dict(enumerate(tasks))
        restarts = 0
        while pending:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.jobs,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(os.getpid(),),
                )
            futures: dict[Future, int] = {}
            try:
                futures = {self._pool.submit(fn, task): i for i, task in pending.items()}
                while futures:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in sorted(done, key=futures.__getitem__):
                        index = futures.pop(future)
                        result = future.result()  # fn catches its own errors: this raises
                        del pending[index]  # only for a broken pool
                        yield index, result
            except BrokenProcessPool:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
                restarts += 1
                if restarts > POOL_RESTARTS:
                    raise RuntimeError(
                        f"workers died {restarts} times (out of memory? killed?); finished "
                        "points are stored: run the same command again to resume"
                    ) from None
            except BaseException:  # Ctrl-C, or the caller stopped early: drop queued tasks
                for future in futures:
                    future.cancel()
                raise

    def _dask(
        self, fn: Callable[[T], dict[str, Any]], tasks: Sequence[T]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        Client, LocalCluster, as_completed = _distributed()
        if self._client is None:
            if self.scheduler is None:
                self._cluster = LocalCluster(
                    n_workers=self.jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.scheduler)
        futures = self._client.map(fn, list(tasks), pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                i = index[future.key]
                try:
                    result = future.result()
                except Exception as err:  # a worker that died, or a cluster problem
                    result = {
                        "status": "failed",
                        "error": "".join(traceback.format_exception(err)),
                    }
                yield i, result
        finally:
            self._client.cancel(futures)


def _start_worker(coordinator: int) -> None:
    """A pool worker: Ctrl-C is for the coordinating process (it stops the sweep, and the
    workers with it); and a worker whose coordinator is gone, even killed with SIGKILL, exits
    within :data:`ORPHAN_POLL_S` instead of living on as an orphan."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(coordinator,), daemon=True).start()


def _exit_with(coordinator: int) -> None:
    while os.getppid() == coordinator:  # reparented (to init or a subreaper) once it dies
        time.sleep(ORPHAN_POLL_S)
    os._exit(1)


def _distributed() -> tuple[Any, Any, Any]:
    """dask.distributed's Client, LocalCluster and as_completed, or a clear error."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ScenarioError(
            "--executor",
            "dask.distributed is not installed: pip install -e '.[dask]' in the netsim checkout",
            "dask",
            "local, or dask with dask.distributed installed",
        ) from None
    return Client, LocalCluster, as_completed
