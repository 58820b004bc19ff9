"""A sweep store as a tidy table: one row per point and variant, one column per parameter and
metric (``netsim export STORE --csv OUT``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from .spec import canonical_json
from .store import SweepStore

LEADING = ("idx", "point_id", "status", "seed")
TRAILING = ("trace_hash", "wall_s", "error")


def tidy(store: str | Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of the store, in sweep order.

    A scenario without variants gives exactly one row per point; with variants, one row per
    point and variant (column ``variant``). Parameter columns are the swept dotted keys; a failed
    point has one row with its status, parameters and the last line of its error.
    """
    with SweepStore(store, create=False) as db:
        meta = db.meta()
        points = list(db.points())
    keys = list(meta.get("keys") or dict.fromkeys(k for p in points for k in p.params))
    metric_names: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for point in points:
        base: dict[str, Any] = {
            "idx": point.idx,
            "point_id": point.point_id,
            "status": point.status,
            "seed": point.seed,
            **{key: point.params.get(key) for key in keys},
            "trace_hash": point.trace_hash,
            "wall_s": point.wall_s,
            "error": _last_line(point.error),
        }
        for variant, metrics in (point.metrics or {"": {}}).items():
            metric_names.update(dict.fromkeys(metrics))
            rows.append({**base, "variant": variant, **metrics})
    columns = [*LEADING, *keys, "variant", *metric_names, *TRAILING]
    return columns, rows


def export_csv(store: str | Path, out: str | Path) -> int:
    """Write the tidy table to ``out`` (CSV); return the number of rows."""
    columns, rows = tidy(store)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in columns})
    return len(rows)


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    if isinstance(value, (dict, list)):
        return canonical_json(value)
    return value


def _last_line(error: str | None) -> str | None:
    if not error:
        return None
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None
