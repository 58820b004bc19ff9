"""Sweeps: grids over scenarios, run in parallel into a resumable SQLite store (issue 7).

``load_sweep`` validates a sweep file, ``run_sweep`` runs its missing points (locally or on
Dask), ``export_csv``/``tidy`` read the store as a table and ``plot_sweep`` draws it.
"""

from typing import Any

from .export import export_csv, tidy
from .runner import SweepOutcome, default_store, run_sweep
from .spec import Sweep, SweepPoint, load_sweep, parse_sweep
from .store import SweepStore


def __getattr__(name: str) -> Any:
    """``plot_sweep`` on first use: sweep workers import this package and need no matplotlib."""
    if name == "plot_sweep":
        from .plots import plot_sweep

        return plot_sweep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Sweep",
    "SweepOutcome",
    "SweepPoint",
    "SweepStore",
    "default_store",
    "export_csv",
    "load_sweep",
    "parse_sweep",
    "plot_sweep",
    "run_sweep",
    "tidy",
]
