"""Sweeps (issue 7): sweep files, the result store, executors, resume, export and plots."""

from __future__ import annotations

import csv
import dataclasses
import math
import sqlite3

import numpy as np
import pytest
from builders import PAPER, small_raw

import netsim
from netsim.adversaries import ADVERSARIES
from netsim.cli import main
from netsim.sweep import (
    SweepStore,
    export_csv,
    load_sweep,
    parse_sweep,
    plot_sweep,
    run_sweep,
    tidy,
)
from netsim.sweep.plots import mean_ci

TIMING = ("wall_s", "started_at", "worker")  # the only columns allowed to differ between runs


def sweep_raw(sweep: dict, **changes) -> dict:
    """The small CE scenario (n = 6, f = 1, 12 rounds) plus a [sweep] table."""
    raw = small_raw(protocol__rounds=12, **changes)
    raw["sweep"] = sweep
    return raw


def comparable(store) -> list[dict]:
    """The store's tidy rows without the timing columns."""
    _, rows = tidy(store)
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


# --- sweep files --------------------------------------------------------------------------------


def test_points_are_the_cartesian_product_in_file_order_seeds_fastest():
    sweep = parse_sweep(
        sweep_raw(
            {
                "network.delay.mean": [0.01, 0.1],
                "protocol.filter": ["ce", "none", "krum"],
                "seeds": [5, 9],
            }
        )
    )
    assert len(sweep.points) == 2 * 3 * 2
    first = [
        (p.params["network.delay.mean"], p.params["protocol.filter"], p.seed)
        for p in sweep.points[:4]
    ]
    assert first == [(0.01, "ce", 5), (0.01, "ce", 9), (0.01, "none", 5), (0.01, "none", 9)]
    assert [p.index for p in sweep.points] == list(range(12))
    assert len({p.point_id for p in sweep.points}) == 12
    assert len({p.config_hash for p in sweep.points}) == 12


def test_repeats_counts_seeds_up_from_the_scenario_seed():
    sweep = parse_sweep(sweep_raw({"repeats": 3}))  # small_raw has seed = 7
    assert sweep.seeds == (7, 8, 9)
    assert [p.raw["seed"] for p in sweep.points] == [7, 8, 9]


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"protocol.speed": [1, 2]}, "sweep.protocol.speed", "unknown"),
        ({"network.delay.meen": [0.1]}, "sweep.network.delay.meen", "unknown"),
        ({"network.delay.mean": []}, "sweep.network.delay.mean", "empty list"),
        ({"network.delay.mean": 0.1}, "sweep.network.delay.mean", "must be a list"),
        ({"network.delay.mean": [0.1, True]}, "sweep.network.delay.mean", "mismatched types"),
        ({"network.delay.mean": [{"a": 1}]}, "sweep.network.delay.mean", "the scenario has 0.01"),
        ({"network.delay.mean": ["slow"]}, "network.delay.mean", "no valid sweep point"),
        ({"protocol.filter": ["ce", "ce"]}, "sweep.protocol.filter", "twice"),
        ({"seeds": [0], "repeats": 2}, "sweep.repeats", "not both"),
        ({"seeds": []}, "sweep.seeds", "non-empty"),
        ({"seeds": [1, -1]}, "sweep.seeds[1]", ""),
        ({"seed": [1, 2]}, "sweep.seed", "seeds = [...]"),
        ({"on_invalid": "ignore"}, "sweep.on_invalid", ""),
        ({}, "sweep", "sweeps nothing"),
        (
            {"protocol.filter": ["ce"], "plots": [{"x": "nope", "y": "final_distance"}]},
            "sweep.plots[0].x",
            "not a swept key",
        ),
        (
            {"protocol.filter": ["ce"], "plots": [{"x": "protocol.filter", "colour": "red"}]},
            "sweep.plots[0].colour",
            "unknown key",
        ),
        ({"network.n": [1]}, "network.n", "no valid sweep point"),
    ],
)
def test_bad_sweep_files_fail_before_running_and_name_the_key(table, key, words):
    with pytest.raises(netsim.ScenarioError) as info:
        parse_sweep(sweep_raw(table))
    assert info.value.key == key
    assert words in str(info.value)


