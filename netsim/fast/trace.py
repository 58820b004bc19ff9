"""The message trace, written a round at a time: the trace hash streams, the columns are optional.

The trace hash (:func:`netsim.results.trace_hash`, spec/engine.md) hashes the messages sorted by
(round, receiver, sender, send order) and then the estimates. The fast engine hands this sink
the messages of one round at a time, in increasing round order and with their final decisions,
already sorted by (receiver, sender); SHA-256 is fed incrementally, so the hash equals the
reference's without holding every message (n = 1000 and 100 rounds are 10^8 messages).

The columns (``scenario.trace``) are kept only when asked for, in send order, the order in
which the reference records messages (``MessageTrace``), and they stream to disk in chunks
(:class:`netsim.engine.spool.ColumnSpool`). Send order interleaves rounds (a fast agent's
round r + 1 may start before a slow agent's round r), so a round's messages cannot be written
as they come: the engine passes a *watermark* with each round, a lower bound on the send key
of every message it has not handed over yet (e.g. the earliest round start still to come),
and the messages whose key is below it are sorted and released to the spool. Only messages
within one watermark of the present are held in memory.
"""

from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Future

import numpy as np

from ..config import AsynchronyConfig, NetworkConfig
from ..engine.spool import ColumnSpool
from ..engine.trace import MESSAGE_DTYPES, late_honest
from ..fingerprint import RoundDigests
from ..results import MESSAGE_COLUMNS as COLUMNS
from ..results import MESSAGE_RECORD
from .background import worker


def byzantine_mask(network: NetworkConfig) -> np.ndarray:
    """(n,) bool: which agents are Byzantine."""
    mask = np.zeros(network.n, dtype=bool)
    mask[list(network.byzantine)] = True
    return mask


OFFLOAD_ROWS = 1 << 16  # a call with this many messages is hashed on the background worker
MAX_PENDING = 2  # calls handed to the worker and not yet hashed (bounds the memory held)


