"""Run records: metrics and message columns, the trace hash, and the files of a results dir.

Files (spec/interface.md): ``summary.json``, ``metrics.csv``, ``manifest.json``,
``fingerprint.json`` (per-round digests: :mod:`netsim.fingerprint`); when the trace
is on, ``messages.csv`` (or ``messages.parquet`` with ``trace_format = "parquet"``); for the CGC
server, ``staleness.csv``. Plots are drawn from these files only (:mod:`netsim.plots`).

**Trace hash** (spec/engine.md): SHA-256 over

1. every message, sorted by (round, receiver, sender, send order), packed little-endian and
   unaligned as ``int64 round, int64 sender, int64 receiver, float64 send_time,
   float64 arrival_time, int8 delivered, int8 decision`` (decision codes of
   :class:`netsim.engine.Decision`);
2. then every round's estimates, rounds 0..R, honest agents in id order, as little-endian float64.

The hash of a run with several variants is SHA-256 over ``name + "\\0" + variant_hash + "\\n"``
for each variant in file order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .engine.spool import release_pages
from .engine.trace import MESSAGE_DTYPES, Decision
from .outdir import atomic_file, check_output_dir, clear_previous_run

MESSAGE_RECORD = np.dtype(
    [
        ("round", "<i8"),
        ("sender", "<i8"),
        ("receiver", "<i8"),
        ("send_time", "<f8"),
        ("arrival_time", "<f8"),
        ("delivered", "i1"),
        ("decision", "i1"),
    ]
)
MESSAGE_COLUMNS = tuple(MESSAGE_DTYPES)  # messages.csv after its variant column
STALENESS_COLUMNS = ("variant", "round", "agent", "staleness")
DECISION_NAMES = {int(d): d.name.lower() for d in Decision}
WRITE_CHUNK_ROWS = 1 << 18  # messages formatted and written at a time


def trace_hash(messages: dict[str, np.ndarray], estimates: np.ndarray) -> str:
    """SHA-256 of the messages in canonical order and of the estimates (module docstring)."""
    digest = hashlib.sha256(canonical_records(messages).tobytes())
    digest.update(np.ascontiguousarray(estimates, dtype="<f8").tobytes())
    return digest.hexdigest()


def canonical_records(messages: dict[str, np.ndarray]) -> np.ndarray:
    """The messages as packed :data:`MESSAGE_RECORD` rows in the trace hash's canonical order
    (round, receiver, sender, send order)."""
    order = np.lexsort(
        (
            np.arange(len(messages["round"])),
            messages["sender"],
            messages["receiver"],
            messages["round"],
        )
    )
    records = np.empty(len(order), dtype=MESSAGE_RECORD)
    for name in MESSAGE_RECORD.names:
        records[name] = messages[name][order]
    return records


def combined_hash(variant_hashes: dict[str, str]) -> str:
    """One hash for a multi-variant run (module docstring)."""
    digest = hashlib.sha256()
    for name, value in variant_hashes.items():
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()


@dataclass
class VariantResult:
    """Everything one variant's run produced (arrays, no simulation objects)."""

    name: str
    summary: dict[str, Any]
    nodes: tuple[int | str, ...]  # the tracked nodes: honest agent ids, or ("server",)
    times: np.ndarray  # (R + 1, nodes): completion time of each round, simulated s
    estimates: np.ndarray  # (R + 1, nodes, d)
    distances: np.ndarray  # (R + 1, nodes): distance to the honest optimum
    messages: dict[str, np.ndarray]
    staleness: np.ndarray | None = None  # CGC: (R, n) t - s_i(t), -1 when never heard
    engine: str = "reference"  # the engine that ran it: reference | fast
    fingerprint: dict[str, Any] | None = None  # per-round digests (netsim.fingerprint)

    @property
    def honest(self) -> tuple[int | str, ...]:
        """Alias of ``nodes`` (the honest agents whose estimates are tracked)."""
        return self.nodes

    def metrics(self) -> dict[str, np.ndarray]:
        """Rows (round, agent) in round-major order: ``round, time, agent, distance``."""
        rounds, h = self.distances.shape
        return {
            "variant": np.full(rounds * h, self.name, dtype=object),
            "round": np.repeat(np.arange(rounds), h),
            "time": self.times.reshape(-1),
            "agent": np.tile(np.asarray(self.nodes, dtype=object), rounds),
            "distance": self.distances.reshape(-1),
        }