def test_a_word_beside_numbers_is_checked_point_by_point():
    """The deadline takes a number or "none"; a misspelt word is an invalid point."""
    sweep = parse_sweep(sweep_raw({"protocol.deadline": ["none", 0.05]}))
    assert [p.params["protocol.deadline"] for p in sweep.points] == ["none", 0.05]
    typo = parse_sweep(sweep_raw({"protocol.deadline": ["nope", 0.05]}))
    assert len(typo.points) == 1 and typo.invalid[0].error.key == "protocol.deadline"


def test_a_file_without_sweep_table_is_refused():
    with pytest.raises(netsim.ScenarioError) as info:
        parse_sweep(small_raw())
    assert info.value.key == "sweep"


def test_invalid_combinations_are_counted_and_fail_by_default(tmp_path):
    """f = 3 breaks 2f < n for n = 6; f = 4 too: 2 of 3 f values x 2 seeds invalid."""
    sweep = parse_sweep(sweep_raw({"network.f": [1, 3, 4], "seeds": [0, 1]}))
    assert len(sweep.points) == 2 and len(sweep.invalid) == 4
    report = sweep.invalid_report()
    assert report.startswith("4 of 6 sweep points are invalid")
    assert "4 x network.f: must satisfy 2f < n (n=6) (got 3 (2x), 4 (2x); allowed" in report
    store = tmp_path / "s.db"
    with pytest.raises(netsim.ScenarioError) as info:
        run_sweep(sweep, store, jobs=1, progress=False)
    assert info.value.key == "sweep.on_invalid"
    assert not store.exists()  # nothing ran, nothing written
    skipping = parse_sweep(sweep_raw({"network.f": [1, 3, 4], "seeds": [0, 1]}), on_invalid="skip")
    outcome = run_sweep(skipping, store, jobs=1, progress=False)
    assert (outcome.done, outcome.invalid) == (2, 4)


def test_netsim_run_on_a_sweep_file_points_to_netsim_sweep(capsys):
    code = main(["run", "scenarios/sweep_latency.toml", "--no-plot", "--quiet"])
    assert code == 2
    assert "netsim sweep" in capsys.readouterr().err


# --- running, storing, resuming ------------------------------------------------------------------


def test_each_point_equals_the_same_scenario_run_alone(tmp_path):
    sweep = parse_sweep(sweep_raw({"network.delay.mean": [0.001, 0.05], "seeds": [0, 3]}))
    run_sweep(sweep, tmp_path / "s.db", jobs=1, progress=False)
    with SweepStore(tmp_path / "s.db") as db:
        stored = {(p.params["network.delay.mean"], p.seed): p for p in db.points()}
    assert len(stored) == 4
    base = netsim.parse_scenario(small_raw(protocol__rounds=12))
    for (mean, seed), point in stored.items():
        alone = netsim.run(base.with_overrides({"network.delay.mean": mean, "seed": seed}))
        assert point.status == "done"
        assert point.trace_hash == alone.summary["trace_hash"]
        assert (
            point.metrics["small"]["final_distance"]
            == alone.summary["variants"]["small"]["final_distance"]
        )
        assert point.config == {"scenario": alone.manifest["scenario"], "variants": {}}
        assert point.versions["netsim"] == netsim.__version__


def test_identical_results_serially_with_two_workers_and_on_dask(tmp_path):
    """Same metric rows and trace hashes whatever the executor and number of workers."""
    pytest.importorskip("dask.distributed")
    sweep = parse_sweep(
        sweep_raw(
            {
                "network.delay.mean": [0.002, 0.02],
                "protocol.filter": ["ce", "median"],
                "seeds": [0, 1],
            }
        )
    )
    run_sweep(sweep, tmp_path / "serial.db", jobs=1, progress=False)
    run_sweep(sweep, tmp_path / "pool.db", jobs=2, progress=False)
    run_sweep(sweep, tmp_path / "dask.db", jobs=2, executor="dask", progress=False)
    serial = comparable(tmp_path / "serial.db")
    assert len(serial) == 8 and all(row["status"] == "done" for row in serial)
    assert comparable(tmp_path / "pool.db") == serial
    assert comparable(tmp_path / "dask.db") == serial
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        address = cluster.scheduler_address  # a running cluster, reached by its address
        run_sweep(sweep, tmp_path / "remote.db", executor="dask", scheduler=address, progress=False)
    assert comparable(tmp_path / "remote.db") == serial


