"""The one error users see for bad input: it names the dotted key, the value and what is allowed."""

from __future__ import annotations

from typing import Any


class ScenarioError(ValueError):
    """Invalid scenario input, raised before the run starts.

    ``str(err)`` is one line: ``<key>: <problem> (got <value>; allowed <allowed>)``.
    """

    def __init__(self, key: str, problem: str, value: Any = None, allowed: str | None = None):
        self.key = key
        self.problem = problem
        self.value = value
        self.allowed = allowed
        detail = f"got {value!r}" if value is not None else ""
        if allowed:
            detail = f"{detail}; allowed {allowed}" if detail else f"allowed {allowed}"
        super().__init__(f"{key}: {problem}" + (f" ({detail})" if detail else ""))


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
