"""Outputs on a read-only file system: a real one, not simulated.

Permissions cannot be taken away from root, so the other tests simulate a read-only directory.
Here a read-only tmpfs is mounted instead (root may mount; elsewhere the tests skip, saying
why), and every command that writes is run against it as a subprocess with a time limit: each
must end with one line naming the path, a non-zero exit and no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders import PAPER

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["--set", "protocol.rounds=3", "--quiet"]


@pytest.fixture
def read_only(tmp_path):
    """An empty read-only tmpfs mounted at tmp_path / "ro" for the test."""
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def netsim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "netsim", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_naming(done: subprocess.CompletedProcess, path: Path) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    assert str(path) in lines[0] and lines[0].startswith("error: "), lines[0]


def test_run_into_a_read_only_out_directory(read_only, tmp_path):
    done = netsim("run", str(PAPER), "--out", str(read_only / "run"), *SHORT, cwd=tmp_path)
    assert_one_line_naming(done, read_only)
    assert list(read_only.iterdir()) == []


def test_run_with_plots_into_a_read_only_directory(read_only, tmp_path):
    out, plots = tmp_path / "out", read_only / "plots"
    done = netsim("run", str(PAPER), "--out", str(out), "--plots", str(plots), *SHORT, cwd=tmp_path)
    assert_one_line_naming(done, read_only)
    assert not out.exists()  # refused before the run


def test_run_from_a_read_only_working_directory(read_only):
    """No --out: the default results/<name>/ would be created in the working directory."""
    done = netsim("run", str(PAPER), *SHORT, cwd=read_only)
    assert_one_line_naming(done, read_only)


def test_sweep_into_a_store_on_a_read_only_file_system(read_only, tmp_path):
    store = read_only / "sweep.db"
    done = netsim(
        "sweep",
        str(ROOT / "scenarios" / "sweep_latency.toml"),
        "--store",
        str(store),
        "--quiet",
        cwd=tmp_path,
    )
    assert_one_line_naming(done, read_only)