@dataclass
class RunResult:
    """The result of :func:`netsim.run`: summary, metrics and message columns, and a plot."""

    summary: dict[str, Any]
    manifest: dict[str, Any]
    variants: dict[str, VariantResult] = field(repr=False)
    out: Path | None = None
    trace_format: str = "csv"  # messages.csv, or messages.parquet
    replaced: list[str] = field(default_factory=list)  # files of an earlier run write() removed

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """The columns of metrics.csv, every variant."""
        return _concat([v.metrics() for v in self.variants.values()])

    @property
    def fingerprint(self) -> dict[str, Any]:
        """The run's fingerprint (fingerprint.json): the trace hash, and per variant its hash
        and per-round digests of every message field and of the estimates
        (:mod:`netsim.fingerprint`)."""
        return {
            "trace_hash": self.summary["trace_hash"],
            "variants": {
                name: {"trace_hash": v.summary["trace_hash"], **(v.fingerprint or {})}
                for name, v in self.variants.items()
            },
        }

    @property
    def traced(self) -> bool:
        """Whether every variant kept its message trace."""
        return all(v.messages for v in self.variants.values())

    @property
    def messages(self) -> dict[str, np.ndarray] | None:
        """The columns of messages.csv (with a ``variant`` column), or None if the trace is off.

        Every variant is concatenated in memory; for a trace too big for that, read
        ``variants[name].messages`` (memory-mapped once it was spilled to disk)."""
        if not self.traced:
            return None
        parts = []
        for v in self.variants.values():
            part = {"variant": np.full(len(v.messages["round"]), v.name, dtype=object)}
            part.update({name: v.messages[name] for name in MESSAGE_COLUMNS})
            parts.append(part)
        return _concat(parts)

    def plot(self, path: str | Path) -> Path:
        """Draw the scenario's default figure to ``path``."""
        from .plots import plot_distances, plot_server

        server = any(v["protocol"] == "cgc" for v in self.summary["variants"].values())
        draw = plot_server if server else plot_distances
        return draw(self.summary, self.metrics, Path(path))

    def write(self, out: str | Path) -> Path:
        """Write summary.json, metrics.csv, manifest.json, fingerprint.json, (trace on)
        messages.csv and (CGC) staleness.csv to ``out``.

        An earlier run in ``out`` is replaced: its files and its figures in ``out/plots`` are
        removed first and listed in :attr:`replaced`. Every file is written under a temporary
        name and renamed into place, summary.json last (:mod:`netsim.outdir`)."""
        out = check_output_dir("out", out)
        out.mkdir(parents=True, exist_ok=True)
        self.replaced = clear_previous_run(out)
        with atomic_file(out / "fingerprint.json") as handle:
            handle.write(json.dumps(self.fingerprint) + "\n")
        with atomic_file(out / "manifest.json") as handle:
            handle.write(json.dumps(self.manifest, indent=2) + "\n")
        _write_csv(
            out / "metrics.csv", self.metrics, ("variant", "round", "time", "agent", "distance")
        )
        if self.traced:
            self._write_messages(out)
        staleness = self.staleness
        if staleness is not None:
            _write_csv(out / "staleness.csv", staleness, STALENESS_COLUMNS)
        with atomic_file(out / "summary.json") as handle:
            handle.write(json.dumps(self.summary, indent=2) + "\n")
        self.out = out
        return out

    def _write_messages(self, out: Path) -> None:
        """messages.csv (or .parquet), a chunk of rows at a time: a long run's trace lives on
        disk (:mod:`netsim.engine.spool`) and is never loaded whole."""
        names = ("variant", *MESSAGE_COLUMNS)
        if self.trace_format == "parquet":
            import pyarrow.parquet as pq

            with atomic_file(out / "messages.parquet", "wb") as handle:
                with pq.ParquetWriter(handle, _arrow_schema()) as writer:
                    for chunk in self._message_chunks():
                        writer.write_table(_arrow_table(chunk, names))
            return
        with atomic_file(out / "messages.csv", newline="") as handle:
            csv.writer(handle).writerow(names)
            for chunk in self._message_chunks():
                _write_rows(handle, [chunk[name] for name in names])

    def _message_chunks(self, rows: int = WRITE_CHUNK_ROWS) -> Iterator[dict[str, np.ndarray]]:
        """The rows of messages.csv, ``rows`` at a time, decisions by name."""
        decision_names = np.array([DECISION_NAMES[code] for code in sorted(DECISION_NAMES)])
        for v in self.variants.values():
            total = len(v.messages["round"])
            for start in range(0, total, rows):
                part = {
                    name: np.array(v.messages[name][start : start + rows])
                    for name in MESSAGE_COLUMNS
                }
                for name in MESSAGE_COLUMNS:  # written once: drop the pages read so far
                    release_pages(v.messages[name], start + len(part["round"]))
                part["decision"] = decision_names[part["decision"]]
                part["variant"] = np.full(len(part["round"]), v.name)
                yield part

    @property
    def staleness(self) -> dict[str, np.ndarray] | None:
        """CGC: columns of staleness.csv, one row per (variant, round, agent): t - s_i(t) as
        the server saw it when it stepped (-1: it never heard from the agent)."""
        parts = []
        for v in self.variants.values():
            if v.staleness is None:
                continue
            rounds, n = v.staleness.shape
            parts.append(
                {
                    "variant": np.full(rounds * n, v.name, dtype=object),
                    "round": np.repeat(np.arange(rounds), n),
                    "agent": np.tile(np.arange(n), rounds),
                    "staleness": v.staleness.reshape(-1),
                }
            )
        return _concat(parts) if parts else None


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """Read metrics.csv back into columns."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "variant": np.array([row["variant"] for row in rows], dtype=object),
        "round": np.array([int(row["round"]) for row in rows]),
        "time": np.array([float(row["time"]) for row in rows]),
        "agent": np.array([row["agent"] for row in rows], dtype=object),
        "distance": np.array([float(row["distance"]) for row in rows]),
    }


def read_staleness(path: str | Path) -> dict[str, np.ndarray] | None:
    """Read staleness.csv back into columns (None if the run has none)."""
    if not Path(path).exists():
        return None
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "variant": np.array([row["variant"] for row in rows], dtype=object),
        "round": np.array([int(row["round"]) for row in rows]),
        "agent": np.array([int(row["agent"]) for row in rows]),
        "staleness": np.array([int(row["staleness"]) for row in rows]),
    }


def _arrow_schema() -> Any:
    """messages.parquet's columns: the trace's dtypes, with the variant and decision as text."""
    import pyarrow as pa

    types = {name: pa.from_numpy_dtype(np.dtype(dtype)) for name, dtype in MESSAGE_DTYPES.items()}
    types["decision"] = pa.string()
    return pa.schema([("variant", pa.string()), *types.items()])


def _arrow_table(columns: dict[str, np.ndarray], names: tuple[str, ...]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            name: (columns[name].astype(str) if columns[name].dtype.kind in "OU" else columns[name])
            for name in names
        },
        schema=_arrow_schema(),
    )


def _write_csv(path: Path, columns: dict[str, np.ndarray], names: tuple[str, ...]) -> None:
    with atomic_file(path, newline="") as handle:
        csv.writer(handle).writerow(names)
        _write_rows(handle, [columns[name] for name in names])


def _write_rows(handle: Any, columns: list[np.ndarray]) -> None:
    """The rows of ``columns`` as CSV lines, the bytes :class:`csv.writer` would write (its
    default dialect: "\r\n" line ends, a field quoted only when it holds a comma, a quote or a
    line break), joined in one string: about twice as fast as ``writerows`` on numbers."""
    if len(columns[0]):
        handle.write("\r\n".join(map(",".join, zip(*map(_format, columns)))) + "\r\n")


BOOL_TEXT = np.array(["false", "true"], dtype=object)


def _format(column: np.ndarray) -> list[str]:
    """A column as CSV fields: floats by their shortest repr (round-trips exactly), booleans
    as true/false, integers in decimal, text quoted where the CSV dialect needs it."""
    kind = column.dtype.kind
    if kind == "f":
        return list(map(repr, column.tolist()))
    if kind == "b":
        return BOOL_TEXT[column.astype(np.uint8)].tolist()
    if kind in "iu":
        return list(map(str, column.tolist()))
    if kind == "U":  # few distinct names (a variant, the decisions): each quoted once
        names, index = np.unique(column, return_inverse=True)
        return np.array([_field(str(name)) for name in names], dtype=object)[index].tolist()
    fields: dict[Any, str] = {}
    return [fields[v] if v in fields else fields.setdefault(v, _field(v)) for v in column.tolist()]


def _field(value: Any) -> str:
    """One value as :class:`csv.writer` writes it in a row (None as an empty field)."""
    line = io.StringIO()
    csv.writer(line).writerow(["", value])
    return line.getvalue()[1:-2]


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
