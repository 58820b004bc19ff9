"""The message trace: one record per message, stored column by column in typed buffers (C
arrays of int64/float64/int8, never one Python object per message).

Columns: round, sender, receiver, send_time, arrival_time (simulated s; NaN when lost),
delivered, byzantine, decision (what the receiver did with it, :class:`Decision`).

Every ``chunk_rows`` messages the buffers go to a :class:`netsim.engine.spool.ColumnSpool`,
which streams them to disk once they outgrow memory. The decision column stays in memory
(one byte a message) because a receiver decides on a message after it was sent, sometimes
much later.
"""

from __future__ import annotations

from array import array
from enum import IntEnum

import numpy as np

from .spool import ColumnSpool


class Decision(IntEnum):
    """What the receiver did with a message (``messages.csv`` writes the lower-case name)."""

    KEPT = 0  # entered the receiver's aggregate
    ELIMINATED = 1  # dropped by the filter, or non-finite, or a request dropped by a busy agent
    CLIPPED = 2  # entered after scaling (CGC)
    LATE = 3  # arrived after the receiver had completed that round (or was never used)
    LOST = 4  # never delivered (link loss)


UNDECIDED = -1
LATE = int(Decision.LATE)  # an int: an IntEnum member lookup costs a few µs, every round

MESSAGE_DTYPES = {  # the trace's columns, in messages.csv order
    "round": np.int64,
    "sender": np.int64,
    "receiver": np.int64,
    "send_time": np.float64,
    "arrival_time": np.float64,
    "delivered": np.bool_,
    "byzantine": np.bool_,
    "decision": np.int8,
}
SPOOLED = {name: dtype for name, dtype in MESSAGE_DTYPES.items() if name != "decision"}


def late_honest(
    columns: dict[str, np.ndarray], byzantine: np.ndarray, gst: float
) -> dict[str, int]:
    """The honest messages to honest receivers (or the CGC server) that arrived after the
    receiver had completed their round (decision ``late``): all of them, and those sent at or
    after ``gst``, as the run counters ``late_honest`` and ``late_honest_after_gst``.
    ``byzantine``: (n,) bool by agent id."""
    receiver = columns["receiver"]
    to_byzantine = np.zeros(len(receiver), dtype=bool)
    agents = receiver >= 0
    to_byzantine[agents] = byzantine[receiver[agents]]
    late = (columns["decision"] == LATE) & ~columns["byzantine"] & ~to_byzantine
    return {
        "late_honest": int(np.count_nonzero(late)),
        "late_honest_after_gst": int(np.count_nonzero(late & (columns["send_time"] >= gst))),
    }


class MessageTrace:
    """Append-only columns of every message sent in one run."""

    def __init__(self, chunk_rows: int | None = None) -> None:
        self.spool = ColumnSpool(SPOOLED, chunk_rows)
        self._clear()
        self.decision = array("b")

    def _clear(self) -> None:
        self.round = array("q")
        self.sender = array("q")
        self.receiver = array("q")
        self.send_time = array("d")
        self.arrival_time = array("d")
        self.delivered = array("b")
        self.byzantine = array("b")

    def __len__(self) -> int:
        return len(self.decision)

    def _spill(self) -> None:
        """Hand the buffered messages (all columns but the decision) to the spool."""
        self.spool.extend(
            {
                name: np.frombuffer(getattr(self, name), dtype=dtype)
                for name, dtype in SPOOLED.items()
            }
        )
        self._clear()

    def record_send(
        self,
        round: int,
        sender: int,
        receiver: int,
        send_time: float,
        arrival_time: float,
        byzantine: bool,
        delivered: bool = True,
    ) -> int:
        """Append a message; returns its index (the message id). A lost message has
        ``delivered = False``, arrival NaN and decision ``lost``."""
        self.round.append(round)
        self.sender.append(sender)
        self.receiver.append(receiver)
        self.send_time.append(send_time)
        self.arrival_time.append(arrival_time if delivered else float("nan"))
        self.delivered.append(int(delivered))
        self.byzantine.append(int(byzantine))
        self.decision.append(UNDECIDED if delivered else int(Decision.LOST))
        if len(self.round) >= self.spool.chunk_rows:
            self._spill()
        return len(self.decision) - 1

    def decide(self, index: int, decision: Decision) -> None:
        self.decision[index] = int(decision)

    def columns(self) -> dict[str, np.ndarray]:
        """The trace as numpy columns (memmaps once it outgrew memory); a message never decided
        (its receiver had finished, or it was never used) is ``late``."""
        self._spill()
        columns = self.spool.finish()
        decision = np.array(self.decision, dtype=np.int8)
        decision[decision == UNDECIDED] = Decision.LATE
        columns["decision"] = decision
        return columns
