"""Sweep files: a scenario plus a ``[sweep]`` table, expanded into validated points.

A sweep file is a scenario TOML with one more table::

    [sweep]
    "network.delay.mean" = [0.001, 0.01, 0.1]   # dotted scenario key -> list of values
    "protocol.filter" = ["ce", "median"]
    seeds = [0, 1, 2]                           # or: repeats = 3 (seeds seed, seed+1, seed+2)
    on_invalid = "skip"                         # or "fail" (default): points the scenario rejects
    [[sweep.plots]]                             # optional: drawn after `netsim sweep`
    x = "network.delay.mean"
    y = "time_to_1e-06"                         # a metric (see netsim export)
    hue = "protocol.filter"                     # optional; z = METRIC makes a heatmap of x, y

The points are the Cartesian product of the lists (in the order the keys are written, the last
key varying fastest) times the seeds (fastest of all). Every point is validated before anything
runs. *File errors* (an unknown key, an empty list, values of mixed types) always fail, naming the
key; *invalid points* (a combination the scenario rejects, e.g. f too large for n) are reported
with their count and reasons, then skipped or fatal as ``on_invalid`` says.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks import as_choice, as_int
from ..config import Scenario, parse_scenario, read_toml
from ..errors import ScenarioError

RESERVED = ("seeds", "repeats", "on_invalid", "plots")
PLOT_KEYS = ("x", "y", "hue", "z", "where")
ON_INVALID = ("fail", "skip")


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: the swept keys' values and a seed.

    ``point_id`` names the point by its parameters and seed only (stable when lists grow);
    ``config_hash`` is SHA-256 over the fully resolved scenario (every default filled in), so a
    store can tell when the base scenario changed under it.
    """

    index: int
    params: dict[str, Any]
    seed: int
    point_id: str
    config_hash: str
    raw: dict[str, Any]  # the scenario as given, with the point's values and seed set
    resolved: dict[str, Any]  # every default filled in (and each variant's), for the store


@dataclass(frozen=True)
class InvalidPoint:
    """A point the scenario rejects, and why."""

    params: dict[str, Any]
    seed: int
    error: ScenarioError


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the base scenario, the swept keys and the valid points."""

    name: str
    source: Path | None
    base: Scenario
    values: dict[str, list[Any]]  # swept key -> its values, in file order
    seeds: tuple[int, ...]
    on_invalid: str
    points: tuple[SweepPoint, ...]
    invalid: tuple[InvalidPoint, ...]
    plots: tuple[dict[str, Any], ...] = ()  # [[sweep.plots]]: keyword arguments of plot_sweep

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.values)

    def invalid_report(self) -> str:
        """How many points are invalid and why: one line per key and problem, with the values
        that caused it."""
        return "\n".join(self._invalid_lines(indent="  "))

    def invalid_summary(self) -> str:
        """:meth:`invalid_report` on one line (for an error message)."""
        head, *reasons = self._invalid_lines(indent="")
        return f"{head} " + "; ".join(reasons)

    def _invalid_lines(self, indent: str) -> list[str]:
        groups: dict[tuple[str, str], list[ScenarioError]] = {}
        for point in self.invalid:
            groups.setdefault((point.error.key, point.error.problem), []).append(point.error)
        total = len(self.points) + len(self.invalid)
        lines = [f"{len(self.invalid)} of {total} sweep points are invalid:"]
        for (key, problem), errors in sorted(groups.items(), key=lambda g: -len(g[1])):
            values = Counter(repr(e.value) for e in errors)
            got = ", ".join(f"{v} ({c}x)" if c > 1 else v for v, c in values.items())
            allowed = f"; allowed {errors[0].allowed}" if errors[0].allowed else ""
            lines.append(f"{indent}{len(errors)} x {key}: {problem} (got {got}{allowed})")
        return lines


def load_sweep(path: str | Path, on_invalid: str | None = None) -> Sweep:
    """Read and validate a sweep file; ``on_invalid`` overrides the file's choice."""
    path = Path(path)
    raw = read_toml(path)
    raw.setdefault("name", path.stem)
    return parse_sweep(raw, source=path, on_invalid=on_invalid)


