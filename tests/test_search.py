"""Worst-case search (netsim/search): exact replay, determinism, the library comparison,
Theorem 2 under search, the exhaustive count, and bad input. Small budgets, few rounds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

import netsim
from netsim.adversaries import ADVERSARIES
from netsim.cli import main
from netsim.config import read_toml, tomllib
from netsim.delays import DELAY_MODELS
from netsim.search import SearchSettings, resolve_settings, run_search
from netsim.search.objectives import objective_value
from netsim.search.tomlfile import dumps

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def write(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(dumps(raw))
    return path


def ce_raw(rounds: int = 10, **extra: Any) -> dict[str, Any]:
    """The CE paper's instance (search_ce_paper.toml) over a few rounds."""
    raw = read_toml(SCENARIOS / "search_ce_paper.toml")
    raw["protocol"]["rounds"] = rounds
    raw.update(extra)
    return raw


def settings(**changes: Any) -> SearchSettings:
    base = {"objective": "final_distance", "budget": 6, "method": "random", "space": "byzantine"}
    return resolve_settings({**base, **changes})


def final_distance(result: netsim.RunResult) -> float:
    (variant,) = result.summary["variants"].values()
    return variant["final_distance"]


# --- the plug-ins the search writes -------------------------------------------------------------


def test_scheduled_delays_use_entry_k_for_the_kth_message():
    """Message k on a listed link takes entry k; past the end (repeat = false) the default
    model's draw, which advances for every message (so uncovered messages keep their delays)."""
    model = DELAY_MODELS.build(
        "scheduled",
        {"delays": {"0->1": [0.5, 0.25]}, "default": {"model": "uniform", "low": 0, "high": 1}},
        "network.delay",
    )
    link, reference, other = (np.random.default_rng(3) for _ in range(3))
    plain = [float(reference.uniform(0, 1)) for _ in range(4)]
    assert [model.delay(link, 0, 1, 0.0) for _ in range(4)] == [0.5, 0.25, *plain[2:]]
    assert model.delay(other, 1, 0, 0.0) == np.random.default_rng(3).uniform(0, 1)
    cycled = DELAY_MODELS.build(
        "scheduled", {"delays": {"server->2": [0.1, 0.2]}, "repeat": True}, "network.delay"
    )
    rng = np.random.default_rng(0)
    assert [cycled.delay(rng, -1, 2, 0.0) for _ in range(5)] == [0.1, 0.2, 0.1, 0.2, 0.1]


def test_parametric_defaults_are_the_filter_aware_attack():
    """radius 1, angle 0, frame "optimum" is filter_aware's value, against CE and CGC."""
    ce = netsim.parse_scenario(ce_raw(rounds=10))
    cgc = netsim.load_scenario(SCENARIOS / "cgc_sync.toml").with_overrides(
        {"variants": [], "protocol.rounds": 10}
    )
    for scenario in (ce, cgc):
        runs = [
            netsim.run(scenario.with_overrides({"adversary": {"kind": kind}}))
            for kind in ("filter_aware", "parametric")
        ]
        assert runs[0].summary["trace_hash"] == runs[1].summary["trace_hash"]


def test_scenario_toml_writer_round_trips_every_shipped_scenario():
    for path in SCENARIOS.glob("*.toml"):
        raw = read_toml(path)
        assert tomllib.loads(dumps(raw)) == raw, path


def test_scenario_toml_writer_quotes_a_key_that_ends_in_a_newline():
    # a regular expression's "$" also matches before a final newline: "0\n" is not a bare key
    raw = {"table": {"0\n": 1, "a-b_9": 2}}
    text = dumps(raw)
    assert '"0\\n" = 1' in text and "a-b_9 = 2" in text
    assert tomllib.loads(text) == raw


@hypothesis.given(text=st.text(), key=st.text(min_size=1))
@hypothesis.settings(max_examples=200, deadline=None)
def test_scenario_toml_writer_round_trips_any_string(text, key):
    # Characters beyond U+FFFF (JSON would write a surrogate pair, invalid TOML), DEL and the
    # control characters (escaped), quotes and backslashes, as values and as keys.
    raw = {"name": text, "table": {key: text, "list": [text]}}
    assert tomllib.loads(dumps(raw)) == raw


# --- replay, determinism, the library -----------------------------------------------------------