class TraceSink:
    """Counts, hashes and (optionally) keeps the messages of a run, a round at a time."""

    def __init__(self, keep: bool, asynchrony: AsynchronyConfig | None, byzantine: np.ndarray):
        self.keep = keep
        self.asynchrony = asynchrony
        self.byzantine = byzantine  # (n,) bool by agent id
        self.gst = 0.0 if asynchrony is None else asynchrony.gst
        self.late = {"late_honest": 0, "late_honest_after_gst": 0}  # engine.trace.late_honest
        self._digest = hashlib.sha256()
        self._round_digests = RoundDigests()  # the per-round fingerprint, fed as the hash is
        self._pending: deque[Future[None]] = deque()  # calls on the worker, in order
        self._parts: list[dict[str, np.ndarray]] = []  # pending: not yet below the watermark
        self._order: list[np.ndarray] = []
        self._spool = ColumnSpool(MESSAGE_DTYPES) if keep else None
        self.sent = 0
        self.delivered = 0
        self.bound = {"violations": 0, "lost_after_gst": 0, "max_delay": -np.inf, "count": 0}

    def add(
        self,
        columns: dict[str, np.ndarray],
        send_order: np.ndarray | None = None,
        watermark: float | None = None,
    ) -> None:
        """One round's messages, sorted by (receiver, sender). ``send_order`` sorts them in the
        order the reference records them; by default (CE) that is the order of the senders'
        round starts, (send time, Byzantine?, sender, round), then the receiver.

        ``watermark``: no message handed over later has a smaller primary send key (the send
        time, or ``send_order`` when given); the kept messages below it go to the spool.
        """
        if len(columns["round"]) >= OFFLOAD_ROWS:  # hashed while the engine goes on
            while len(self._pending) >= MAX_PENDING:
                self._pending.popleft().result()
            self._pending.append(worker().submit(self._hash, columns))
        else:
            self._drain()
            self._hash(columns)
        delivered = columns["delivered"]
        self.sent += len(delivered)
        self.delivered += int(delivered.sum())
        for name, count in late_honest(columns, self.byzantine, self.gst).items():
            self.late[name] += count
        if self.asynchrony is not None:
            self._check_bound(columns)
        if self.keep:
            self._parts.append(columns)
            if send_order is not None:
                self._order.append(send_order)
            if watermark is not None:
                self._release(watermark)

    def _hash(self, columns: dict[str, np.ndarray]) -> None:
        """Feed one call's messages to the trace hash and the per-round digests."""
        records = np.empty(len(columns["round"]), dtype=MESSAGE_RECORD)
        for name in MESSAGE_RECORD.names:
            records[name] = columns[name]
        self._digest.update(records.view(np.uint8))  # the bytes, not a copy of them
        self._round_digests.add(columns)

    def _drain(self) -> None:
        """Wait until every call handed to the worker is hashed (its errors raise here)."""
        while self._pending:
            self._pending.popleft().result()

    @property
    def rounds(self) -> RoundDigests:
        """The per-round fingerprint of every message handed over so far."""
        self._drain()
        return self._round_digests

    def _release(self, watermark: float) -> None:
        """Sort the pending messages into send order and spool those keyed below ``watermark``."""
        assert self._spool is not None
        if not self._parts:
            return
        parts = self._parts
        joined = {
            name: (np.concatenate([p[name] for p in parts]) if len(parts) > 1 else parts[0][name])
            for name in COLUMNS
        }
        if self._order:
            primary = np.concatenate(self._order)
            order = np.lexsort((joined["receiver"], primary))
        else:
            primary = joined["send_time"]
            keys = ("receiver", "round", "sender", "byzantine", "send_time")
            order = np.lexsort(tuple(joined[key] for key in keys))
        below = int(np.searchsorted(primary[order], watermark, side="left"))
        self._spool.extend({name: joined[name][order[:below]] for name in COLUMNS})
        rest = order[below:]
        self._parts = [{name: joined[name][rest] for name in COLUMNS}] if rest.size else []
        self._order = [primary[rest]] if self._order and rest.size else []

    def _check_bound(self, columns: dict[str, np.ndarray]) -> None:
        """The counts of ``netsim.simulation._bound_check``, accumulated round by round."""
        assert self.asynchrony is not None
        after = ~columns["byzantine"] & (columns["send_time"] >= self.asynchrony.gst)
        delivered = after & columns["delivered"]
        arrival, send = columns["arrival_time"][delivered], columns["send_time"][delivered]
        self.bound["violations"] += int(np.sum(arrival > send + self.asynchrony.delta))
        self.bound["lost_after_gst"] += int(np.sum(after & ~columns["delivered"]))
        if arrival.size:
            self.bound["max_delay"] = max(self.bound["max_delay"], float((arrival - send).max()))
            self.bound["count"] += int(arrival.size)

    def bound_summary(self, capped: int) -> dict[str, float | int]:
        """What ``netsim.simulation._bound_check`` reports, from the accumulated counts."""
        assert self.asynchrony is not None
        return {
            "gst": self.asynchrony.gst,
            "delta": self.asynchrony.delta,
            "honest_bound_violations": self.bound["violations"],
            "honest_lost_after_gst": self.bound["lost_after_gst"],
            "max_honest_delay_after_gst": (
                float(self.bound["max_delay"]) if self.bound["count"] else 0.0
            ),
            "honest_delays_capped": capped,
        }

    def digest(self, estimates: np.ndarray) -> str:
        """The trace hash: the messages fed so far, then the estimates (little-endian f8)."""
        self._drain()
        digest = self._digest.copy()
        digest.update(np.ascontiguousarray(estimates, dtype="<f8").tobytes())
        return digest.hexdigest()

    def columns(self) -> dict[str, np.ndarray]:
        """Every kept message, in send order (empty when the trace is off); memmaps once the
        trace outgrew memory."""
        if not self.keep:
            return {}
        assert self._spool is not None
        self._release(np.inf)
        return self._spool.finish()
