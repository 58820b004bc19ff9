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