def test_the_worst_case_replays_to_the_reported_objective_exactly(tmp_path):
    path = write(tmp_path / "ce.toml", ce_raw())
    result = run_search(path, settings(), jobs=1, out=tmp_path / "out", plots=tmp_path / "plots")
    worst = tmp_path / "out" / "worst.toml"
    replay = netsim.run(netsim.load_scenario(worst))
    assert final_distance(replay) == result.best_value  # ==, not approx
    values = [h["value"] for h in result.history if h["status"] == "done"]
    assert result.best_value == max(values)
    report = json.loads((tmp_path / "out" / "search.json").read_text())
    assert report["best"]["value"] == result.best_value
    assert len(report["history"]) == 6
    # and through the command line, which prints the final distance it ran
    assert main(["run", str(worst), "--out", str(tmp_path / "r"), "--no-plot", "--quiet"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    (variant,) = summary["variants"].values()
    assert variant["final_distance"] == result.best_value
    assert sorted(p.name for p in (tmp_path / "plots").glob("*.png")) == [
        "search_ce_paper_progress.png",
        "search_ce_paper_worst.png",
    ]


def test_same_seed_same_history_whatever_the_number_of_jobs(tmp_path):
    """Differential evolution, seeded: the same command gives the same history, with one
    worker process or two, or on a Dask LocalCluster."""
    path = write(tmp_path / "ce.toml", ce_raw(rounds=8))
    chosen = settings(method="de", budget=10, per_receiver=False)

    def history(jobs: int, name: str) -> list[tuple]:
        result = run_search(path, chosen, jobs=jobs, out=tmp_path / name, plots=None, compare=False)
        return [(h["x"], h["value"], h["trace_hash"]) for h in result.history]

    first = history(1, "a")
    assert len(first) == 10  # a population of 5, then one generation
    assert history(1, "b") == first
    assert history(2, "c") == first
    pytest.importorskip("dask.distributed")
    on_dask = run_search(
        path, chosen, jobs=2, executor="dask", out=tmp_path / "e", plots=None, compare=False
    )
    assert [(h["x"], h["value"], h["trace_hash"]) for h in on_dask.history] == first
    other = run_search(
        path,
        settings(method="de", budget=10, per_receiver=False, seed=1),
        jobs=1,
        out=tmp_path / "d",
        plots=None,
        compare=False,
    )
    assert [h["x"] for h in other.history] != [x for x, _, _ in first]


def test_the_search_is_compared_with_every_hand_written_attack(tmp_path):
    path = write(tmp_path / "ce.toml", ce_raw(rounds=10))
    result = run_search(path, settings(budget=2), jobs=1, out=tmp_path / "out", plots=None)
    attacks = {f"attack {kind}" for kind in ADVERSARIES.names() if kind != "parametric"}
    assert set(result.library) == attacks | {"as written"}
    assert result.library["attack filter_aware"]["status"] == "done"
    report = json.loads((tmp_path / "out" / "search.json").read_text())
    label, value = result.library_best
    assert report["comparison"] == {
        "library_best": label,
        "library_value": value,
        "search_value": result.best_value,
        "search_beats_library": result.best_value > value,
    }


def test_a_delay_search_stays_within_delta_and_replays(tmp_path):
    raw = read_toml(SCENARIOS / "search_cgc_async.toml")
    raw["protocol"]["rounds"] = 30
    path = write(tmp_path / "cgc.toml", raw)
    chosen = settings(objective="max_honest_staleness", space="delays", budget=4)
    result = run_search(path, chosen, jobs=1, out=tmp_path / "out", plots=None)
    delta = raw["network"]["asynchrony"]["delta"]
    worst = netsim.load_scenario(tmp_path / "out" / "worst.toml")
    assert worst.network.delay.name == "scheduled"
    assert all(0 <= d <= delta for v in worst.network.delay.delays.values() for d in v)
    replay = netsim.run(worst)
    (variant,) = replay.summary["variants"].values()
    messages = replay.messages
    assert np.all(messages["arrival_time"] <= messages["send_time"] + delta)  # as the engine adds
    assert variant["honest_bound_violations"] == 0
    assert variant["honest_delays_capped"] == 0
    assert variant["max_honest_staleness"] == result.best_value
    assert {"every delay = Delta", "every delay = 0"} <= set(result.library)


# --- Theorem 2 under search ---------------------------------------------------------------------


def theorem2_rho(raw: dict[str, Any], eta: float) -> float:
    """rho = 1 - (n mu)^2 eta (eta_bar - eta) from the spec's formulas (not netsim.theory)."""
    n, f = raw["network"]["n"], raw["network"]["f"]
    honest = [i for i in range(n) if i not in raw["network"]["byzantine"]]
    A = [np.array(a) for a in raw["costs"]["A"]]
    mu = max(2 * np.linalg.eigvalsh(A[i].T @ A[i]).max() for i in honest)
    lam = np.linalg.eigvalsh(2 / len(honest) * sum(A[i].T @ A[i] for i in honest)).min()
    alpha = lam / (3 * mu) - f / n
    eta_bar = 6 * alpha / (n * mu)
    assert alpha > 0 and 0 < eta < eta_bar
    return 1 - (n * mu) ** 2 * eta * (eta_bar - eta)


def test_no_search_breaks_theorem_2_inside_its_conditions(tmp_path):
    """cgc_sync (2f-redundant, alpha > 0, eta < eta_bar): differential evolution over the
    parametric attack, varying over 3 rounds, maximizing max_t ||w_t - w*||^2 / (rho^t
    ||w_0 - w*||^2), finds nothing above 1; the worst run found holds the bound at every round."""
    raw = read_toml(SCENARIOS / "cgc_sync.toml")
    raw.pop("variants")
    raw["protocol"]["rounds"] = 40
    path = write(tmp_path / "cgc.toml", raw)
    chosen = settings(objective="theorem2_ratio", method="de", budget=30, phases=3, radius_max=3.0)
    result = run_search(path, chosen, jobs=1, out=tmp_path / "out", plots=None)
    assert result.best_value <= 1 + 1e-9
    worst = netsim.load_scenario(tmp_path / "out" / "worst.toml")
    (variant,) = netsim.run(worst).variants.values()
    rho = theorem2_rho(raw, worst.protocol.step_size(0))
    squared = np.sum((variant.estimates[:, 0] - np.array([1.0, -1.0])) ** 2, axis=1)
    assert np.all(squared <= rho ** np.arange(len(squared)) * squared[0] * (1 + 1e-9) + 1e-28)


# --- exhaustive mode ----------------------------------------------------------------------------


def tiny_ce(n: int = 3, deadline: float = 0.005) -> dict[str, Any]:
    """n agents, f = 1, agent 0 Byzantine; honest lines through (1, 1); Delta = 10 ms."""
    rows = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0], [2.0, 1.0]][:n]
    return {
        "name": "tiny",
        "network": {
            "n": n,
            "f": 1,
            "byzantine": [0],
            "delay": {"model": "constant", "value": 0.001},
            "asynchrony": {"gst": 0.0, "delta": 0.01},
        },
        "costs": {"A": [[row] for row in rows], "B": [[sum(row)] for row in rows]},
        "protocol": {"kind": "ce", "filter": "ce", "rounds": 5, "deadline": deadline},
        "adversary": {"kind": "filter_aware"},
    }


