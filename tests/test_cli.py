"""The `netsim` command: exit codes, one-line errors, the results files and the plot."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from builders import PAPER, is_grid

from netsim.cli import main

# The columns of messages.csv, as spec/interface.md lists them (the contract, written out).
TRACE_COLUMNS = [
    "variant",
    "round",
    "sender",
    "receiver",
    "send_time",
    "arrival_time",
    "delivered",
    "byzantine",
    "decision",
]


def test_validate_accepts_the_paper_scenario(capsys):
    assert main(["validate", str(PAPER)]) == 0
    out = capsys.readouterr().out
    assert "2f-redundancy: holds" in out
    assert "all 5 honest subsets of size 4" in out  # C(5, 4) = 5


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("network.f=3", "network.f"),
        ("network.byzantine=[9]", "network.byzantine[0]"),
        ("network.delay.mean=-0.5", "network.delay.mean"),
        ("protocol.color=1", "protocol.color"),
    ],
)
def test_invalid_input_exits_2_with_one_line_naming_the_key(capsys, override, key):
    assert main(["validate", str(PAPER), "--set", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {key}: ")
    assert "(got " in err[0] and "allowed " in err[0]


def test_missing_file_exits_2(capsys, tmp_path):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert capsys.readouterr().err.startswith("error: scenario: cannot read file")


def test_run_writes_results_and_plot(tmp_path, capsys):
    out, plots = tmp_path / "res", tmp_path / "plots"
    code = main(
        [
            "run",
            str(PAPER),
            "--out",
            str(out),
            "--plots",
            str(plots),
            "--quiet",
            "--set",
            "protocol.rounds=30",
            "--seed",
            "3",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and str(plots / "ce_paper_fig2.png") in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "ce_paper_fig2" and summary["seed"] == 3
    for name in ("CE", "no filter"):
        variant = summary["variants"][name]
        for key in (
            "protocol",
            "filter",
            "rounds",
            "sim_time_end",
            "optimum",
            "final_distance",
            "messages_sent",
            "messages_delivered",
        ):
            assert key in variant
        assert variant["rounds"] == 30
        assert variant["messages_sent"] == 30 * 6 * 5  # every agent to every other, each round
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["variant", "round", "time", "agent", "distance"]
    assert len(rows) == 2 * 31 * 5  # variants x (rounds + 1) x honest agents
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["trace_hash"] == summary["trace_hash"]
    assert manifest["scenario"]["protocol"]["rounds"] == 30
    assert manifest["seed"] == 3 and "numpy" in manifest["dependencies"]
    with open(out / "messages.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == TRACE_COLUMNS
    png = plots / "ce_paper_fig2.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # `netsim plot` redraws from the files alone.
    png.unlink()
    assert main(["plot", str(out), "--plots", str(plots)]) == 0
    assert png.exists()


def test_metrics_csv_round_trips_distances_exactly(tmp_path):
    out = tmp_path / "res"
    assert (
        main(
            [
                "run",
                str(PAPER),
                "--out",
                str(out),
                "--no-plot",
                "--quiet",
                "--set",
                "protocol.rounds=5",
            ]
        )
        == 0
    )
    import netsim
    from netsim.results import read_metrics

    again = netsim.run(netsim.load_scenario(PAPER).with_overrides({"protocol.rounds": 5}))
    read = read_metrics(out / "metrics.csv")
    assert (read["distance"] == again.metrics["distance"]).all()
    assert (read["time"] == again.metrics["time"]).all()


def test_console_entry_point_runs_as_a_module(tmp_path):
    """`python -m netsim` is the same program as the `netsim` script."""
    completed = subprocess.run(
        [sys.executable, "-m", "netsim", "validate", str(PAPER), "--set", "network.f=3"],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("error: network.f: must satisfy 2f < n")


@pytest.mark.parametrize(
    "scenario",
    [p for p in sorted(PAPER.parent.glob("*.toml")) if not is_grid(p)],
    ids=lambda p: p.stem,
)
def test_every_shipped_scenario_runs_from_the_cli(scenario, tmp_path, capsys):
    """Each scenario runs (shortened) and draws its figures."""
    code = main(
        [
            "run",
            str(scenario),
            "--out",
            str(tmp_path / "res"),
            "--plots",
            str(tmp_path / "plots"),
            "--quiet",
            "--set",
            "protocol.rounds=12",
        ]
    )
    assert code == 0
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert f"{scenario.stem}.png" in pngs
    assert main(["validate", str(scenario)]) == 0


def test_trace_can_be_written_as_parquet(tmp_path):
    """trace_format = "parquet" writes messages.parquet with the same columns and rows."""
    import pyarrow.parquet as pq

    import netsim

    scenario = netsim.load_scenario(PAPER).with_overrides(
        {"protocol.rounds": 4, "trace_format": "parquet"}
    )
    result = netsim.run(scenario, out=tmp_path)
    table = pq.read_table(tmp_path / "messages.parquet")
    assert table.column_names == TRACE_COLUMNS
    assert table.num_rows == len(result.messages["round"]) == 2 * 4 * 6 * 5
    assert table.column("arrival_time").to_pylist() == result.messages["arrival_time"].tolist()
    assert not (tmp_path / "messages.csv").exists()


def test_timing_plots_on_request_and_redrawn_from_the_files(tmp_path, capsys):
    out, plots = tmp_path / "res", tmp_path / "plots"
    args = [
        "run",
        str(PAPER),
        "--out",
        str(out),
        "--plots",
        str(plots),
        "--quiet",
        "--set",
        "protocol.rounds=6",
    ]
    assert main(args) == 0
    assert not (plots / "ce_paper_fig2_msc.png").exists()
    assert main([*args, "--timing-plots"]) == 0
    kinds = ("msc", "timeline", "latency", "decisions")
    for kind in kinds:
        (plots / f"ce_paper_fig2_{kind}.png").unlink()
    assert main(["plot", str(out), "--plots", str(plots)]) == 0  # messages.csv is there
    assert all((plots / f"ce_paper_fig2_{kind}.png").exists() for kind in kinds)


def test_the_attack_matrix_grid_is_not_run_as_a_scenario(capsys):
    assert main(["run", str(PAPER.parent / "attack_matrix.toml")]) == 2
    assert "python scenarios/attack_matrix.py" in capsys.readouterr().err