def parse_sweep(
    raw: dict[str, Any], source: Path | None = None, on_invalid: str | None = None
) -> Sweep:
    """Validate a sweep given as a dict (the parsed TOML); see the module docstring."""
    raw = copy.deepcopy(raw)
    table = raw.pop("sweep", None)
    if not isinstance(table, dict):
        raise ScenarioError(
            "sweep",
            "required table is missing" if table is None else "must be a table",
            table,
            'a [sweep] table of dotted keys -> lists, e.g. "network.delay.mean" = [0.01, 0.1]',
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the run reports its own warnings, once per point
        base = parse_scenario(raw, source=source)
    choice = as_choice(
        on_invalid or table.get("on_invalid", "fail"), "sweep.on_invalid", ON_INVALID
    )
    seeds = _seeds(table, base.seed)
    values = {key: _values(key, value, raw) for key, value in table.items() if key not in RESERVED}
    if not table:
        raise ScenarioError(
            "sweep",
            "sweeps nothing",
            {},
            "at least one dotted key -> list, or seeds = [...] / repeats = k",
        )
    points, invalid = _expand(base, raw, values, seeds, source)
    _unknown_keys(values, invalid, len(points))
    if not points:
        first = invalid[0].error
        raise ScenarioError(
            first.key, f"no valid sweep point: {first.problem}", first.value, first.allowed
        )
    plots = _plots(table.get("plots", []), values)
    first = points[0]
    _check_plot_metrics(plots, base.with_overrides({**first.params, "seed": first.seed}))
    return Sweep(
        name=base.name,
        source=source,
        base=base,
        values=values,
        seeds=seeds,
        on_invalid=choice,
        points=tuple(points),
        invalid=tuple(invalid),
        plots=plots,
    )


def _check_plot_metrics(plots: tuple[dict[str, Any], ...], scenario: Scenario) -> None:
    """Every ``[[sweep.plots]]`` metric must be a column the points will have: checked on a
    one-round run of the first point (its summary has every metric a full run has), so a typo
    fails now rather than after the whole sweep has run."""
    if not plots:
        return
    from ..run import run
    from .export import LEADING, TRAILING
    from .point import flat_metrics

    probe = scenario.with_overrides({"protocol.rounds": 1, "trace": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = run(probe, progress=False).summary
    names = {*LEADING, *TRAILING}
    for variant in summary["variants"].values():
        names |= set(flat_metrics(variant))
    for k, entry in enumerate(plots):
        key = "z" if "z" in entry else "y"
        if entry[key] not in names:
            raise ScenarioError(
                f"sweep.plots[{k}].{key}",
                "not a metric of this sweep",
                entry[key],
                ", ".join(sorted(names - {"idx", "point_id", "error"})),
            )


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the bytes that hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _seeds(table: dict[str, Any], base_seed: int) -> tuple[int, ...]:
    if "seed" in table:
        raise ScenarioError(
            "sweep.seed", "sweep seeds with seeds = [...] or repeats = k", table["seed"], "seeds"
        )
    if "seeds" in table and "repeats" in table:
        raise ScenarioError(
            "sweep.repeats", "give seeds or repeats, not both", table["repeats"], "one of them"
        )
    if "repeats" in table:
        repeats = as_int(table["repeats"], "sweep.repeats", low=1)
        return tuple(range(base_seed, base_seed + repeats))
    if "seeds" not in table:
        return (base_seed,)
    seeds = table["seeds"]
    if not isinstance(seeds, list) or not seeds:
        raise ScenarioError(
            "sweep.seeds", "must be a non-empty list of seeds", seeds, "e.g. [0, 1, 2]"
        )
    checked = tuple(as_int(s, f"sweep.seeds[{k}]", low=0) for k, s in enumerate(seeds))
    if len(set(checked)) != len(checked):
        raise ScenarioError("sweep.seeds", "lists a seed twice", list(checked), "distinct seeds")
    return checked


def _plots(entries: Any, values: dict[str, list[Any]]) -> tuple[dict[str, Any], ...]:
    """``[[sweep.plots]]`` entries: x and y required, x/hue (and y for a heatmap) swept keys."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ScenarioError("sweep.plots", "must be an array of tables", entries, "[[sweep.plots]]")
    swept = [*values, "variant"]
    for k, entry in enumerate(entries):
        prefix = f"sweep.plots[{k}]"
        for key in entry:
            if key not in PLOT_KEYS:
                raise ScenarioError(
                    f"{prefix}.{key}", "unknown key", entry[key], ", ".join(PLOT_KEYS)
                )
        for key in ("x", "y"):
            if not isinstance(entry.get(key), str):
                raise ScenarioError(
                    f"{prefix}.{key}", "required (a key name)", entry.get(key), "a string"
                )
        axes = ["x", "hue"] + (["y"] if "z" in entry else [])
        for key in axes:
            if key in entry and entry[key] not in swept:
                raise ScenarioError(
                    f"{prefix}.{key}", "not a swept key", entry[key], ", ".join(swept)
                )
        if not isinstance(entry.get("where", {}), dict):
            raise ScenarioError(
                f"{prefix}.where", "must be a table", entry["where"], "{KEY = VALUE}"
            )
    return tuple(dict(entry) for entry in entries)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _values(key: str, value: Any, raw: dict[str, Any]) -> list[Any]:
    """The list of values for one swept key: non-empty, distinct, and of one type, the base's
    type where the scenario sets the key.

    A word may stand beside numbers (``"protocol.deadline" = ["none", 0.05, 0.1]``): keys such as
    the deadline take both, and every value is still checked against the scenario, point by
    point, before anything runs.
    """
    name = f"sweep.{key}"
    if not isinstance(value, list):
        raise ScenarioError(name, "must be a list of values to sweep", value, "[v1, v2, ...]")
    if not value:
        raise ScenarioError(
            name, "is an empty list: the sweep would have no points", value, "a non-empty list"
        )
    kinds = {_kind(v) for v in value}
    base = _lookup(raw, key)
    if base is not _MISSING:
        kinds.add(_kind(base))
    if len(kinds - {"a string"}) > 1 or (len(kinds) > 1 and "a string" not in kinds):
        shown = f"; the scenario has {base!r}" if base is not _MISSING else ""
        raise ScenarioError(
            name,
            f"values of mismatched types ({', '.join(sorted(kinds))}{shown})",
            value,
            "values of one type (words may stand beside numbers)",
        )
    if len({canonical_json(v) for v in value}) != len(value):
        raise ScenarioError(name, "lists a value twice", value, "distinct values")
    return value


_MISSING = object()


def _lookup(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _expand(
    base: Scenario,
    raw: dict[str, Any],
    values: dict[str, list[Any]],
    seeds: tuple[int, ...],
    source: Path | None,
) -> tuple[list[SweepPoint], list[InvalidPoint]]:
    points: list[SweepPoint] = []
    invalid: list[InvalidPoint] = []
    keys = list(values)
    for combo in itertools.product(*(values[k] for k in keys)):
        params = dict(zip(keys, combo))
        for seed in seeds:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scenario = base.with_overrides({**params, "seed": seed})
            except ScenarioError as err:
                invalid.append(InvalidPoint(params, seed, err))
                continue
            resolved = {
                "scenario": scenario.resolved,
                "variants": {name: sc.resolved for name, sc in scenario.runs()}
                if scenario.variants
                else {},
            }
            points.append(
                SweepPoint(
                    index=len(points) + len(invalid),
                    params=params,
                    seed=seed,
                    point_id=_sha256(canonical_json({"params": params, "seed": seed}))[:16],
                    config_hash=_sha256(canonical_json(resolved)),
                    raw=scenario.raw,
                    resolved=resolved,
                )
            )
    return points, invalid


def _unknown_keys(values: dict[str, list[Any]], invalid: list[InvalidPoint], valid: int) -> None:
    """A swept key that no point accepts is a mistake in the file, not an invalid combination."""
    if valid:
        return
    for point in invalid:
        err = point.error
        if err.key in values and err.problem.startswith(("unknown", "is not a table")):
            raise ScenarioError(
                f"sweep.{err.key}", f"{err.problem} in the scenario", err.value, err.allowed
            )