def test_exhaustive_mode_on_three_agents_explores_the_hand_counted_classes(tmp_path):
    """n = 3, agent 0 Byzantine: honest receivers 1 and 2 each wait for 2 round-0 messages.
    A receiver sees its 2 messages and its deadline in 3! = 6 orders; what it does depends only
    on which messages precede the deadline: {}, {a}, {b}, {a, b}, so 4 classes. The two
    receivers are independent: 4 x 4 = 16 classes, standing for 6 x 6 = 36 orders."""
    path = write(tmp_path / "tiny.toml", tiny_ce())
    result = run_search(
        path, settings(method="exhaustive"), jobs=1, out=tmp_path / "out", plots=None
    )
    assert result.exhaustive is not None
    assert result.exhaustive.classes == 16
    assert result.exhaustive.interleavings == 36
    assert len(result.history) == 16
    assert len({tuple(h["late"]) for h in result.history}) == 16
    # each class really delivers its late messages after the deadline (decision "late")
    worst = netsim.run(netsim.load_scenario(tmp_path / "out" / "worst.toml"))
    late = set(result.history[result.best_index]["late"])
    messages = worst.messages
    round0 = (messages["round"] == 0) & (messages["receiver"] != 0)
    decided_late = {
        f"{s}->{r}"
        for s, r, d in zip(
            messages["sender"][round0], messages["receiver"][round0], messages["decision"][round0]
        )
        if d == 3
    }
    assert decided_late == late


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "flags", "key"),
    [
        (ce_raw(), ["--objective", "loss"], "--objective"),
        (ce_raw(), ["--budget", "0"], "--budget"),
        (ce_raw(search={"budget": 0}), [], "search.budget"),
        (ce_raw(search={"colour": 1}), [], "search.colour"),
        (ce_raw(), ["--space", "delays"], "network.asynchrony.delta"),
        (ce_raw(), ["--method", "exhaustive"], "network.n"),
        (ce_raw(), ["--objective", "max_honest_staleness"], "--objective"),
        (tiny_ce(deadline=0.02), ["--method", "exhaustive"], "protocol.deadline"),
        (ce_raw(), ["--space", "lags"], "network.asynchrony.delta"),
        (ce_raw(), ["--space", "byzantine+lags"], "network.asynchrony.delta"),
        (tiny_ce(), ["--space", "offsets"], "network.clocks"),  # lock-step, perfect clocks
        (ce_raw(), ["--space", "offsets"], "protocol.clock"),  # the event clock
        (ce_raw(), ["--space", "lags+colour"], "--space"),
        ({**tiny_ce(), "search": {"space": "lags", "lag_phases": 0}}, [], "search.lag_phases"),
    ],
)
def test_bad_input_is_one_line_naming_the_key_and_exit_2(raw, flags, key, tmp_path, capsys):
    path = write(tmp_path / "bad.toml", raw)
    code = main(["search", str(path), "--out", str(tmp_path / "o"), "--quiet", *flags])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {key}:"), err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # refused before anything ran


