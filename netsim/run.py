"""``netsim.run``: every variant of a scenario, with results files and a progress bar."""

from __future__ import annotations

import platform
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import __version__
from .config import PEER_RULES, SERVER_RULES, Scenario
from .outdir import check_output_dir
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
    if out is not None:
        check_output_dir("out", out)
    runs = [(honest_label(name, sc), sc) for name, sc in runs]
    warn_beyond_f(runs)
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
    for name, variant in variants.items():
        warn_no_progress(name, variant.summary)
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


def honest_label(name: str, scenario: Scenario) -> str:
    """A variant's name, corrected when it names a filter other than the one it runs.

    A variant named after its filter (``"CE"``, ``"no filter, random"``, ``"CGC, large norm"``)
    keeps a base-scenario filter; ``--set protocol.filter=median`` then changes what runs but
    not the name. The label of such a run becomes ``"CE [filter = median]"`` (with a warning),
    so no figure or summary says CE where median ran."""
    first = name.split(",")[0].strip().lower().replace("-", "_").replace(" ", "_")
    named = "none" if first in ("no_filter", "unfiltered") else first
    known = set(PEER_RULES) | set(SERVER_RULES)
    ran = scenario.protocol.filter
    if named not in known or named == ran:
        return name
    label = f"{name} [filter = {ran}]"
    warnings.warn(
        f"variant {name!r} is named after filter {named!r} but runs filter {ran!r} "
        f"(an override changed it): it is reported as {label!r}",
        stacklevel=3,
    )
    return label


def warn_beyond_f(runs: list[tuple[str, Scenario]]) -> None:
    """Warn when a run has more Byzantine agents than the f its filters are told: a legitimate
    experiment (what breaks beyond the bound?), but outside every guarantee. The summary
    records it as ``byzantine_over_f``."""
    beyond = {}
    for name, sc in runs:
        net = sc.network
        if len(net.byzantine) > net.f:
            beyond.setdefault((tuple(net.byzantine), net.f), []).append(name)
    for (byzantine, f), names in beyond.items():
        which = "every variant" if len(names) == len(runs) else ", ".join(map(repr, names))
        warnings.warn(
            f"{len(byzantine)} Byzantine agents {list(byzantine)} but f = {f} ({which}): "
            "outside the algorithms' guarantees (summary.json: byzantine_over_f)",
            stacklevel=3,
        )


def warn_no_progress(name: str, summary: dict[str, Any]) -> None:
    """Warn about a run that finished but could not make the progress it was meant to: updates
    skipped because they were not finite (a step size too large for the data), or, for peers,
    no honest value ever arriving before its round ended (a deadline too short)."""
    skipped = summary.get("non_finite_updates", 0)
    if skipped:
        warnings.warn(
            f"variant {name!r}: {skipped} honest updates were not finite and were skipped, "
            "so those estimates did not move (a step size too large for the data?)",
            stacklevel=3,
        )
    if summary["protocol"] == "ce":
        honest = summary["n"] - len(summary["byzantine"])
        expected = summary["rounds"] * honest * (honest - 1)
        if expected and summary.get("absent_honest", 0) >= expected:
            warnings.warn(
                f"variant {name!r}: no honest value reached another honest agent within its "
                f"round (deadline {summary['deadline']!r} s): every agent only used its own "
                "estimate",
                stacklevel=3,
            )


def dependency_versions() -> dict[str, str]:
    """The installed versions of netsim's dependencies (for manifests and sweep stores)."""
    versions = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[name] = "unknown"
    return versions
