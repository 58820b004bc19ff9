"""Crash safety (issue 7): a sweep killed with SIGKILL mid-way and restarted stores every point
exactly once, each equal to the uninterrupted run's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from test_sweep import SWEEP_FILE, comparable

from netsim.sweep import load_sweep, run_sweep

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


def stored(path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM points").fetchone()[0])
        except sqlite3.OperationalError:  # the table is being created
            return 0


def test_sigkill_mid_sweep_then_resume_gives_every_point_once(tmp_path):
    path = tmp_path / "crash.toml"
    path.write_text(SWEEP_FILE.replace("{rounds}", "60"))
    total = len(load_sweep(path).points)
    reference = tmp_path / "reference.db"
    run_sweep(load_sweep(path), reference, jobs=1, progress=False)

    store = tmp_path / "killed.db"
    command = [
        sys.executable,
        "-m",
        "netsim",
        "sweep",
        str(path),
        "--store",
        str(store),
        "--jobs",
        "2",
        "--quiet",
        "--no-plot",
    ]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 180
    while stored(store) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the sweep stored nothing in 180 s"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the coordinator and its workers, no clean-up
    process.wait()
    process.stderr.close()
    interrupted = stored(store)
    assert 3 <= interrupted < total, "the kill came too late to test anything"

    resumed = run_sweep(load_sweep(path), store, jobs=2, progress=False)
    assert resumed.already == interrupted
    assert resumed.done == total - interrupted
    rows = comparable(store)
    assert len(rows) == total
    assert len({row["point_id"] for row in rows}) == total
    assert rows == comparable(reference)
