"""Name -> class registries for plug-ins (delay models, adversaries, filters, step sizes).

A plug-in is one small frozen dataclass; its fields are its scenario parameters and its
``__post_init__`` validates them with :func:`netsim.errors.require`. :meth:`Registry.build`
turns a scenario table into an instance and rewrites every error so that it names the full
dotted key (``network.delay.mean`` rather than ``mean``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from .errors import ScenarioError

T = TypeVar("T")


class Registry(Generic[T]):
    """Plug-ins of one kind, by the name scenario files use."""

    def __init__(self, kind: str, name_field: str = "kind"):
        self.kind = kind
        self.name_field = name_field  # the scenario key that names the plug-in
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: make ``cls`` available as ``name``."""

        def decorate(cls: type[T]) -> type[T]:
            if name in self._classes:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._classes[name] = cls
            cls.name = name  # type: ignore[attr-defined]
            return cls

        return decorate

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._classes)

    def get(self, name: str, key: str) -> type[T]:
        """The class registered as ``name``; ``key`` is the dotted key that named it."""
        if not isinstance(name, str) or name not in self._classes:
            raise ScenarioError(key, f"unknown {self.kind}", name, ", ".join(self.names()))
        return self._classes[name]

    def parameters(self, name: str, key: str) -> list[str]:
        """The parameter names of plug-in ``name``."""
        return [field.name for field in dataclasses.fields(self.get(name, key))]

    def build(self, name: str, params: Mapping[str, Any], key: str) -> T:
        """Instantiate ``name`` with scenario ``params``.

        ``key`` is the dotted key of the table holding the parameters: errors name
        ``key.param``, or ``key.<name_field>`` for an unknown plug-in.
        """
        cls = self.get(name, f"{key}.{self.name_field}")
        # A field may carry another name in scenario files (``value`` clashes with a method).
        renames: dict[str, str] = getattr(cls, "scenario_names", {})
        params = {renames.get(param, param): value for param, value in params.items()}
        shown = {field: param for param, field in renames.items()}
        allowed = [f.name for f in dataclasses.fields(cls)]
        for param in params:
            if param not in allowed:
                replace = f'{key}={{{self.name_field}="{name}"}}'
                raise ScenarioError(
                    f"{key}.{shown.get(param, param)}",
                    f"unknown parameter for {self.kind} {name!r} (left from another "
                    f"{self.kind}? replace the whole table: --set '{replace}')",
                    params[param],
                    ", ".join(shown.get(a, a) for a in allowed) or "none",
                )
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        for param in required:
            if param not in params:
                raise ScenarioError(
                    f"{key}.{shown.get(param, param)}", f"required by {self.kind} {name!r}"
                )
        try:
            return cls(**params)
        except ScenarioError as err:
            if err.key.startswith(key):
                raise
            field = shown.get(err.key, err.key)
            raise ScenarioError(f"{key}.{field}", err.problem, err.value, err.allowed) from None
        except TypeError as err:
            raise ScenarioError(
                key, f"bad parameters for {self.kind} {name!r}: {err}", params, ", ".join(allowed)
            ) from None
