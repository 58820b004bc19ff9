"""The sweep store refuses what is not its own (another application's database, a corrupt file,
a directory) and is run by one sweep at a time: a second sweep on a busy store stops at once
with one line, before it runs anything, and the first finishes with every point once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest
from test_sweep import SWEEP_FILE
from test_sweep_crash import stored

from netsim.cli import main
from netsim.sweep import load_sweep


def sweep_file(tmp_path, rounds: int = 6):
    path = tmp_path / "store_sweep.toml"
    path.write_text(SWEEP_FILE.replace("{rounds}", str(rounds)))
    return path


def test_another_applications_database_is_never_written(tmp_path, capsys):
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE users (id INTEGER)")
    before = other.read_bytes()
    assert main(["sweep", str(sweep_file(tmp_path)), "--store", str(other), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: store: is an SQLite database of something else (tables: users) (got "
        f"'{other}'; allowed a sweep.db written by netsim sweep (or a new path))"
    ]
    assert other.read_bytes() == before


@pytest.mark.parametrize("kind", ["zeros", "directory", "text"])
def test_a_store_that_is_not_a_database_is_a_one_line_error(tmp_path, capsys, kind):
    store = tmp_path / "bad.db"
    if kind == "zeros":
        store.write_bytes(b"\0" * 8192)
    elif kind == "directory":
        store.mkdir()
    else:
        store.write_text("not a database at all, but long enough to have a header " * 10)
    assert main(["sweep", str(sweep_file(tmp_path)), "--store", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: store: "), err
    assert main(["export", str(store), "--csv", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err.startswith("error: store: ")


def test_a_second_sweep_on_a_busy_store_stops_at_once_and_the_first_finishes(tmp_path):
    path = sweep_file(tmp_path, rounds=300)
    store = tmp_path / "busy.db"
    command = [sys.executable, "-m", "netsim", "sweep", str(path), "--store", str(store)]
    first = subprocess.Popen(
        [*command, "--jobs", "1", "--quiet", "--no-plot"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while stored(store) < 1:
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline, "the first sweep stored nothing in 120 s"
            time.sleep(0.05)
        second = subprocess.run(
            [*command, "--jobs", "1", "--quiet", "--no-plot"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip().splitlines() == [
            f"error: store: is in use by another netsim sweep running now (got '{store}'; "
            "allowed wait for it to finish (netsim sweep FILE --status shows its progress), "
            "or use another --store)"
        ]
        assert first.wait(timeout=300) == 0, first.stderr.read().decode()
    finally:
        if first.poll() is None:
            first.kill()
    total = len(load_sweep(path).points)
    with sqlite3.connect(store) as db:
        ids = [row[0] for row in db.execute("SELECT point_id FROM points")]
    assert len(ids) == len(set(ids)) == total  # every point once
    # Once the first has finished, the store is free again: a rerun resumes (nothing to do).
    rerun = subprocess.run([*command, "--quiet", "--no-plot"], capture_output=True, text=True)
    assert rerun.returncode == 0 and "were already in the store" in rerun.stdout


@pytest.mark.parametrize(
    ("sqlite_says", "we_say"),
    [
        ("attempt to write a readonly database", "cannot be written (read-only file or directory)"),
        ("database or disk is full", "cannot be written: the disk is full"),
        ("unable to open database file", "cannot be opened (does its directory exist"),
        ("file is not a database", "not a sweep store (file is not a database)"),
    ],
)
def test_sqlite_errors_are_said_as_what_they_mean(sqlite_says, we_say):
    """A read-only or full disk is not a corrupt store (as root, permissions cannot be taken
    away in a test, so SQLite's own messages are checked)."""
    from netsim.sweep.store import _problem

    assert _problem(sqlite3.OperationalError(sqlite_says)).startswith(we_say)
