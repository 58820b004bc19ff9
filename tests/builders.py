"""Scenario builders shared by the engine, protocol and CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import netsim

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "scenarios" / "ce_paper_fig2.toml"

# The CE paper instance (spec/ce.md): honest rows of A, B = A (1, 1).
PAPER_A = np.array([[1, 0], [0.8, 0.5], [0.5, 0.8], [0, 1], [-0.5, 0.8], [-0.8, 0.5]])


def small_raw(**changes: Any) -> dict[str, Any]:
    """A small CE scenario (n = 6, f = 1, agent 0 Byzantine, the paper's costs) as a dict."""
    raw: dict[str, Any] = {
        "name": "small",
        "engine": "reference",  # pinned: the tests built on it test this engine
        "seed": 7,
        "network": {
            "n": 6,
            "f": 1,
            "byzantine": [0],
            "delay": {"model": "exponential", "mean": 0.01},
        },
        "costs": {
            "A": [[row] for row in PAPER_A.tolist()],
            "B": [[float(v)] for v in PAPER_A @ np.ones(2)],
        },
        "protocol": {
            "kind": "ce",
            "filter": "ce",
            "rounds": 40,
            "step_size": {"schedule": "constant", "eta": 0.1},
        },
        "adversary": {"kind": "random_uniform", "low": -10.0, "high": 10.0},
    }
    return with_changes(raw, changes)


def small(**changes: Any) -> netsim.Scenario:
    """:func:`small_raw`, validated. Keyword ``a__b=v`` sets key ``a.b``."""
    return netsim.parse_scenario(small_raw(**changes))


def second_instance_raw(seed: int = 42) -> dict[str, Any]:
    """Our own instance: n = 7, f = 2, d = 3, agents 1 and 4 Byzantine, each agent a random
    2x3 system consistent at x* = (2, -1, 0.5); any 3 honest agents stack to rank 3, so the
    honest costs are 2f-redundant and x_H = x*."""
    rng = np.random.default_rng(seed)
    x_star = np.array([2.0, -1.0, 0.5])
    A = [rng.normal(size=(2, 3)) for _ in range(7)]
    return {
        "name": "second",
        "engine": "reference",  # pinned: the tests built on it test this engine
        "seed": 1,
        "network": {
            "n": 7,
            "f": 2,
            "byzantine": [1, 4],
            "delay": {"model": "exponential", "mean": 0.02},
        },
        "costs": {
            "A": [a.tolist() for a in A],
            "B": [(a @ x_star).tolist() for a in A],
            "require_redundancy": True,
        },
        "protocol": {"rounds": 200},
        "adversary": {"kind": "random_uniform", "low": -5.0, "high": 5.0},
    }


# The spec's CGC instance (spec/cgc.md, reference_numbers.py): n = 6, f = 1, agent 5 Byzantine,
# each agent a full-rank 2x2 system consistent at w* = (1, -1).
CGC_A = [
    [[1.0, 0.1], [0.0, 0.9]],
    [[0.9, -0.2], [0.3, 1.0]],
    [[1.1, 0.0], [0.2, 0.95]],
    [[0.95, 0.3], [-0.1, 1.05]],
    [[1.0, -0.1], [0.1, 1.1]],
    [[1.0, 0.0], [0.0, 1.0]],
]
CGC_W_STAR = np.array([1.0, -1.0])


def cgc_raw(**changes: Any) -> dict[str, Any]:
    """The spec's CGC instance as a synchronous scenario dict; ``a__b=v`` sets ``a.b``."""
    raw: dict[str, Any] = {
        "name": "cgc",
        "engine": "reference",  # pinned: the tests built on it test this engine
        "seed": 3,
        "network": {
            "n": 6,
            "f": 1,
            "byzantine": [5],
            "delay": {"model": "uniform", "low": 0.001, "high": 0.01},
        },
        "costs": {
            "A": CGC_A,
            "B": [(np.array(a) @ CGC_W_STAR).tolist() for a in CGC_A],
            "require_redundancy": True,
        },
        "protocol": {"kind": "cgc", "mode": "sync", "rounds": 100, "x0": [6.0, 4.0]},
        "adversary": {"kind": "large_norm", "scale": 1000.0},
    }
    return with_changes(raw, changes)


def cgc(**changes: Any) -> netsim.Scenario:
    """:func:`cgc_raw`, validated."""
    return netsim.parse_scenario(cgc_raw(**changes))


def with_changes(raw: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Set ``raw[a][b] = v`` for every keyword ``a__b=v`` (nested tables created as needed)."""
    for dotted, value in changes.items():
        node = raw
        parts = dotted.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return raw


def is_grid(path: Path) -> bool:
    """A study grid among the scenario files: a ``[sweep]`` (run by ``netsim sweep``) or the
    attack ``[matrix]`` (run by its own script)."""
    text = path.read_text()
    return "\n[matrix]" in text or "\n[sweep]" in text


def silenced(scenario, from_round: int):
    """``scenario`` with the omission attack put in after validation, which refuses it without a
    round deadline: what the run-time stall check (the safety net for a user-written attack
    that goes silent) sees."""
    import dataclasses

    from netsim.adversaries import Omission

    return dataclasses.replace(scenario, adversary=Omission(from_round=from_round))
