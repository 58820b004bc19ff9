"""Typed columns that stream to disk in chunks: the message trace of a long run.

A run with n agents sends n (n - 1) CE messages a round: n = 1000 and 100 rounds are 10^8
messages, 43 bytes each (8 columns), 4.3 GB. The trace must not live in memory. A
:class:`ColumnSpool` keeps up to ``chunk_rows`` rows in memory; past that, every column is
appended to its own raw file (native byte order, ``ndarray.tofile``) in a fresh temporary
directory (``tempfile``: set ``TMPDIR`` to put it elsewhere), and :meth:`ColumnSpool.finish`
returns read-only ``numpy.memmap`` columns over those files: the pages are read on demand and
the memory stays O(chunk_rows) however long the run. A run whose trace never reaches
``chunk_rows`` rows never touches the disk and gets ordinary arrays.

The files are unlinked as soon as they are mapped (POSIX keeps a mapped file's data until the
last mapping goes), so nothing is left behind when the result is dropped; a spool dropped
before :meth:`ColumnSpool.finish` (a run abandoned half-way) removes its directory when it is
collected, or at exit.
"""

from __future__ import annotations

import atexit
import mmap
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path

import numpy as np

CHUNK_ROWS = 1 << 20  # rows held in memory before a chunk goes to disk (~45 MB of messages)


class ColumnSpool:
    """Append-only typed columns, spilled to disk in chunks of ``chunk_rows`` rows."""

    def __init__(self, dtypes: Mapping[str, np.dtype | type], chunk_rows: int | None = None):
        self.dtypes = {name: np.dtype(dtype) for name, dtype in dtypes.items()}
        self.chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
        if self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1 (got {self.chunk_rows})")
        self._parts: list[dict[str, np.ndarray]] = []
        self._buffered = 0
        self.rows = 0  # every row appended so far, in memory or on disk
        self.directory: Path | None = None  # set at the first spill
        self.spilled = 0  # rows on disk

    def __len__(self) -> int:
        return self.rows

    def extend(self, columns: Mapping[str, np.ndarray]) -> None:
        """Append rows (one array per column, equal lengths)."""
        length = len(next(iter(columns.values()))) if columns else 0
        if length == 0:
            return
        self._parts.append(
            {name: np.asarray(columns[name], dtype=dtype) for name, dtype in self.dtypes.items()}
        )
        self._buffered += length
        self.rows += length
        if self._buffered >= self.chunk_rows:
            self._spill()

    def _spill(self) -> None:
        """Append the buffered rows to the column files."""
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="netsim-trace-"))
            weakref.finalize(self, _remove, self.directory)
        for name in self.dtypes:
            path = self.directory / f"{name}.bin"
            try:
                with open(path, "ab") as handle:
                    for part in self._parts:
                        np.ascontiguousarray(part[name]).tofile(handle)
            except OSError as err:  # numpy says "N requested and 0 written": say where, and why
                raise OSError(
                    err.errno,
                    f"{err.strerror or err} while spilling the message trace (set TMPDIR to "
                    "a disk with room, or trace = false)",
                    str(path),
                ) from None
        self.spilled += self._buffered
        self._parts, self._buffered = [], 0

    def finish(self) -> dict[str, np.ndarray]:
        """Every row, column by column: arrays if nothing was spilled, else read-only memmaps."""
        if self.directory is None:
            return {
                name: (
                    np.concatenate([part[name] for part in self._parts])
                    if self._parts
                    else np.zeros(0, dtype=dtype)
                )
                for name, dtype in self.dtypes.items()
            }
        if self._buffered:
            self._spill()
        columns = {
            name: np.memmap(
                self.directory / f"{name}.bin", dtype=dtype, mode="r", shape=(self.spilled,)
            )
            for name, dtype in self.dtypes.items()
        }
        _remove(self.directory)
        return columns


def _remove(directory: Path) -> None:
    """Unlink the spilled files now (POSIX), or at exit where a mapped file cannot be removed."""
    shutil.rmtree(directory, ignore_errors=True)
    if directory.exists():
        atexit.register(shutil.rmtree, directory, True)


def release_pages(column: np.ndarray, stop: int) -> None:
    """Tell the kernel that rows ``[0, stop)`` of a spilled (memory-mapped) column will not be
    read again soon, so their pages leave this process's resident memory: writing a long trace
    a chunk at a time then keeps the resident size of one chunk, not of the whole file. A
    no-op for an in-memory column or where ``madvise`` is unavailable; the rows stay readable
    (a later read maps them again from the file)."""
    handle = getattr(column, "_mmap", None)
    if handle is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    start = column.offset if isinstance(column, np.memmap) else 0
    length = (start + stop * column.itemsize) // mmap.PAGESIZE * mmap.PAGESIZE
    if length > 0:
        handle.madvise(mmap.MADV_DONTNEED, 0, length)
