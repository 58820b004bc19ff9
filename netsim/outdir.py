"""Output directories: checked before a run, cleared of an earlier run, written atomically.

A results directory holds one run. Before anything runs, :func:`check_output_dir` refuses a
path that is a file or cannot be created or written, naming the option (``--out``, ``--plots``).
:func:`clear_previous_run` removes the files an earlier run left there (a CGC run's
``staleness.csv`` must not stay beside a later CE run's files), and :func:`atomic_file` writes
each file under a temporary name and renames it into place, so a crash or a full disk never
leaves a truncated file under a final name. ``summary.json`` is written last: a directory with a
``summary.json`` holds a complete run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import ScenarioError

RUN_FILES = (
    "summary.json",
    "fingerprint.json",
    "manifest.json",
    "metrics.csv",
    "messages.csv",
    "messages.parquet",
    "staleness.csv",
)
"""Every file a run may write into its results directory (``summary.json`` first: it is the
marker of a run, and the first to go when the run is replaced)."""


def check_output_dir(key: str, path: str | Path) -> Path:
    """``path`` as a directory a run can write into (created later, if missing).

    Raises :class:`ScenarioError` naming ``key`` when ``path`` or one of its parents is a file,
    or when the nearest existing parent is not writable."""
    path = Path(path)
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is" if existing == path else f"is inside {existing}, which is"
        raise ScenarioError(
            key, f"{where} an existing file, not a directory", str(path), "a directory path"
        )
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise ScenarioError(
            key,
            f"cannot be written: {os.path.abspath(existing)} is not writable",
            str(path),
            "a directory you can write to",
        )
    return path


def clear_previous_run(out: Path) -> list[str]:
    """Remove what an earlier run left in ``out``: its :data:`RUN_FILES` and its figures
    (``out/plots/*.png``, where ``netsim run`` draws them by default). Returns the removed
    names, relative to ``out``.

    Only a directory that holds a run (a ``summary.json`` or ``manifest.json``) is cleared;
    files netsim does not write are never touched."""
    if not (out / "summary.json").is_file() and not (out / "manifest.json").is_file():
        return []
    removed = []
    for name in RUN_FILES:
        path = out / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    for png in sorted((out / "plots").glob("*.png")):
        png.unlink()
        removed.append(f"plots/{png.name}")
    return removed


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w", **kwargs: object) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it to ``path`` (atomic on POSIX),
    on failure remove it, so ``path`` is either complete or absent."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        with open(temporary, mode, **kwargs) as handle:  # type: ignore[call-overload]
            yield handle
        os.replace(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        if err.filename is None:  # a write error (a full disk) does not say which file
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
