"""The message trace: one record per message, stored column by column (never as objects).

Columns: round, sender, receiver, send_time, arrival_time (simulated s), delivered, byzantine,
decision. The decision is what the receiver did with the message (:class:`Decision`).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Decision(IntEnum):
    """What the receiver did with a message (``messages.csv`` writes the lower-case name)."""

    KEPT = 0  # entered the receiver's aggregate
    ELIMINATED = 1  # dropped by the filter, or non-finite
    CLIPPED = 2  # entered after scaling (CGC)
    LATE = 3  # arrived after the receiver had completed that round


UNDECIDED = -1


class MessageTrace:
    """Append-only columns of every message sent in one run."""

    def __init__(self) -> None:
        self.round: list[int] = []
        self.sender: list[int] = []
        self.receiver: list[int] = []
        self.send_time: list[float] = []
        self.arrival_time: list[float] = []
        self.byzantine: list[bool] = []
        self.decision: list[int] = []

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
    ) -> int:
        """Append a message; returns its index (the message id)."""
        self.round.append(round)
        self.sender.append(sender)
        self.receiver.append(receiver)
        self.send_time.append(send_time)
        self.arrival_time.append(arrival_time)
        self.byzantine.append(byzantine)
        self.decision.append(UNDECIDED)
        return len(self.round) - 1

    def decide(self, index: int, decision: Decision) -> None:
        self.decision[index] = int(decision)

    def columns(self) -> dict[str, np.ndarray]:
        """The trace as numpy columns; a message never decided (its receiver had finished) is
        ``late``. Every message is delivered in this engine (no loss model yet)."""
        decision = np.asarray(self.decision, dtype=np.int8)
        decision[decision == UNDECIDED] = Decision.LATE
        return {
            "round": np.asarray(self.round, dtype=np.int64),
            "sender": np.asarray(self.sender, dtype=np.int64),
            "receiver": np.asarray(self.receiver, dtype=np.int64),
            "send_time": np.asarray(self.send_time, dtype=np.float64),
            "arrival_time": np.asarray(self.arrival_time, dtype=np.float64),
            "delivered": np.ones(len(self), dtype=bool),
            "byzantine": np.asarray(self.byzantine, dtype=bool),
            "decision": decision,
        }
