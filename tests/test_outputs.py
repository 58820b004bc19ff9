"""Where a run's files go, and what a run says about itself: results and figures only under the
results directory, an earlier run replaced (not mixed with), bad output paths refused before
anything runs, files written whole or not at all, labels that never contradict what ran."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from builders import PAPER

import netsim
from netsim.analysis import time_to_accuracy
from netsim.cli import main
from netsim.outdir import RUN_FILES, atomic_file
from netsim.results import RunResult

SCENARIOS = PAPER.parent
SHORT = ["--set", "protocol.rounds=4", "--quiet"]


def test_a_run_writes_only_under_its_results_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(PAPER), *SHORT]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no plots/ beside it
    out = tmp_path / "results" / "ce_paper_fig2"
    assert (out / "plots" / "ce_paper_fig2.png").is_file()
    assert (
        f"plot: {Path('results/ce_paper_fig2/plots/ce_paper_fig2.png')}" in capsys.readouterr().out
    )


def test_a_run_in_the_directory_of_another_replaces_it_and_says_what_it_removed(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "cgc_async.toml"), "--out", str(out), *SHORT]) == 0
    assert (out / "staleness.csv").is_file() and (out / "plots" / "cgc_async.png").is_file()
    (out / "notes.txt").write_text("mine")  # not netsim's: never touched
    capsys.readouterr()
    assert main(["run", str(PAPER), "--out", str(out), *SHORT]) == 0
    said = capsys.readouterr().out
    assert not (out / "staleness.csv").exists()  # a CE run writes none: the CGC one is gone
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["ce_paper_fig2.png"]
    assert (out / "notes.txt").read_text() == "mine"
    assert f"replaced the earlier run in {out}/" in said
    assert "staleness.csv" in said and "plots/cgc_async.png" in said
    assert json.loads((out / "summary.json").read_text())["scenario"] == "ce_paper_fig2"


@pytest.mark.parametrize("flag", ["--out", "--plots"])
def test_an_output_path_that_is_a_file_is_refused_before_anything_runs(tmp_path, capsys, flag):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    other = "--plots" if flag == "--out" else "--out"
    args = ["run", str(PAPER), flag, str(blocker / "sub"), other, str(tmp_path / "x"), *SHORT]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {flag}: ")
    assert "existing file" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # nothing ran, nothing written


def test_plot_refuses_sweep_flags_on_a_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(PAPER), "--out", str(out), "--no-plot", *SHORT]) == 0
    capsys.readouterr()
    assert main(["plot", str(out), "--x", "network.n", "--y", "final_distance"]) == 2
    assert capsys.readouterr().err.startswith("error: --x, --y: only plot a sweep store")
    assert main(["plot", str(out)]) == 0
    assert (out / "plots" / "ce_paper_fig2.png").is_file()


def test_files_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A run that fails while writing its trace leaves no summary.json (the marker of a
    complete run) and no truncated messages.csv."""
    out = tmp_path / "run"
    sc = netsim.load_scenario(PAPER).with_overrides({"protocol.rounds": 4})
    netsim.run(sc, out=out)

    def broken(self, rows=0):
        yield from ()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RunResult, "_message_chunks", broken)
    with pytest.raises(OSError):
        netsim.run(sc, out=out)
    left = sorted(p.name for p in out.iterdir() if p.is_file())
    assert "summary.json" not in left and "messages.csv" not in left
    assert not any(name.endswith(".partial") for name in left)
    assert set(left) <= set(RUN_FILES)


