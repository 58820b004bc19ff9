"""One evaluation of the search, run in a worker: a scenario in, its objective out.

:func:`evaluate` is a module-level, pure function of its task (the raw scenario and the
objective's name), so any executor (this process, a process pool, a Dask cluster) gives the same
number for the same task. It never raises: a run that fails (a stalled simulation, an invalid
candidate) is a result with ``status = "failed"``, which the search ranks below every success.
"""

from __future__ import annotations

import traceback
import warnings
from typing import Any

from ..config import parse_scenario
from ..run import run
from .objectives import objective_value


def evaluate(task: dict[str, Any]) -> dict[str, Any]:
    """Run ``task["raw"]`` (one scenario, no variants) and measure ``task["objective"]``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a worker has no one to warn; the report says it
            scenario = parse_scenario(task["raw"])
            outcome = run(scenario, progress=False, command=[])
        (variant,) = outcome.variants.values()
        return {
            "status": "done",
            "value": objective_value(task["objective"], variant),
            "final_distance": float(variant.summary["final_distance"]),
            "trace_hash": variant.summary["trace_hash"],
        }
    except Exception as err:  # one failed candidate does not stop the search
        return {
            "status": "failed",
            "value": None,
            "error": "".join(traceback.format_exception(err)),
        }
