"""Worst-case search (``netsim search``): find the delay schedule and the Byzantine strategy
that hurt most, inside the bounds the scenario declares, and hand back a scenario that replays
it exactly.

- :mod:`.space`: what is searched (delays per link within Delta, a parametric Byzantine family,
  its per-receiver send lags within Delta, the lock-step clock offsets within eps);
- :mod:`.objectives`: what is maximized (final distance, time to epsilon, staleness, influence,
  Theorem 2's ratio, honest values late after GST);
- :mod:`.methods`: random search and differential evolution, through the sweep executors;
- :mod:`.exhaustive`: every delivery order of one round that matters, for n <= 4;
- :mod:`.runner`: settings, the hand-written library, the search; :mod:`.report`: the files.
"""

from .objectives import OBJECTIVES, objective_value
from .runner import SearchResult, SearchSettings, resolve_settings, run_search

__all__ = [
    "OBJECTIVES",
    "SearchResult",
    "SearchSettings",
    "objective_value",
    "resolve_settings",
    "run_search",
]