def test_netsim_run_on_a_search_scenario_runs_its_base_scenario():
    for name in ("search_ce_paper", "search_cgc_async", "search_desync"):
        raw = read_toml(SCENARIOS / f"{name}.toml")
        scenario = netsim.load_scenario(SCENARIOS / f"{name}.toml")
        assert scenario.network.n == raw["network"]["n"] and "search" in raw
        assert math.isfinite(scenario.protocol.rounds)


def test_a_warm_start_begins_with_the_hand_written_points_of_the_space(tmp_path):
    """The parametric family's point (radius 1, angle 0) is filter_aware: warm-started, the
    first evaluation is that attack's run, bit for bit, and the search's best is at least it."""
    path = write(tmp_path / "ce.toml", ce_raw(rounds=8))
    chosen = resolve_settings(
        {"method": "de", "budget": 10, "per_receiver": False, "radius_max": 1.0},
        {"warm_start": True},
    )
    result = run_search(path, chosen, jobs=1, out=tmp_path / "out", plots=None)
    library = result.library["attack filter_aware"]["value"]
    assert result.history[0]["x"] == [1.0, 0.0]
    assert result.history[0]["value"] == library
    assert result.best_value >= library


def test_objectives_on_runs_whose_answer_is_known():
    """A Byzantine value equal to the receiver's own estimate is at distance 0: always among the
    n - 1 - f nearest (ties go to the lower id, and the Byzantine agent is 0), so it enters every
    honest receiver's aggregate in every round: influence 1. After 3 rounds of the paper's
    instance nobody is within 1e-9 of x_H: the time objective is twice the end time."""
    scenario = netsim.parse_scenario(ce_raw(rounds=3, trace=True)).with_overrides(
        {"adversary": {"kind": "parametric", "radius": 0.0}}
    )
    (variant,) = netsim.run(scenario).variants.values()
    assert objective_value("byzantine_influence", variant) == 1.0
    assert variant.summary["time_to_accuracy"]["1e-09"] is None
    end = variant.summary["sim_time_end"]
    assert objective_value("time_to_1e-09", variant) == 2 * end


def test_the_polish_moves_one_delay_at_a_time_to_an_end_of_its_range(tmp_path):
    """After the method, each polish candidate differs from the best point so far in exactly
    one coordinate, set to 0 or Delta; the search's best is at least the best before it."""
    raw = read_toml(SCENARIOS / "search_cgc_async.toml")
    raw["protocol"]["rounds"] = 30
    path = write(tmp_path / "cgc.toml", raw)
    chosen = resolve_settings(
        {"objective": "max_honest_staleness", "space": "delays", "method": "random", "budget": 8},
        {"polish": True, "warm_start": True},
    )
    result = run_search(path, chosen, jobs=1, out=tmp_path / "out", plots=None, compare=False)
    delta = raw["network"]["asynchrony"]["delta"]
    before = result.history[:6]  # 8 - 8 // 4 random points (the two warm ones first)
    start = max(before, key=lambda h: (h["value"], -h["evaluation"]))
    first_step = result.history[6 : 6 + 2]
    for entry in first_step:
        changed = [k for k, (a, b) in enumerate(zip(entry["x"], start["x"])) if a != b]
        assert len(changed) == 1 and entry["x"][changed[0]] in (0.0, delta)
    assert result.best_value >= start["value"]
    assert result.method_info["polish_evaluations"] == 2


