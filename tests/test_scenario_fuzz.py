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
import re
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
from netsim.rng import adversary_stream
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
            "nnm+median",  # filter pipelines, valid and not
            "bucketing(s=2)+krum",
            "nnm+",
            "+",
            "clipping(c=nan)+median",
            "bucketing(s=)+median",
            "bucketing(s=2",
            ["arc", "median"],
            ["nnm", "bucketing(s=3)", "cgc"],
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


def _mutate(draw: st.DrawFn, raw: dict[str, Any]) -> tuple:
    """Apply one random mutation to ``raw`` in place; return the path it changed."""
    path = draw(st.sampled_from(_paths(raw)))
    parent = raw
    for step in path[:-1]:
        parent = parent[step]
    action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        added = draw(st.sampled_from(["colour", "kind", "model", "x", "n"]))
        parent[added] = draw(ODD_VALUES)
        return (*path[:-1], added)
    else:
        parent[path[-1]] = draw(ODD_VALUES)
    return path


# The fixed example set of the suite, or NETSIM_FUZZ_EXAMPLES fresh random ones (docstring).
FUZZ = settings(
    max_examples=int(os.environ.get("NETSIM_FUZZ_EXAMPLES", "120")),
    derandomize="NETSIM_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def mutated_documents(draw: st.DrawFn, mutations: int | None = None) -> dict[str, Any]:
    return mutated_document_and_paths(draw, mutations)[0]


def mutated_document_and_paths(
    draw: st.DrawFn, mutations: int | None = None
) -> tuple[dict[str, Any], list[tuple]]:
    raw = copy.deepcopy(RAWS[draw(st.sampled_from(sorted(RAWS)))])
    raw.pop("search", None)
    count = draw(st.integers(1, 2)) if mutations is None else mutations
    return raw, [_mutate(draw, raw) for _ in range(count)]


@st.composite
def single_mutations(draw: st.DrawFn) -> tuple[dict[str, Any], tuple]:
    raw, (path,) = mutated_document_and_paths(draw, 1)
    return raw, path


@FUZZ
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
            "allowed >= 0.05464 (scale 0.01)",
        ),
    ],
)
def test_the_reported_type_confusions_are_one_line_errors(capsys, override, key, says):
    assert main(["validate", str(PAPER), "--set", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {key}: ") and says in err[0], err


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_random_uniform_over_the_whole_float_range_runs(engine):
    """U[-1e308, 1e308]: high - low overflows, so netsim draws on halves and doubles
    (netsim.variates.uniform); every Byzantine value lies in the range and honest estimates
    stay finite."""
    sc = netsim.load_scenario(PAPER).with_overrides(
        {
            "engine": engine,
            "protocol.rounds": 5,
            "adversary": {"kind": "random_uniform", "low": -1e308, "high": 1e308},
        }
    )
    result = netsim.run(sc)
    assert all(math.isfinite(v["final_distance"]) for v in result.summary["variants"].values())
    drawn = adversary_stream(0, 0, 1).uniform(-1e308, 1e308, 10_000)
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


# --- which key an error blames ----------------------------------------------------------------

# A value can make another key invalid: the model's cross-field constraints. An error caused by
# changing the key on the left may name a key under one of those on the right (besides the
# changed key itself, its tables and its sub-keys).
CONSTRAINS: dict[str, tuple[str, ...]] = {
    "network.n": ("costs", "network", "protocol", "adversary"),
    "network.f": ("costs", "network.byzantine", "protocol", "adversary"),
    "network.byzantine": ("costs", "network.f", "protocol", "adversary"),
    "network.delay": ("network", "protocol"),
    "network.loss": ("protocol",),
    "network.asynchrony": ("protocol",),
    "network.compute_time": ("protocol",),
    "network.clocks": ("protocol",),
    "network": ("costs", "protocol", "adversary"),  # the whole table replaced
    "costs": ("costs", "protocol"),  # d and the Theorem 2 constants feed the protocol
    "protocol": ("protocol", "network.asynchrony", "costs", "adversary"),
    "adversary": ("adversary", "protocol"),
    "engine": ("engine", "protocol", "network"),
    "trace": ("trace", "trace_format"),
}


def _tokens(key: str) -> list[str]:
    """``network.delay.mean`` -> [network, delay, mean]; ``costs.A[3][0]`` -> [costs, A, 3, 0];
    ``variants[a name].protocol.clock`` -> [variants, a name, protocol, clock]."""
    variant = re.match(r"variants\[(.*?)\](?:\.|$)", key)
    if variant:
        return ["variants", variant.group(1), *_tokens(key[variant.end() :])]
    return [t for t in re.split(r"[.\[\]]+", key) if t != ""]


def _dotted(path: tuple) -> list[str]:
    tokens: list[str] = []
    for step in path:
        tokens += str(step).split(".") if isinstance(step, str) else [str(step)]
    return tokens


def _related(blamed: list[str], changed: list[str]) -> bool:
    """One is a prefix of the other (a table and its keys), or the changed key constrains the
    blamed one (:data:`CONSTRAINS`)."""
    shorter = min(len(blamed), len(changed))
    if blamed[:shorter] == changed[:shorter]:
        return True
    for source, targets in CONSTRAINS.items():
        if changed[: len(_tokens(source))] == _tokens(source):
            return any(blamed[: len(_tokens(t))] == _tokens(t) for t in targets)
    return False


@FUZZ
@given(case=single_mutations())
def test_an_error_blames_the_changed_key_or_one_it_constrains(case, tmp_path, capsys):
    """One value changed: a refusal names that key (or a table or key under it), or a key the
    model ties to it (:data:`CONSTRAINS`: n and the cost matrices, f and 2f-redundancy, a delay
    model and the deadline...); in a variant, the same, under ``variants[...]``."""
    document, path = case
    file = tmp_path / "fuzz.toml"
    file.write_text(to_toml(document))
    if main(["validate", str(file)]) != 2:
        return
    line = capsys.readouterr().err.strip().splitlines()[0]
    blamed = _tokens(line[len("error: ") :].split(": ", 1)[0])
    changed = _dotted(path)
    if changed[0] == "variants" and blamed[0] == "variants":
        if len(changed) < 3 or len(blamed) < 2:
            return  # a whole variant replaced or removed: any of its keys may be named
        blamed, changed = blamed[2:], changed[2:]  # inside the variant (named or numbered)
        if not blamed:
            return
    elif changed[0] == "variants":  # a variant's override, blamed at the top level
        changed = changed[2:]
        if not changed:
            return
    elif blamed[0] == "variants":  # a base key, blamed in a variant built on it
        blamed = blamed[2:]
        if not blamed:
            return
    assert _related(blamed, changed), (line, path)
