"""``netsim.run``: every variant of a scenario, with results files and a progress bar."""

from __future__ import annotations

import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import __version__
from .config import Scenario
from .results import RunResult, combined_hash
from .simulation import simulate

DEPENDENCIES = ("simpy", "numpy", "networkx", "matplotlib", "tqdm")


def run(
    scenario: Scenario,
    out: str | Path | None = None,
    progress: bool | None = None,
    command: list[str] | None = None,
) -> RunResult:
    """Run every variant of ``scenario``; write the results files to ``out`` if given.

    ``progress``: a progress bar on stderr (None: only when stderr is a terminal).
    Raises :class:`netsim.ScenarioError` for invalid input.
    """
    runs = scenario.runs()  # validates every variant before anything runs
    total = sum(sc.protocol.rounds * len(sc.network.honest) for _, sc in runs)
    variants = {}
    wall = {}
    disable = None if progress is None else not progress
    with tqdm(
        total=total, desc=scenario.name, unit="round", disable=disable, file=sys.stderr, leave=False
    ) as bar:
        for name, variant_scenario in runs:
            bar.set_postfix_str(name)
            start = time.perf_counter()
            variants[name] = simulate(variant_scenario, name, on_round=lambda: bar.update(1))
            wall[name] = time.perf_counter() - start
    hashes = {name: v.summary["trace_hash"] for name, v in variants.items()}
    digest = combined_hash(hashes)
    summary = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "netsim_version": __version__,
        "trace_hash": digest,
        "variants": {name: v.summary for name, v in variants.items()},
    }
    manifest: dict[str, Any] = {
        "scenario": scenario.resolved,
        "variants": {name: sc.resolved for name, sc in runs} if scenario.variants else {},
        "source": str(scenario.source) if scenario.source else None,
        "seed": scenario.seed,
        "engine": scenario.engine,  # as asked: auto | fast | reference
        "engines": {name: v.engine for name, v in variants.items()},  # as run, per variant
        "netsim_version": __version__,
        "dependencies": dependency_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": command if command is not None else sys.argv,
        "trace_hash": digest,
        "wall_time_s": wall,
    }
    result = RunResult(
        summary=summary, manifest=manifest, variants=variants, trace_format=scenario.trace_format
    )
    if out is not None:
        result.write(out)
    return result


def dependency_versions() -> dict[str, str]:
    """The installed versions of netsim's dependencies (for manifests and sweep stores)."""
    versions = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[name] = "unknown"
    return versions
