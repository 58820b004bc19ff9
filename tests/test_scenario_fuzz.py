"""Every scenario document is either refused with one line naming a key, or valid and runs.

Hypothesis mutates the shipped scenarios: a value replaced by one of another type, out of range,
non-finite, huge, or an odd string; a key removed; an unknown key added. ``netsim validate`` on
the TOML file must exit 0 or exit 2 with a single ``error: <key>: ...`` line, never a traceback;
a document it accepts must run a few rounds without an error.

The test suite runs a fixed set of examples (derandomized: CI stays green or red for a reason);
``NETSIM_FUZZ_EXAMPLES=N`` searches N fresh random examples instead.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import PAPER
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netsim
from netsim.cli import main
from netsim.config import read_toml
from netsim.search.tomlfile import dumps as to_toml

RUN_AGENTS = 40  # the largest valid mutated network the property test also runs
SHIPPED = sorted(
    p for p in PAPER.parent.glob("*.toml") if "matrix" not in p.stem and "sweep" not in p.stem
)
RAWS = {p.stem: read_toml(p) for p in SHIPPED}

ODD_VALUES = st.one_of(
    st.sampled_from(
        [
            -1,
            0,
            1,
            2,
            3,
            10**12,
            2**63,
            -(2**63),
            0.5,
            -0.5,
            5e-324,
            1e-300,
            1e308,
            -1e308,
            math.inf,
            -math.inf,
            math.nan,
            True,
            False,
            "",
            ".",
            "..",
            "a b",
            "x\ny",
            "é",
            "x" * 1000,
            "exponential",
            "none",
            [],
            [0],
            [1.0, 2.0],
            [[1.0, 0.0]],
            ["a"],
            {},
            {"kind": "constant"},
            {"model": "uniform"},
            {"x": 1},
        ]
    ),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)


def _paths(raw: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in the document (table keys and list indices)."""
    paths = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            paths.append((*prefix, key))
            paths += _paths(value, (*prefix, key))
    elif isinstance(raw, list) and len(raw) <= 12:
        for index, value in enumerate(raw):
            paths.append((*prefix, index))
            paths += _paths(value, (*prefix, index))
    return paths


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    raw = copy.deepcopy(RAWS[draw(st.sampled_from(sorted(RAWS)))])
    raw.pop("search", None)
    for _ in range(draw(st.integers(1, 2))):
        paths = _paths(raw)
        path = draw(st.sampled_from(paths))
        parent = raw
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["colour", "kind", "model", "x", "n"]))] = draw(ODD_VALUES)
        else:
            parent[path[-1]] = draw(ODD_VALUES)
    return raw


