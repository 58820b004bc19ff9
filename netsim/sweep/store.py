"""The result store of a sweep: one SQLite database (stdlib sqlite3, WAL mode), a row per point.

Only the coordinating process writes, one point per transaction, after the point has finished:
a row is there completely or not at all, so a sweep killed at any instant (Ctrl-C, ``kill -9``,
a crashed worker) loses only the points that were still running. ``point_id`` is the primary
key: a point can never be stored twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ScenarioError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    point_id TEXT PRIMARY KEY,     -- hash of (swept values, seed)
    idx INTEGER NOT NULL,          -- position in the sweep's expansion order
    params TEXT NOT NULL,          -- JSON: swept dotted key -> value
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,          -- JSON: the fully resolved scenario (and its variants)
    config_hash TEXT NOT NULL,     -- SHA-256 of config
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    metrics TEXT,                  -- JSON: variant -> flat summary metrics
    trace_hash TEXT,
    error TEXT,                    -- the traceback of a failed point
    warnings TEXT,                 -- JSON list of the run's warnings
    started_at REAL,               -- Unix time the worker started the point
    wall_s REAL,                   -- wall-clock seconds the point took
    worker TEXT,                   -- host:pid that ran it
    versions TEXT                  -- JSON: netsim, python and dependency versions
);
"""

COLUMNS = (
    "point_id",
    "idx",
    "params",
    "seed",
    "config",
    "config_hash",
    "status",
    "metrics",
    "trace_hash",
    "error",
    "warnings",
    "started_at",
    "wall_s",
    "worker",
    "versions",
)
JSON_COLUMNS = ("params", "config", "metrics", "warnings", "versions")


@dataclass(frozen=True)
class StoredPoint:
    """One row of the store, JSON columns decoded."""

    point_id: str
    idx: int
    params: dict[str, Any]
    seed: int
    config: dict[str, Any]
    config_hash: str
    status: str
    metrics: dict[str, dict[str, Any]] | None
    trace_hash: str | None
    error: str | None
    warnings: list[str] | None
    started_at: float | None
    wall_s: float | None
    worker: str | None
    versions: dict[str, str] | None


class SweepStore:
    """A sweep's SQLite database. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path, create: bool = True, writer: bool = False):
        """Open the store at ``path`` (created when ``create``). ``writer``: this process runs
        the sweep; it holds an exclusive lock on ``<path>.lock`` until :meth:`close`, so a
        second sweep on the same store stops with a clear error instead of racing the first.

        Raises :class:`ScenarioError` naming ``store`` for a path that is a directory, a
        database that is not a sweep store (another schema, a corrupt file), a read-only file,
        a full disk, or a store in use by another sweep."""
        self.path = Path(path)
        self._lock: Any = None
        if self.path.is_dir():
            raise ScenarioError(
                "store", "is a directory", str(self.path), "a file path, e.g. results/x/sweep.db"
            )
        if not create and not self.path.is_file():
            raise ScenarioError(
                "store",
                "no sweep store at this path",
                str(self.path),
                "a sweep.db written by netsim sweep",
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if writer:
                self._lock = _exclusive_lock(self.path)
            self._db = sqlite3.connect(self.path, timeout=60.0)
        except OSError as err:
            self._release()
            raise ScenarioError(
                "store", f"cannot be opened: {err.strerror}", str(self.path), "a writable path"
            ) from None
        except sqlite3.Error as err:
            self._release()
            raise ScenarioError("store", _problem(err), str(self.path), _ALLOWED) from None
        try:
            _check_schema(self._db, self.path)
            if create:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                with self._db:
                    self._db.executescript(SCHEMA)
        except sqlite3.Error as err:
            self.close()
            raise ScenarioError("store", _problem(err), str(self.path), _ALLOWED) from None
        except ScenarioError:
            self.close()
            raise

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    # --- meta ----------------------------------------------------------------------------------

    def set_meta(self, **values: Any) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def meta(self) -> dict[str, Any]:
        rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        return {key: json.loads(value) for key, value in rows}

    # --- points --------------------------------------------------------------------------------

    def add(self, row: dict[str, Any]) -> None:
        """Store one finished point, atomically (a failed point replaces its earlier failure)."""
        values = [
            json.dumps(row.get(c)) if c in JSON_COLUMNS and row.get(c) is not None else row.get(c)
            for c in COLUMNS
        ]
        with self._db:
            self._db.execute(
                "DELETE FROM points WHERE point_id = ? AND status = 'failed'", (row["point_id"],)
            )
            self._db.execute(
                f"INSERT INTO points ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                values,
            )

    def status(self) -> dict[str, str]:
        """point_id -> status, for every stored point."""
        return dict(self._db.execute("SELECT point_id, status FROM points").fetchall())

    def config_hashes(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT point_id, config_hash FROM points").fetchall())

    def points(self) -> Iterator[StoredPoint]:
        """Every stored point, in sweep order."""
        cursor = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM points ORDER BY idx, seed")
        for values in cursor:
            row = dict(zip(COLUMNS, values))
            for c in JSON_COLUMNS:
                if row[c] is not None:
                    row[c] = json.loads(row[c])
            yield StoredPoint(**row)

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0])


_ALLOWED = "a sweep.db written by netsim sweep"


def _problem(err: sqlite3.Error) -> str:
    """What an SQLite error means for the user: a full disk and a read-only file are not a
    corrupt store."""
    text = str(err)
    if "readonly" in text or "read-only" in text:
        return "cannot be written (read-only file or directory)"
    if "full" in text:
        return "cannot be written: the disk is full"
    if "unable to open" in text:
        return "cannot be opened (does its directory exist and is it writable?)"
    return f"not a sweep store ({text})"


def _check_schema(db: sqlite3.Connection, path: Path) -> None:
    """An existing database must hold a sweep store's tables and nothing else: netsim never
    writes into another application's database."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return  # a new, empty file
    if tables != {"meta", "points"}:
        raise ScenarioError(
            "store",
            f"is an SQLite database of something else (tables: {', '.join(sorted(tables))})",
            str(path),
            _ALLOWED + " (or a new path)",
        )
    columns = [row[1] for row in db.execute("PRAGMA table_info(points)")]
    if tuple(columns) != COLUMNS:
        raise ScenarioError(
            "store",
            "has another schema (written by another netsim version?)",
            str(path),
            _ALLOWED + " by this version (or a new path)",
        )


def _exclusive_lock(path: Path) -> Any:
    """An open file holding an exclusive, non-blocking lock on ``<path>.lock`` (POSIX
    ``flock``; released when the file is closed or the process dies, even by SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, SQLite's own locking remains
        return None
    handle = open(path.with_name(path.name + ".lock"), "a+")  # held until close()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ScenarioError(
            "store",
            "is in use by another netsim sweep running now",
            str(path),
            "wait for it to finish (netsim sweep FILE --status shows its progress), "
            "or use another --store",
        ) from None
    return handle


def now() -> float:
    """Unix time, for ``started_at``."""
    return time.time()