def test_bad_executor_options_are_refused_before_running(tmp_path):
    sweep = parse_sweep(sweep_raw({"repeats": 2}))
    for kwargs, key in [
        ({"jobs": 0}, "--jobs"),
        ({"scheduler": "tcp://127.0.0.1:8786"}, "--scheduler"),
        ({"executor": "slurm"}, "--executor"),
    ]:
        with pytest.raises(netsim.ScenarioError) as info:
            run_sweep(sweep, tmp_path / "s.db", progress=False, **kwargs)
        assert info.value.key == key
    assert not (tmp_path / "s.db").exists()  # refused before the store was created


def test_rerunning_resumes_and_a_grown_list_runs_only_the_new_points(tmp_path):
    store = tmp_path / "s.db"
    first = run_sweep(
        parse_sweep(sweep_raw({"network.delay.mean": [0.01, 0.02]})), store, jobs=1, progress=False
    )
    assert (first.done, first.already) == (2, 0)
    again = run_sweep(
        parse_sweep(sweep_raw({"network.delay.mean": [0.01, 0.02]})), store, jobs=1, progress=False
    )
    assert (again.done, again.failed, again.already) == (0, 0, 2)
    grown = run_sweep(
        parse_sweep(sweep_raw({"network.delay.mean": [0.01, 0.02, 0.04]})),
        store,
        jobs=1,
        progress=False,
    )
    assert (grown.done, grown.already) == (1, 2)
    with SweepStore(store) as db:
        assert db.count() == 3


def test_a_store_of_a_changed_base_scenario_is_refused(tmp_path):
    store = tmp_path / "s.db"
    run_sweep(parse_sweep(sweep_raw({"repeats": 1})), store, jobs=1, progress=False)
    changed = parse_sweep(sweep_raw({"repeats": 1}, protocol__step_size__eta=0.2))
    with pytest.raises(netsim.ScenarioError) as info:
        run_sweep(changed, store, jobs=1, progress=False)
    assert info.value.key == "--store"
    assert "different scenario" in str(info.value)


def test_a_store_of_a_sweep_over_other_keys_is_refused(tmp_path):
    store = tmp_path / "s.db"
    run_sweep(parse_sweep(sweep_raw({"network.delay.mean": [0.01]})), store, progress=False)
    other = parse_sweep(sweep_raw({"protocol.filter": ["ce"]}))
    with pytest.raises(netsim.ScenarioError) as info:
        run_sweep(other, store, jobs=1, progress=False)
    assert info.value.key == "--store"
    assert "other keys (network.delay.mean)" in str(info.value)


@dataclasses.dataclass(frozen=True)
class _GoesSilent:
    """A user's own attack that goes silent: validation cannot know (the built-in omission
    attack without a deadline is refused up front), so the run stalls and stops."""

    def value(self, sender, receiver, round, view, rng):
        return None


