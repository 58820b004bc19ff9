"""Receive side of a round-based agent: buffers, round completion, deadlines, late messages.

Rules (spec/engine.md, "Rounds"): an agent completes round r at the earlier of (a) the arrival
of the last message of round r it waits for and (b) its deadline for round r. A message of a
later round is buffered for that round; one of an earlier round, or of the current round after
completion, is *late* (not used, but remembered as the sender's most recent value, for the
`stale` policy). A message arriving exactly at the deadline counts (deliveries are processed
before deadline checks at the same instant).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import simpy

from .environment import COMPLETION, DEADLINE, OrderedEnvironment
from .network import Message
from .trace import Decision, MessageTrace

FINISHED = 1 << 62


class RoundInbox:
    """The messages that reached one agent, by round."""

    def __init__(self, env: OrderedEnvironment, owner: int, trace: MessageTrace):
        self.env = env
        self.owner = owner
        self.trace = trace
        self.current = -1
        self._buffers: dict[int, dict[int, Message]] = defaultdict(dict)
        self._expected: frozenset[int] = frozenset()
        self._done: simpy.Event | None = None
        self._triggered = False
        self.latest: dict[int, tuple[int, np.ndarray]] = {}  # sender -> (round, finite value)

    def open(self, round: int, expected: frozenset[int], deadline: float | None) -> simpy.Event:
        """Start waiting for round ``round`` from ``expected`` senders; returns the completion
        event (it succeeds with ``"all"`` or ``"deadline"``). ``deadline`` is relative (s)."""
        self.current = round
        self._expected = expected
        self._done = simpy.Event(self.env)
        self._triggered = False
        if expected.issubset(self._buffers[round]):
            self._complete("all")
        elif deadline is not None:
            check = simpy.Event(self.env)
            check.callbacks.append(lambda _event: self._on_deadline(round))
            self.env.trigger(check, (DEADLINE, self.owner), deadline)
        return self._done

    def take(self, round: int) -> dict[int, Message]:
        """The messages of ``round`` that arrived in time, by sender."""
        return self._buffers.pop(round, {})

    def close(self) -> None:
        """The agent has finished: everything that arrives from now on is late."""
        self.current = FINISHED

    def deliver(self, message: Message) -> None:
        """Network callback: ``message`` has just arrived."""
        value = message.value
        if (
            message.sender not in self.latest or self.latest[message.sender][0] < message.round
        ) and np.all(np.isfinite(value)):
            self.latest[message.sender] = (message.round, value)
        if message.round < self.current or (message.round == self.current and self._triggered):
            self.trace.decide(message.index, Decision.LATE)
            return
        self._buffers[message.round][message.sender] = message
        if (
            message.round == self.current
            and not self._triggered
            and self._expected.issubset(self._buffers[message.round])
        ):
            self._complete("all")

    def _on_deadline(self, round: int) -> None:
        if self.current == round and not self._triggered:
            self._complete("deadline")

    def _complete(self, reason: str) -> None:
        self._triggered = True
        assert self._done is not None
        self.env.trigger(self._done, (COMPLETION, self.owner), 0.0, reason)
