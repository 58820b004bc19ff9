"""One sweep point, run in a worker: a pure function of the point's scenario.

:func:`run_point` never raises for a point's own failure (invalid at run time, a stalled
simulation, a bug): it returns ``status = "failed"`` with the traceback, so one bad point does not
stop a sweep. Its result depends only on the task, never on the worker that ran it.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import parse_scenario
from ..run import dependency_versions, run


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Run the scenario ``task["raw"]`` (every variant); return the store's columns for it."""
    started = time.time()
    clock = time.perf_counter()
    caught: list[warnings.WarningMessage] = []
    result: dict[str, Any] = {
        "started_at": started,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            source = Path(task["source"]) if task.get("source") else None
            scenario = parse_scenario(task["raw"], source=source)
            outcome = run(scenario, progress=False, command=[])
        result.update(
            status="done",
            metrics={
                name: flat_metrics(summary) for name, summary in outcome.summary["variants"].items()
            },
            trace_hash=outcome.summary["trace_hash"],
        )
    except Exception as err:  # the point failed; the sweep goes on
        result.update(status="failed", error="".join(traceback.format_exception(err)))
    result["warnings"] = list(dict.fromkeys(str(w.message) for w in caught)) or None
    result["wall_s"] = time.perf_counter() - clock
    result["versions"] = {
        "netsim": __version__,
        "python": platform.python_version(),
        **dependency_versions(),
    }
    return result


def flat_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """A variant's summary as flat scalar columns.

    Scalars are kept as they are; a nested table becomes ``table.key`` columns (``theory.alpha``);
    ``time_to_accuracy`` becomes ``time_to_<eps>`` (simulated s) and ``rounds_to_<eps>``, NaN
    when the run never got there; lists (the optimum, the Byzantine ids) are left out.
    """
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        if key == "time_to_accuracy":
            for eps, reached in value.items():
                flat[f"rounds_to_{eps}"] = math.nan if reached is None else reached[0]
                flat[f"time_to_{eps}"] = math.nan if reached is None else reached[1]
        elif isinstance(value, dict):
            for inner, v in value.items():
                if _scalar(v):
                    flat[f"{key}.{inner}"] = v
        elif key == "trace_hash":  # the point's own trace_hash column combines the variants'
            flat["variant_trace_hash"] = value
        elif _scalar(value):
            flat[key] = value
    return flat


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))