def test_a_point_that_raises_is_stored_as_failed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """A Byzantine agent that goes silent with unbounded delays and no deadline stalls its
    receivers: that point fails at run time; the other points finish (one worker: this
    process, where the test's attack is registered)."""
    monkeypatch.setitem(ADVERSARIES._classes, "goes_silent", _GoesSilent)
    table = {"adversary": [{"kind": "gaussian"}, {"kind": "goes_silent"}, {"kind": "sign_flip"}]}
    store = tmp_path / "s.db"
    outcome = run_sweep(parse_sweep(sweep_raw(table)), store, jobs=1, progress=False)
    assert (outcome.done, outcome.failed) == (2, 1)
    with SweepStore(store) as db:
        rows = {p.params["adversary"]["kind"]: p for p in db.points()}
    failed = rows["goes_silent"]
    assert failed.status == "failed" and failed.metrics is None
    assert "Traceback" in failed.error and "protocol.deadline" in failed.error
    retried = run_sweep(
        parse_sweep(sweep_raw(table)), store, jobs=1, progress=False, retry_failed=True
    )
    assert (retried.done, retried.failed, retried.already) == (0, 1, 2)
    with SweepStore(store) as db:
        assert db.count() == 3  # the failure was replaced, not duplicated


def test_the_store_is_sqlite_in_wal_mode_and_a_point_cannot_be_stored_twice(tmp_path):
    store = tmp_path / "s.db"
    run_sweep(parse_sweep(sweep_raw({"repeats": 1})), store, jobs=1, progress=False)
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = db.execute("SELECT * FROM points").fetchone()
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(f"INSERT INTO points VALUES ({', '.join('?' * len(row))})", row)


# --- export and plots -----------------------------------------------------------------------------


def test_export_writes_one_tidy_row_per_point(tmp_path):
    sweep = parse_sweep(sweep_raw({"network.delay.mean": [0.01, 0.02], "seeds": [0, 1]}))
    run_sweep(sweep, tmp_path / "s.db", jobs=1, progress=False)
    assert export_csv(tmp_path / "s.db", tmp_path / "out.csv") == 4
    with (tmp_path / "out.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert {
        "network.delay.mean",
        "seed",
        "status",
        "final_distance",
        "trace_hash",
        "time_to_1e-06",
        "messages_sent",
    } <= set(rows[0])
    assert [(r["network.delay.mean"], r["seed"]) for r in rows] == [
        ("0.01", "0"),
        ("0.01", "1"),
        ("0.02", "0"),
        ("0.02", "1"),
    ]
    # n (n - 1) messages a round, 12 rounds: 6 * 5 * 12
    assert {r["messages_sent"] for r in rows} == {"360"}
    assert all(float(r["final_distance"]) >= 0 for r in rows)


def test_mean_ci_matches_hand_computed_student_t_intervals():
    """[1, 2, 3]: mean 2, s = 1, t_{0.975, 2} = 4.303 -> half-width 4.303 / sqrt(3)."""
    centre, low, high = mean_ci(np.array([1.0, 2.0, 3.0]))
    assert centre == 2.0
    assert high - centre == pytest.approx(4.303 / math.sqrt(3))
    assert centre - low == pytest.approx(4.303 / math.sqrt(3))
    # geometric: log10 of [1, 100] is [0, 2]: mean 1 -> 10; s = sqrt(2), t_{0.975, 1} = 12.706
    centre, low, high = mean_ci(np.array([1.0, 100.0, math.nan]), log=True)
    assert centre == pytest.approx(10.0)
    assert math.log10(high) - 1 == pytest.approx(12.706 * math.sqrt(2) / math.sqrt(2))
    assert math.isnan(mean_ci(np.array([math.nan]))[0])


def test_sweep_plots_line_with_band_and_heatmap(tmp_path):
    sweep = parse_sweep(
        sweep_raw(
            {
                "network.delay.mean": [0.005, 0.05],
                "protocol.filter": ["ce", "median"],
                "seeds": [0, 1],
            }
        )
    )
    store = tmp_path / "s.db"
    run_sweep(sweep, store, jobs=1, progress=False)
    line = plot_sweep(
        store, "network.delay.mean", "sim_time_end", hue="protocol.filter", plots=tmp_path
    )
    heat = plot_sweep(
        store, "network.delay.mean", "protocol.filter", z="final_distance", plots=tmp_path
    )
    for path in (line, heat):
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(netsim.ScenarioError) as info:  # filter varies: pick or fix it
        plot_sweep(store, "network.delay.mean", "sim_time_end", plots=tmp_path)
    assert info.value.key == "protocol.filter"
    assert "--hue protocol.filter" in str(info.value)
    fixed = plot_sweep(
        store, "network.delay.mean", "sim_time_end", plots=tmp_path, where={"protocol.filter": "ce"}
    )
    assert "protocol_filter_ce" in fixed.name
    with pytest.raises(netsim.ScenarioError) as info:
        plot_sweep(store, "network.delay.mean", "speed", hue="protocol.filter", plots=tmp_path)
    assert info.value.key == "--y"


