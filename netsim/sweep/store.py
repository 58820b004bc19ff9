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

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise ScenarioError(
                "store",
                "no sweep store at this path",
                str(self.path),
                "a sweep.db written by netsim sweep",
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._db:
                self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise ScenarioError(
                "store",
                f"not a sweep store ({err})",
                str(self.path),
                "a sweep.db written by netsim sweep",
            ) from None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

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


def now() -> float:
    """Unix time, for ``started_at``."""
    return time.time()
