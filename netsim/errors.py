"""The one error users see for bad input: it names the dotted key, the value and what is allowed."""

from __future__ import annotations

from typing import Any


class ScenarioError(ValueError):
    """Invalid scenario input, raised before the run starts.

    ``str(err)`` is one line: ``<key>: <problem> (got <value>; allowed <allowed>)``.
    """

    def __init__(self, key: str, problem: str, value: Any = None, allowed: str | None = None):
        # args are the constructor's arguments, so that copies made by SimPy (which re-raises
        # a process's exception as type(err)(*err.args)) stay intact.
        super().__init__(key, problem, value, allowed)
        self.key = key
        self.problem = problem
        self.value = value
        self.allowed = allowed

    def __str__(self) -> str:
        detail = f"got {self.value!r}" if self.value is not None else ""
        if self.allowed:
            detail = f"{detail}; allowed {self.allowed}" if detail else f"allowed {self.allowed}"
        return f"{self.key}: {self.problem}" + (f" ({detail})" if detail else "")


class SimulationStalled(ScenarioError):
    """The event queue ran dry while an honest agent still waited for a message.

    Raised at run time (it depends on what the adversary does), but it is a configuration
    problem: the key to change is ``protocol.deadline``.
    """


def require(
    condition: bool, key: str, value: Any, allowed: str, problem: str | None = None
) -> None:
    """Raise :class:`ScenarioError` for ``key`` unless ``condition`` holds."""
    if not condition:
        raise ScenarioError(key, problem or f"must be {allowed}", value, allowed)
