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


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_workers_die_with_their_coordinator(tmp_path, how):
    """Only the coordinator is signalled (not its process group): its 2 workers and the
    resource tracker must exit on their own within seconds, and SIGTERM stops it like Ctrl-C."""
    path = tmp_path / "orphans.toml"
    path.write_text(SWEEP_FILE.replace("{rounds}", "400"))
    store = tmp_path / "store.db"
    command = [sys.executable, "-m", "netsim", "sweep", str(path), "--store", str(store)]
    process = subprocess.Popen(
        [*command, "--jobs", "2", "--quiet", "--no-plot"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while len(children(process.pid)) < 3:  # 2 workers and the resource tracker
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the workers did not start in 120 s"
            time.sleep(0.05)
        spawned = children(process.pid)
        os.kill(process.pid, how)
        code = process.wait(timeout=30)
        if how == signal.SIGTERM:
            assert code == 130, process.stderr.read().decode()
            assert "interrupted" in process.stderr.read().decode()
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in spawned):
            assert time.monotonic() < deadline, f"orphans left: {sorted(spawned)}"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
