"""The study scripts in scenarios/*.py run end to end (``--quick``) and write their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

FIGURES = {
    "latency_effects": ["latency_effects.png"],
    "asynchrony_stress": ["asynchrony_stress.png"],
    "heterogeneous_links": ["heterogeneous_links.png", "heterogeneous_links_matrix.png"],
}


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_study_script_quick_run_writes_its_figures(script: str, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, f"scenarios/{script}.py", "--quick", "--plots", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip(), "the script prints its table"
    for name in FIGURES[script]:
        figure = tmp_path / name
        assert figure.is_file(), f"{name} not written"
        assert figure.read_bytes()[:8] == PNG_SIGNATURE, f"{name} is not a PNG"


def test_attack_matrix_quick_run_writes_its_table_and_heatmap(tmp_path: Path) -> None:
    """The quick matrix (3 attacks x 2 filters x 2 protocols, 20 rounds) writes one row per cell
    and the heatmap; the CE and CGC cells hold finite distances."""
    import csv

    completed = subprocess.run(
        [
            sys.executable,
            "scenarios/attack_matrix.py",
            "--quick",
            "--plots",
            str(tmp_path),
            "--out",
            str(tmp_path),
            "--jobs",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    with open(tmp_path / "table.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 3 * 2  # protocols x attacks x filters, one seed
    assert all(float(row["final_distance"]) >= 0 for row in rows)
    assert (tmp_path / "attack_matrix.png").read_bytes()[:8] == PNG_SIGNATURE