# --- the command line -----------------------------------------------------------------------------

SWEEP_FILE = """
name = "cli_sweep"
seed = 0
trace = false
[network]
n = 6
f = 1
byzantine = [0]
[network.delay]
model = "exponential"
mean = 0.01
[costs]
kind = "least_squares"
A = [[[1.0, 0.0]], [[0.8, 0.5]], [[0.5, 0.8]], [[0.0, 1.0]], [[-0.5, 0.8]], [[-0.8, 0.5]]]
B = [[1.0], [1.3], [1.3], [1.0], [0.3], [-0.3]]
[protocol]
kind = "ce"
filter = "ce"
rounds = {rounds}
[protocol.step_size]
schedule = "constant"
eta = 0.1
[adversary]
kind = "random_uniform"
low = -10.0
high = 10.0
[sweep]
"network.delay.mean" = [0.001, 0.002, 0.005, 0.01]
"protocol.filter" = ["ce", "median", "krum"]
seeds = [0, 1]
[[sweep.plots]]
x = "network.delay.mean"
y = "sim_time_end"
hue = "protocol.filter"
"""


def test_cli_sweep_status_export_and_plot(tmp_path, capsys):
    path = tmp_path / "cli_sweep.toml"
    path.write_text(SWEEP_FILE.replace("{rounds}", "6"))
    store = tmp_path / "s.db"
    assert main(["validate", str(path)]) == 0
    assert "24 points" in capsys.readouterr().out
    assert main(["sweep", str(path), "--store", str(store), "--status"]) == 0
    assert "none run yet" in capsys.readouterr().out
    args = [
        "sweep",
        str(path),
        "--store",
        str(store),
        "--jobs",
        "1",
        "--quiet",
        "--plots",
        str(tmp_path / "plots"),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "24 done, 0 failed" in out and "plot: " in out
    assert main(["sweep", str(path), "--store", str(store), "--status"]) == 0
    assert "24 done, 0 failed, 0 missing" in capsys.readouterr().out
    assert main(["export", str(store), "--csv", str(tmp_path / "t.csv")]) == 0
    assert (tmp_path / "t.csv").read_text().count("\n") == 25
    assert (
        main(
            [
                "plot",
                str(store),
                "--x",
                "network.delay.mean",
                "--y",
                "final_distance",
                "--hue",
                "protocol.filter",
                "--out",
                str(tmp_path / "p.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "p.png").is_file()
    assert (
        main(
            [
                "plot",
                str(store),
                "--x",
                "network.delay.mean",
                "--y",
                "nope",
                "--hue",
                "protocol.filter",
            ]
        )
        == 2
    )
    assert "error: --y: not a metric" in capsys.readouterr().err


def test_the_shipped_sweep_validates():
    sweep = load_sweep(PAPER.parent / "sweep_latency.toml")
    # mean delays x filters x absent policies x clocks x seeds
    assert len(sweep.points) == 7 * 3 * 2 * 2 * 5 and not sweep.invalid
    assert len(sweep.plots) == 4


def test_sweep_throughput_benchmark_runs_and_finds_identical_rows(tmp_path):
    """benchmarks/sweep_throughput.py --quick: a smoke run (no timing is asserted)."""
    import json
    import subprocess
    import sys

    script = PAPER.parents[1] / "benchmarks" / "sweep_throughput.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "sweep_throughput.json").read_text())
    assert [(r["executor"], r["workers"]) for r in record["rows"]] == [("local", 1), ("local", 2)]
    assert all(r["identical_rows"] for r in record["rows"])
