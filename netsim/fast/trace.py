"""The message trace, written a round at a time: the trace hash streams, the columns are optional.

The trace hash (:func:`netsim.results.trace_hash`, spec/engine.md) hashes the messages sorted by
(round, receiver, sender, send order) and then the estimates. The fast engine hands this sink
the messages of one round at a time, in increasing round order and with their final decisions,
already sorted by (receiver, sender); SHA-256 is fed incrementally, so the hash equals the
reference's without holding every message (n = 1000 and 100 rounds are 10^8 messages). Small
rounds are gathered into batches of about :data:`BATCH_ROWS` messages and counted and hashed
together: one call's fixed cost (packing the records, six CRC calls, the counts) is then paid
per batch rather than per round, which is most of the hashing time of a CGC round of a few
dozen messages. A round of :data:`OFFLOAD_ROWS` messages or more is hashed on the background
worker while the engine goes on.

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


BATCH_ROWS = 1 << 14  # messages gathered from small calls before they are counted and hashed
OFFLOAD_ROWS = 1 << 16  # a batch this big (one big call) is hashed on the background worker
MAX_PENDING = 2  # batches handed to the worker and not yet hashed (bounds the memory held)


class TraceSink:
    """Counts, hashes and (optionally) keeps the messages of a run, a round at a time."""

    def __init__(self, keep: bool, asynchrony: AsynchronyConfig | None, byzantine: np.ndarray):
        self.keep = keep
        self.asynchrony = asynchrony
        self.byzantine = byzantine  # (n,) bool by agent id
        self.gst = 0.0 if asynchrony is None else asynchrony.gst
        self._late = {"late_honest": 0, "late_honest_after_gst": 0}  # engine.trace.late_honest
        self._digest = hashlib.sha256()
        self._round_digests = RoundDigests()  # the per-round fingerprint, fed as the hash is
        self._pending: deque[Future[None]] = deque()  # batches on the worker, in order
        self._batch: list[dict[str, np.ndarray]] = []  # calls not yet counted or hashed
        self._batch_rows = 0
        self._parts: list[dict[str, np.ndarray]] = []  # pending: not yet below the watermark
        self._order: list[np.ndarray] = []
        self._spool = ColumnSpool(MESSAGE_DTYPES) if keep else None
        self._sent = 0
        self._delivered = 0
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

        The columns are gathered until :data:`BATCH_ROWS` messages have come, then counted and
        hashed in one call (SHA-256 and the CRCs stream, so a batch of many rounds gives the
        bits of one call a round), on the background worker if the batch has
        :data:`OFFLOAD_ROWS` messages. The sink keeps the columns until then: the caller must
        not change them.
        """
        self._batch.append(columns)
        self._batch_rows += len(columns["round"])
        if self._batch_rows >= BATCH_ROWS:
            self._settle(background=self._batch_rows >= OFFLOAD_ROWS)
        if self.keep:
            self._parts.append(columns)
            if send_order is not None:
                self._order.append(send_order)
            if watermark is not None:
                self._release(watermark)

    def _settle(self, background: bool = False) -> None:
        """Count the gathered messages and hash them: on the worker when ``background`` (at
        most :data:`MAX_PENDING` batches wait there), else here, after the worker's."""
        if not self._batch:
            return
        parts, self._batch, self._batch_rows = self._batch, [], 0
        columns = parts[0]
        if len(parts) > 1:
            columns = {name: np.concatenate([p[name] for p in parts]) for name in columns}
        delivered = columns["delivered"]
        self._sent += len(delivered)
        self._delivered += int(np.count_nonzero(delivered))
        for name, count in late_honest(columns, self.byzantine, self.gst).items():
            self._late[name] += count
        if self.asynchrony is not None:
            self._check_bound(columns)
        if background:
            while len(self._pending) >= MAX_PENDING:
                self._pending.popleft().result()
            self._pending.append(worker().submit(self._hash, columns))
        else:
            self._drain()
            self._hash(columns)

    @property
    def sent(self) -> int:
        """Messages handed over so far."""
        self._settle()
        return self._sent

    @property
    def delivered(self) -> int:
        """Messages handed over so far that were delivered."""
        self._settle()
        return self._delivered

    @property
    def late(self) -> dict[str, int]:
        """The counters of :func:`netsim.engine.trace.late_honest` over the messages so far."""
        self._settle()
        return dict(self._late)

    def _hash(self, columns: dict[str, np.ndarray]) -> None:
        """Feed messages (in canonical order) to the trace hash and the per-round digests."""
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
        self._settle()
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
        self._settle()
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
        self._settle()
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
