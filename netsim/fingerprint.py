"""Per-round fingerprints of a run: where two runs of one scenario first differ.

The trace hash (:func:`netsim.results.trace_hash`) says *whether* two runs agree bit for bit;
the fingerprint says *where* they part. It holds, for every round r, a CRC-32 of each message
field over that round's messages in the trace hash's canonical order (round, receiver, sender,
send order) -- ``sender``, ``receiver``, ``send_time``, ``arrival_time``, ``delivered``,
``decision``, packed as in the trace hash -- and one of the round's estimates. CRC-32 is a
checksum, not a cryptographic hash: it runs at memory speed, so every run keeps a fingerprint,
and two different rounds share one with probability 2^-32; the verdict is the SHA-256 trace
hash's. It is written beside ``summary.json`` as ``fingerprint.json``; ``netsim run --verify``
compares a new run with a hash or with another machine's ``fingerprint.json`` and names the
first round and field that differ (:func:`first_difference`).
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

MESSAGE_FIELDS = ("sender", "receiver", "send_time", "arrival_time", "delivered", "decision")
FIELD_DTYPES = {
    "sender": "<i8",
    "receiver": "<i8",
    "send_time": "<f8",
    "arrival_time": "<f8",
    "delivered": "i1",
    "decision": "i1",
}  # as packed by the trace hash (netsim.results.MESSAGE_RECORD)


def _crc(data: bytes | memoryview | np.ndarray, running: int = 0) -> int:
    """CRC-32 of ``data``'s bytes (a contiguous array is read in place)."""
    return zlib.crc32(data, running)


def _hex(value: int) -> str:
    return f"{value:08x}"


class RoundDigests:
    """Digests of message fields a round at a time. :meth:`add` takes message columns
    (``round`` and :data:`MESSAGE_FIELDS`) in canonical order, rounds non-decreasing across
    calls (one call may hold several rounds, a round may span several calls)."""

    def __init__(self) -> None:
        self._digests: dict[str, list[int]] = {name: [] for name in MESSAGE_FIELDS}
        self._round = -1
        self._running: list[int] = []  # the open round's CRC of each field

    @property
    def messages(self) -> dict[str, list[str]]:
        """The digests of the rounds closed so far, by field, as 8-digit hex strings."""
        return {name: [_hex(value) for value in self._digests[name]] for name in MESSAGE_FIELDS}

    def _close(self) -> None:
        if self._round >= 0:
            for name, value in zip(MESSAGE_FIELDS, self._running):
                self._digests[name].append(value)

    def _open(self, round: int) -> None:
        while self._round + 1 < round:  # rounds without any message
            self._round += 1
            for name in MESSAGE_FIELDS:
                self._digests[name].append(0)
        self._round = round
        self._running = [0] * len(MESSAGE_FIELDS)

    def add(self, columns: Mapping[str, np.ndarray]) -> None:
        rounds = np.asarray(columns["round"])
        if len(rounds) == 0:
            return
        first, last = int(rounds[0]), int(rounds[-1])
        if first < self._round:
            raise ValueError("RoundDigests.add: rounds must not decrease")
        if first == last:  # one round (the fast engine hands over a round at a time)
            pieces = [(first, slice(None))]
        else:
            starts = [0, *(np.flatnonzero(np.diff(rounds)) + 1).tolist(), len(rounds)]
            pieces = [(int(rounds[a]), slice(a, b)) for a, b in itertools.pairwise(starts)]
        values = [_packed(columns[name], dtype) for name, dtype in _PACKED]
        for r, rows in pieces:
            if r != self._round:
                self._close()
                self._open(r)
            running = self._running
            for k, field in enumerate(values):
                running[k] = _crc(field[rows], running[k])  # contiguous: its bytes, no copy

    def finish(self, estimates: np.ndarray) -> dict[str, Any]:
        """The fingerprint of one variant: message digests per round, estimate digests per
        round (rows of ``estimates``, (R + 1, nodes, d), little-endian float64)."""
        self._close()
        self._round, self._running = -1, []
        values = np.ascontiguousarray(estimates, dtype="<f8")
        return {
            "messages": self.messages,
            "estimates": [_hex(_crc(values[r].tobytes())) for r in range(len(values))],
        }


_PACKED = tuple((name, np.dtype(FIELD_DTYPES[name])) for name in MESSAGE_FIELDS)
_INT8 = np.dtype("i1")


def _packed(column: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``column`` as contiguous ``dtype`` (a bool column is read as its 0/1 bytes, no copy)."""
    column = np.asarray(column)
    if column.dtype == np.bool_ and dtype == _INT8:
        column = column.view(np.int8)
    return np.ascontiguousarray(column, dtype=dtype)


def first_difference(ours: dict[str, Any], theirs: dict[str, Any]) -> str | None:
    """Where two fingerprint documents (``fingerprint.json``: ``{"trace_hash", "variants":
    {name: {"trace_hash", "messages", "estimates"}}}``) first differ, in words; None when their
    trace hashes agree."""
    if ours.get("trace_hash") == theirs.get("trace_hash"):
        return None
    mine, other = ours.get("variants", {}), theirs.get("variants", {})
    if list(mine) != list(other):
        return f"different variants: {list(mine)} here, {list(other)} there"
    for name in mine:
        if mine[name].get("trace_hash") == other[name].get("trace_hash"):
            continue
        where = _first_round(mine[name], other[name])
        return f"variant {name!r}: {where}"
    return "the trace hashes differ but every variant's fingerprint agrees"


def _first_round(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    rounds = max(
        len(ours["estimates"]),
        len(theirs["estimates"]),
        *(len(v) for v in ours["messages"].values()),
        *(len(v) for v in theirs["messages"].values()),
    )
    for r in range(rounds):
        fields = [
            name
            for name in MESSAGE_FIELDS
            if _at(ours["messages"][name], r) != _at(theirs["messages"][name], r)
        ]
        if _at(ours["estimates"], r) != _at(theirs["estimates"], r):
            fields.append("estimates")
        if fields:
            return f"first differs in round {r}, field{'s' if len(fields) > 1 else ''} " + (
                ", ".join(fields)
            )
    return "the fingerprints agree round by round (different netsim versions?)"


def _at(digests: list[str], r: int) -> str | None:
    return digests[r] if r < len(digests) else None
