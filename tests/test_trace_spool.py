"""The message trace streams to disk in chunks and reads back as the same columns.

netsim.engine.spool.ColumnSpool is checked on its own (any chunk size, any split of the rows),
then whole runs: with a chunk of a few rows, both engines spill their traces to disk, and every
column, estimate and trace hash must equal the run that kept everything in memory. The fast
engine releases a round's messages only below a watermark (netsim/fast/trace.py); hypothesis
draws the runs where that matters (deadlines, stale values, compute times, lossy links).
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator

import numpy as np
import pytest
from builders import PAPER, cgc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fast_engine import assert_same_outputs, assert_same_run, scenarios

import netsim
from netsim.engine import spool
from netsim.errors import ScenarioError, SimulationStalled
from netsim.fast.results import run_peer
from netsim.simulation import simulate

DTYPES = {"round": np.int64, "time": np.float64, "kept": np.bool_}


@contextlib.contextmanager
def chunk_rows(rows: int) -> Iterator[None]:
    """Spill every ``rows`` messages (hypothesis tests cannot take the monkeypatch fixture)."""
    saved = spool.CHUNK_ROWS
    spool.CHUNK_ROWS = rows
    try:
        yield
    finally:
        spool.CHUNK_ROWS = saved


def leftover_spools() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "netsim-trace-*")))


@given(
    lengths=st.lists(st.integers(0, 40), max_size=12),
    chunk=st.integers(1, 50),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_a_spool_returns_every_row_in_order_for_any_chunk_size(lengths, chunk, seed):
    rng = np.random.default_rng(seed)
    parts = [
        {
            "round": rng.integers(0, 100, k),
            "time": rng.normal(size=k),
            "kept": rng.random(k) < 0.5,
        }
        for k in lengths
    ]
    before = leftover_spools()
    columns = spool.ColumnSpool(DTYPES, chunk_rows=chunk)
    for part in parts:
        columns.extend(part)
    total = sum(lengths)
    assert len(columns) == total
    spilled = columns.directory is not None
    assert spilled == any(sum(lengths[: i + 1]) >= chunk for i in range(len(lengths)))
    out = columns.finish()
    for name, dtype in DTYPES.items():
        expected = (
            np.concatenate([p[name] for p in parts]).astype(dtype)
            if parts
            else np.zeros(0, dtype=dtype)
        )
        assert out[name].dtype == dtype
        assert np.array_equal(out[name], expected)
        assert isinstance(out[name], np.memmap) == spilled
    assert leftover_spools() <= before  # the files are unlinked once mapped


def test_a_spool_dropped_before_it_finished_leaves_no_files():
    before = leftover_spools()
    columns = spool.ColumnSpool(DTYPES, chunk_rows=2)
    columns.extend({"round": np.arange(3), "time": np.zeros(3), "kept": np.ones(3, bool)})
    assert columns.directory is not None and columns.directory.exists()
    directory = columns.directory
    del columns
    assert not directory.exists()
    assert leftover_spools() <= before


def test_a_chunk_size_below_one_is_refused():
    with pytest.raises(ValueError, match="chunk_rows"):
        spool.ColumnSpool(DTYPES, chunk_rows=0)


def in_memory_and_spilled(scenario: netsim.Scenario, run) -> tuple:
    with chunk_rows(1 << 30):
        kept = run(scenario)
    with chunk_rows(7):
        spilled = run(scenario)
    return kept, spilled


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_the_paper_run_spilled_to_disk_is_the_run_kept_in_memory(engine):
    scenario = netsim.load_scenario(PAPER).with_overrides(
        {"engine": engine, "trace": True, "protocol.rounds": 40}
    )
    kept, spilled = in_memory_and_spilled(scenario, netsim.run)
    for name in kept.variants:
        assert isinstance(spilled.variants[name].messages["round"], np.memmap)
        assert_same_outputs(kept.variants[name], spilled.variants[name])


@pytest.mark.filterwarnings("ignore:Theorem 2 does not cover")
@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_a_cgc_run_spilled_to_disk_is_the_run_kept_in_memory(engine):
    scenario = cgc(protocol__rounds=30).with_overrides({"engine": engine, "trace": True})
    kept, spilled = in_memory_and_spilled(scenario, simulate)
    assert_same_outputs(kept, spilled)


def _peer_runs(scenario: netsim.Scenario) -> list:
    fast = scenario.with_overrides({"engine": "fast"})
    return [
        simulate(scenario),
        simulate(fast),
        run_peer(fast, None, None, layered=False),  # the event-by-event fast engine
    ]


@given(scenarios("ce"))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_ce_traces_spilled_by_either_engine_equal_the_reference_in_memory(scenario):
    try:
        with chunk_rows(1 << 30):
            reference = simulate(scenario)
    except (SimulationStalled, ScenarioError):
        return
    with chunk_rows(5):
        spilled = _peer_runs(scenario)
    for run in spilled:
        assert_same_run(reference, run)


@pytest.mark.parametrize("trace_format", ["csv", "parquet"])
def test_a_spilled_trace_writes_the_same_messages_file(tmp_path, monkeypatch, trace_format):
    """messages.csv / .parquet are written a chunk at a time; a chunk boundary falls inside a
    variant and between variants, and the file is the one written from memory."""
    scenario = netsim.load_scenario(PAPER).with_overrides(
        {"trace": True, "protocol.rounds": 12, "trace_format": trace_format}
    )
    kept, spilled = in_memory_and_spilled(scenario, netsim.run)
    kept.write(tmp_path / "kept")
    monkeypatch.setattr(netsim.results, "WRITE_CHUNK_ROWS", 97)
    spilled.write(tmp_path / "spilled")
    name = f"messages.{trace_format}"
    assert (tmp_path / "kept" / name).read_bytes() != b""
    if trace_format == "csv":
        assert (tmp_path / "kept" / name).read_bytes() == (tmp_path / "spilled" / name).read_bytes()
        rows = (tmp_path / "kept" / name).read_text().splitlines()
        assert len(rows) == 1 + sum(len(v.messages["round"]) for v in kept.variants.values())
    else:
        import pyarrow.parquet as pq

        assert pq.read_table(tmp_path / "kept" / name).equals(
            pq.read_table(tmp_path / "spilled" / name)
        )


def test_released_pages_stay_readable():
    """release_pages drops a spilled column's pages from memory, never its rows: every value
    reads back the same after any prefix is released."""
    rows = 100_000
    store = spool.ColumnSpool(DTYPES, chunk_rows=4096)
    expected = {
        "round": np.arange(rows, dtype=np.int64),
        "time": np.arange(rows) * 0.5,
        "kept": np.arange(rows) % 3 == 0,
    }
    store.extend(expected)
    columns = store.finish()
    assert isinstance(columns["round"], np.memmap)  # spilled: the case that matters
    for stop in (1, 4096, 50_001, rows):
        for name, column in columns.items():
            spool.release_pages(column, stop)
            assert np.array_equal(column, expected[name]), (name, stop)
    spool.release_pages(expected["round"], rows)  # an in-memory column: nothing to do
