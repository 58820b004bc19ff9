"""The message trace: one record per message, stored column by column in typed buffers (C
arrays of int64/float64/int8, never one Python object per message).

Columns: round, sender, receiver, send_time, arrival_time (simulated s; NaN when lost),
delivered, byzantine, decision (what the receiver did with it, :class:`Decision`).
"""

from __future__ import annotations

from array import array
from enum import IntEnum

import numpy as np


class Decision(IntEnum):
    """What the receiver did with a message (``messages.csv`` writes the lower-case name)."""

    KEPT = 0  # entered the receiver's aggregate
    ELIMINATED = 1  # dropped by the filter, or non-finite, or a request dropped by a busy agent
    CLIPPED = 2  # entered after scaling (CGC)
    LATE = 3  # arrived after the receiver had completed that round (or was never used)
    LOST = 4  # never delivered (link loss)


UNDECIDED = -1


class MessageTrace:
    """Append-only columns of every message sent in one run."""

    def __init__(self) -> None:
        self.round = array("q")
        self.sender = array("q")
        self.receiver = array("q")
        self.send_time = array("d")
        self.arrival_time = array("d")
        self.delivered = array("b")
        self.byzantine = array("b")
        self.decision = array("b")

    def __len__(self) -> int:
        return len(self.round)

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
        return len(self.round) - 1

    def decide(self, index: int, decision: Decision) -> None:
        self.decision[index] = int(decision)

    def columns(self) -> dict[str, np.ndarray]:
        """The trace as numpy columns; a message never decided (its receiver had finished, or
        it was never used) is ``late``."""
        decision = np.array(self.decision, dtype=np.int8)
        decision[decision == UNDECIDED] = Decision.LATE
        return {
            "round": np.array(self.round, dtype=np.int64),
            "sender": np.array(self.sender, dtype=np.int64),
            "receiver": np.array(self.receiver, dtype=np.int64),
            "send_time": np.array(self.send_time, dtype=np.float64),
            "arrival_time": np.array(self.arrival_time, dtype=np.float64),
            "delivered": np.array(self.delivered, dtype=bool),
            "byzantine": np.array(self.byzantine, dtype=bool),
            "decision": decision,
        }
