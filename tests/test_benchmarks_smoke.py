"""The benchmark script still runs (no timing is asserted: benchmarks/ measures, tests do not)."""

from __future__ import annotations

import json
import subprocess
import sys

from builders import ROOT


def test_engines_benchmark_runs_in_quick_mode(tmp_path):
    out = tmp_path / "engines.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "engines.py"),
        "--quick",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    engines = {(row["protocol"], row["engine"]) for row in report["rows"]}
    expected = ("reference", "fast", "event_per_agent", "vectorized")
    assert engines == {(p, e) for p in ("ce", "cgc") for e in expected}
    assert all(row["seconds"] > 0 and row["peak_rss_mib"] > 0 for row in report["rows"])
    assert "| protocol |" in done.stdout


def test_the_other_benchmark_scripts_start():
    """philox_blocks.py, malloc_thresholds.py and instructions.py parse their arguments (their
    runs take minutes, or valgrind: they are run by hand, BENCHMARKS.md says how)."""
    for script in ("philox_blocks.py", "malloc_thresholds.py", "instructions.py"):
        command = [sys.executable, str(ROOT / "benchmarks" / script), "--help"]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        assert "usage" in done.stdout