@settings(
    max_examples=int(os.environ.get("NETSIM_FUZZ_EXAMPLES", "120")),
    derandomize="NETSIM_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=mutated_documents())
def test_a_mutated_scenario_is_refused_in_one_line_or_runs(document, tmp_path, capsys):
    path = tmp_path / "fuzz.toml"
    path.write_text(to_toml(document))
    code = main(["validate", str(path)])
    _out, err = capsys.readouterr()
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("error: ") and ": " in lines[0][7:], err
        return
    assert code == 0, (code, err)
    scenario = netsim.load_scenario(path)
    # A valid mutated network of up to 100,000 agents was validated above; running it here
    # would take minutes, so the run (3 rounds, every variant) is for networks of run size.
    if scenario.network.n <= RUN_AGENTS:
        overrides = {"protocol.rounds": min(scenario.protocol.rounds, 3)}
        result = netsim.run(scenario.with_overrides(overrides), progress=False)
        for variant in result.summary["variants"].values():  # honest state never poisoned
            assert math.isfinite(variant["final_distance"]) or variant["filter"] == "none"


def test_odd_names_are_refused(tmp_path, capsys):
    for name in ["..", ".", "a\nb", "x\x00", "x" * 300, "-rf", "a:b"]:
        raw = copy.deepcopy(RAWS["ce_paper_fig2"]) | {"name": name}
        path = tmp_path / "odd.toml"
        path.write_text(to_toml(raw))
        assert main(["validate", str(path)]) == 2, name
        assert capsys.readouterr().err.startswith("error: name: "), name


def test_a_non_utf8_file_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(
        Path(PAPER).read_bytes().replace(b"# The CE", "# Caf\xe9 CE".encode("latin-1"))
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: scenario: ")


@pytest.mark.parametrize(
    ("override", "key", "says"),
    [
        ("protocol.step_size=0.1", "protocol.step_size", "must be a table"),
        ('network.delay="exponential"', "network.delay", "must be a table"),
        (
            'protocol.step_size={schedule="power", a=1.0, b=1e10, p=2000}',
            "protocol.step_size",
            "eta_0 is 0.0",
        ),
        ("network.n=1000000000000", "network.n", "out of range"),
        ("protocol.rounds=1000000000000", "protocol.rounds", "would need"),
        ("costs.B=[[1e200], [1.3], [1.3], [1.0], [0.3], [-0.3]]", "costs.B[0][0]", "out of range"),
        ("seed=1" + "0" * 400, "seed", "out of range"),
        ("network.f=0", "costs.require_redundancy", "only 5 agents are honest"),
        (  # the odd matrix is blamed, not the first one that differs from it
            "costs.A=[[[1.0]], [[0.8, 0.5]], [[0.5, 0.8]], [[0.0, 1.0]], [[-0.5, 0.8]], "
            "[[-0.8, 0.5]]]",
            "costs.A[0]",
            "wrong number of columns (got 1; allowed 2 columns (the d of 5 of the 6 agents))",
        ),
        (
            'network={n=6, f=1, byzantine=[0], delay={model="uniform", low=0.02, high=0.03}, '
            'asynchrony={delta=0.01, on_violation="error"}}',
            "network.asynchrony.delta",
            "below the smallest delay the model draws (0.02 s)",
        ),
        (  # found by the fuzz: 1 / 5e-324 overflows, so X_0 cannot be projected onto
            "costs.A=[[[5e-324, 0.0]], [[0.8, 0.5]], [[0.5, 0.8]], [[0.0, 1.0]], [[-0.5, 0.8]], "
            "[[-0.8, 0.5]]]",
            "costs.A[0]",
            "pseudo-inverse overflows",
        ),
        (  # found by the fuzz: a Pareto tail this heavy draws delays past 1e290 s
            'network.delay={model="pareto", scale=0.01, shape=0.0078125}',
            "network.delay.shape",
            "allowed >= 0.06609 (scale 0.01)",
        ),
    ],
)
def test_the_reported_type_confusions_are_one_line_errors(capsys, override, key, says):
    assert main(["validate", str(PAPER), "--set", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {key}: ") and says in err[0], err


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_random_uniform_over_the_whole_float_range_runs(engine):
    """U[-1e308, 1e308]: high - low overflows, so netsim draws m + h (2u - 1) instead; every
    Byzantine value lies in the range and honest estimates stay finite."""
    sc = netsim.load_scenario(PAPER).with_overrides(
        {
            "engine": engine,
            "protocol.rounds": 5,
            "adversary": {"kind": "random_uniform", "low": -1e308, "high": 1e308},
        }
    )
    result = netsim.run(sc)
    assert all(math.isfinite(v["final_distance"]) for v in result.summary["variants"].values())
    rng = np.random.default_rng(0)
    adversary = sc.adversary
    drawn = adversary._from_midpoint(rng.random(10_000))
    assert np.all(np.isfinite(drawn)) and drawn.min() >= -1e308 and drawn.max() <= 1e308
    assert drawn.min() < -0.9e308 and drawn.max() > 0.9e308  # the whole range is used


def test_a_run_that_cannot_progress_says_so():
    sc = netsim.load_scenario(PAPER).with_overrides(
        {"protocol.rounds": 5, "protocol.deadline": 5e-324, "variants": []}
    )
    with pytest.warns(UserWarning, match="no honest value reached another honest agent"):
        netsim.run(sc)
    huge = netsim.load_scenario(PAPER).with_overrides(
        {"protocol.rounds": 5, "protocol.step_size.eta": 1e308, "variants": []}
    )
    with pytest.warns(UserWarning, match="honest updates were not finite and were skipped"):
        netsim.run(huge)


def test_validate_checks_the_search_table(capsys):
    search = PAPER.parent / "search_ce_paper.toml"
    assert main(["validate", str(search), "--set", 'search.objective="nope"']) == 2
    out, err = capsys.readouterr()
    assert out == ""  # refused before anything is printed
    assert err.startswith("error: search.objective: unknown objective")
    assert main(["validate", str(search), "--set", "search.budget=0"]) == 2
    assert capsys.readouterr().err.startswith("error: search.budget: ")


def test_a_sweep_plot_of_an_unknown_metric_is_refused_before_any_point_runs(tmp_path, capsys):
    text = (
        (PAPER.parent / "sweep_latency.toml").read_text().replace("time_to_1e-06", "time_to_1e-6")
    )
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    store = tmp_path / "store.db"
    assert main(["sweep", str(path), "--store", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sweep.plots[0].y: not a metric of this sweep (got 'time_to_1e-6'")
    assert "time_to_1e-06" in err and not store.exists()
