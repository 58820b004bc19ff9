"""Fixtures shared by the tests (builders live in builders.py)."""

from __future__ import annotations

import pytest
from builders import PAPER

import netsim


@pytest.fixture(scope="session")
def paper_result() -> netsim.RunResult:
    """The shipped CE paper scenario, both variants, on its defaults (300 rounds)."""
    return netsim.run(netsim.load_scenario(PAPER))