# --- when the Byzantine values arrive (lags) and the clocks (offsets) ---------------------------


def desync_raw(rounds: int = 20) -> dict[str, Any]:
    """The shipped lag search (search_desync.toml) over a few rounds."""
    raw = read_toml(SCENARIOS / "search_desync.toml")
    raw["protocol"]["rounds"] = rounds
    return raw


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_a_parametric_lag_is_added_to_the_link_delay_and_capped_at_delta_after_gst(engine):
    """Constant links of 1 ms, Delta = 10 ms from GST = 0.1 s; lags 0 to receiver 1, 4 ms to
    receiver 2, and to receiver 3 the pattern (30 ms, 0) over rounds. The Byzantine value to
    receiver k in round r arrives 1 ms + lag_k(r) after it is sent, and at most Delta after it
    if it is sent at or after GST: 1 ms; 5 ms; 31 ms in even rounds before GST, 10 ms in even
    rounds after it, 1 ms in odd rounds. (Event clock, waiting for every value, so that no round
    end cuts a message.)"""
    raw = tiny_ce(n=4)
    raw.update(engine=engine, trace=True)
    raw["network"]["asynchrony"] = {"gst": 0.1, "delta": 0.01}
    raw["protocol"].update(clock="event", deadline="none", rounds=12)
    raw["adversary"] = {"kind": "parametric", "lag": [[0.0], [0.0], [0.004], [0.03, 0.0]]}
    result = netsim.run(netsim.parse_scenario(raw))
    assert set(result.manifest["engines"].values()) == {engine}
    m = result.messages
    byzantine = m["byzantine"]
    delay = m["arrival_time"] - m["send_time"]
    before = m["send_time"] < 0.1
    even = m["round"] % 2 == 0
    to = {k: byzantine & (m["receiver"] == k) for k in (1, 2, 3)}
    np.testing.assert_allclose(delay[to[1]], 0.001, rtol=1e-9)
    np.testing.assert_allclose(delay[to[2]], 0.005, rtol=1e-9)
    np.testing.assert_allclose(delay[to[3] & even & before], 0.031, rtol=1e-9)
    np.testing.assert_allclose(delay[to[3] & even & ~before], 0.01, rtol=1e-9)
    np.testing.assert_allclose(delay[to[3] & ~even], 0.001, rtol=1e-9)
    assert (to[3] & even & before).sum() >= 2 and (to[3] & even & ~before).sum() >= 2
    assert to[1].sum() == to[2].sum() == to[3].sum() == 12  # one value per round each


def test_a_lag_search_stays_within_delta_and_replays(tmp_path):
    path = write(tmp_path / "desync.toml", desync_raw())
    chosen = settings(objective="late_honest_after_gst", space="lags", budget=4)
    result = run_search(path, chosen, jobs=1, out=tmp_path / "out", plots=None)
    delta = 0.05  # network.asynchrony.delta of search_desync.toml
    assert result.dimensions == [f"lag[{k}][0]" for k in range(1, 10)]
    assert all(0.0 <= v <= delta for h in result.history for v in h["x"])
    worst = netsim.load_scenario(tmp_path / "out" / "worst.toml")
    assert worst.adversary.lag[0] == (0.0,)  # the Byzantine agent's own row: nothing sent
    assert [row[0] for row in worst.adversary.lag[1:]] == result.history[result.best_index]["x"]
    (variant,) = netsim.run(worst).summary["variants"].values()
    assert variant["late_honest_after_gst"] == result.best_value  # ==, replayed from the file
    for label in ("attack desync", "parametric, no hold-back", "parametric, every lag = Delta"):
        assert result.library[label]["status"] == "done", label
    # no hold-back is the scenario as written (the parametric defaults, lag 0), run for run
    assert result.library["parametric, no hold-back"] == result.library["as written"]