def test_atomic_file_keeps_the_old_content_until_the_new_one_is_complete(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(path) as handle:
        handle.write("half")
        raise RuntimeError
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with atomic_file(path) as handle:
        handle.write("new")
    assert path.read_text() == "new"


def test_a_variant_named_after_a_filter_it_no_longer_runs_is_relabelled(tmp_path):
    sc = netsim.load_scenario(PAPER).with_overrides(
        {"protocol.rounds": 3, "protocol.filter": "median"}
    )
    with pytest.warns(UserWarning, match="named after filter 'ce' but runs filter 'median'"):
        result = netsim.run(sc)
    variants = result.summary["variants"]
    # "no filter" overrides the filter itself (none), so its name still says what ran.
    assert list(variants) == ["CE [filter = median]", "no filter"]
    assert [v["filter"] for v in variants.values()] == ["median", "none"]


def test_more_byzantine_agents_than_f_warns_and_is_recorded(tmp_path):
    sc = netsim.load_scenario(PAPER).with_overrides(
        {"protocol.rounds": 3, "network.byzantine": [0, 1]}
    )
    with pytest.warns(UserWarning, match=r"2 Byzantine agents \[0, 1\] but f = 1"):
        result = netsim.run(sc)
    assert {v["byzantine_over_f"] for v in result.summary["variants"].values()} == {1}
    within = netsim.run(netsim.load_scenario(PAPER).with_overrides({"protocol.rounds": 3}))
    assert {v["byzantine_over_f"] for v in within.summary["variants"].values()} == {0}


def test_a_leftover_parameter_says_how_to_replace_the_whole_table(capsys):
    assert main(["validate", str(PAPER), "--set", "adversary.kind=large_norm"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: adversary.low: unknown parameter for adversary 'large_norm'")
    assert "--set 'adversary={kind=\"large_norm\"}'" in err
    assert main(["validate", str(PAPER), "--set", 'adversary={kind="large_norm"}']) == 0


def test_time_to_accuracy_names_the_variants_it_has():
    metrics = {
        "variant": [*["CE"] * 2, *["no filter"] * 2],
        "round": [0, 1, 0, 1],
        "time": [0.0, 1.0, 0.0, 1.0],
        "distance": [1.0, 0.0, 1.0, 1.0],
    }
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    with pytest.raises(ValueError, match=r"no variant 'ce'.*\['CE', 'no filter'\]"):
        time_to_accuracy(metrics, 1e-6, variant="ce")
    assert time_to_accuracy(metrics, 1e-6, variant="CE") == (1, 1.0)


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    def full(self, rows=0):
        yield from ()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RunResult, "_message_chunks", full)
    out = tmp_path / "run"
    assert main(["run", str(PAPER), "--out", str(out), *SHORT]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out / 'messages.csv'}: No space left on device"]
    assert not (out / "summary.json").exists()


@pytest.mark.parametrize("name", ["../../escape", "/tmp/abs", 42, None])
def test_plot_never_writes_outside_its_directory_whatever_summary_json_says(tmp_path, capsys, name):
    out = tmp_path / "deep" / "run"
    assert main(["run", str(PAPER), "--out", str(out), "--no-plot", *SHORT]) == 0
    summary = json.loads((out / "summary.json").read_text())
    summary["scenario"] = name
    (out / "summary.json").write_text(json.dumps(summary))
    capsys.readouterr()
    assert main(["plot", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: results: summary.json names no valid")
    assert not list(tmp_path.rglob("*.png"))


def test_an_output_directory_that_cannot_be_written_is_refused_before_anything_runs(
    tmp_path, monkeypatch, capsys
):
    """A read-only --out (as a non-root user meets it; root bypasses permissions, so the check
    is simulated here through os.access)."""
    import netsim.outdir

    real = netsim.outdir.os.access
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(
        netsim.outdir.os, "access", lambda path, mode: Path(path) != locked and real(path, mode)
    )
    assert main(["run", str(PAPER), "--out", str(locked / "run"), *SHORT]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: --out: cannot be written: {locked} is not writable (got '{locked / 'run'}'; "
        "allowed a directory you can write to)"
    ]
    assert list(locked.iterdir()) == []


def test_csv_rows_are_what_the_csv_module_writes():
    # The result files are written by joining formatted fields (results._write_rows), which
    # must give csv.writer's bytes for every kind of column: text that needs quoting (a comma,
    # a quote, a line break), None, floats by repr (nan, -0.0, inf, 1e-07), booleans as
    # true/false, integers of any width.
    import csv
    import io

    from netsim.results import _write_rows

    columns = [
        np.array(["a", "b,c", 'q"x', None, "", "line\nbreak"], dtype=object),
        np.array([1.5, np.nan, -0.0, 1e-7, np.inf, 0.1 + 0.2]),
        np.array([True, False, True, True, False, False]),
        np.array([-1, 2, 3, 4, 5, 2**40]),
        np.array([1, 2, 3, 4, 5, 6], dtype=np.int8),
    ]
    expected = io.StringIO()
    as_python = [
        ["true" if v is True else "false" if v is False else v for v in column.tolist()]
        for column in columns
    ]
    csv.writer(expected).writerows(zip(*as_python))
    written = io.StringIO()
    _write_rows(written, columns)
    assert written.getvalue() == expected.getvalue()
    assert written.getvalue().splitlines()[1] == '"b,c",nan,false,2,2'