def test_a_lag_search_on_the_lock_step_clock_finds_no_late_honest_value(tmp_path):
    """Perfect lock-step clocks with D = Delta (+ rounding slack): an honest value sent at
    S_j(r) = r D after GST arrives by r D + Delta <= (r + 1) D, whatever the Byzantine lags.
    Through the command line, with --set switching the clock."""
    path = write(tmp_path / "desync.toml", desync_raw(rounds=15))
    code = main(
        [
            "search",
            str(path),
            "--set",
            "protocol.clock=lockstep",
            "--budget",
            "5",
            "--method",
            "random",
            "--no-plot",
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "out" / "search.json").read_text())
    assert report["objective"] == "late_honest_after_gst" and report["space"] == "lags"
    assert [h["value"] for h in report["history"]] == [0.0] * 5
    assert report["best"]["value"] == 0.0
    assert netsim.load_scenario(tmp_path / "out" / "worst.toml").protocol.clock == "lockstep"


def test_an_offset_search_stays_within_eps_and_finds_the_hand_counted_worst(tmp_path):
    """Lock-step, D = Delta = 10 ms (+ slack 1e-9), constant delays d = 8 ms, eps = 2 ms, two
    honest agents 1 and 2 (S_i(r) = eps + eps_i + r D). Agent j's round-r value reaches i at
    eps + eps_j + r D + d, after i's round end eps + eps_i + (r + 1) D iff
    eps_j - eps_i > D - d = 2 ms: so every one of the R = 6 rounds has one late honest value
    when |eps_1 - eps_2| > 2 ms (possible only near the ends, |eps_1 - eps_2| <= 4 ms), none
    otherwise. The warm start's point (-eps, +eps, -eps) is such a worst case."""
    raw = tiny_ce(n=3)
    raw["network"]["delay"] = {"model": "constant", "value": 0.008}
    raw["network"]["clocks"] = {"offset": 0.002}
    raw["protocol"] = {"kind": "ce", "filter": "ce", "rounds": 6}
    path = write(tmp_path / "clocks.toml", raw)
    chosen = resolve_settings(
        {"objective": "late_honest_after_gst", "space": "offsets", "budget": 10},
        {"warm_start": True},
    )
    result = run_search(path, chosen, jobs=1, out=tmp_path / "out", plots=None)
    assert result.dimensions == ["clock_offset[0]", "clock_offset[1]", "clock_offset[2]"]
    for entry in result.history:
        assert all(-0.002 <= v <= 0.002 for v in entry["x"])
        _, eps_1, eps_2 = entry["x"]
        assert entry["value"] == (6.0 if abs(eps_1 - eps_2) > 0.002 + 1e-9 else 0.0), entry
    assert result.history[1]["x"] == [-0.002, 0.002, -0.002]
    assert result.best_value == 6.0
    assert result.library["every clock offset = 0"]["value"] == 0.0
    worst = read_toml(tmp_path / "out" / "worst.toml")
    assert worst["network"]["clocks"]["offsets"] == result.history[result.best_index]["x"]
    replay = ["run", str(tmp_path / "out" / "worst.toml"), "--out", str(tmp_path / "r")]
    assert main([*replay, "--no-plot", "--quiet"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    (variant,) = summary["variants"].values()
    assert variant["late_honest_after_gst"] == 6


def test_spaces_combine_with_a_plus_in_a_fixed_order():
    """byzantine+lags (as lags+byzantine): radius and angle, then the lags, in one parametric
    attack; "both" is still delays+byzantine."""
    from netsim.search.space import build_space

    assert settings(space="lags+byzantine").space == "byzantine+lags"
    assert settings(space="both").space == "both"
    scenario = netsim.parse_scenario(desync_raw())
    space = build_space(scenario, "byzantine+lags", {"per_receiver": False})
    assert [d.name for d in space.dimensions] == ["radius[0][0]", "angle[0][0]", "lag[0][0]"]
    applied = space.apply(scenario.raw, [0.5, 1.0, 0.07])  # a lag past Delta is clipped to it
    assert applied["adversary"] == {
        "kind": "parametric",
        "radius": [[0.5]],
        "angle": [[1.0]],
        "frame": "optimum",
        "lag": [[0.05]],
    }
    netsim.parse_scenario(applied)


def test_a_negative_or_infinite_lag_is_refused():
    for lag, key in (
        (-0.01, "adversary.lag[0][0]"),
        ([[0.0], [0.0, math.inf]], "adversary.lag[1][1]"),
    ):
        with pytest.raises(netsim.ScenarioError) as err:
            netsim.parse_scenario(ce_raw(adversary={"kind": "parametric", "lag": lag}))
        assert err.value.key == key
