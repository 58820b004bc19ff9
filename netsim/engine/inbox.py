"""Receive side of a round-based agent: buffers, round completion, deadlines, late messages.

Rules (spec/engine.md, "Rounds"): on the event clock an agent completes round r at the earlier
of (a) the arrival of the last message of round r it waits for and (b) its deadline for round r;
on the lock-step clock (``until``) it completes round r at its round end S_i(r + 1), whatever has
arrived. A message of a later round is buffered for that round; one of an earlier round, or of
the current round after completion, is *late* (not used, but remembered as the sender's most
recent value, for the `stale` policy). A message arriving exactly at the deadline counts
(deliveries are processed before deadline checks at the same instant).
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

    def __init__(
        self, env: OrderedEnvironment, owner: int, trace: MessageTrace, mark_late: bool = True
    ):
        self.env = env
        self.owner = owner
        self.trace = trace
        self.mark_late = mark_late  # False: the protocol decides what a late message means
        self.current = -1
        self._buffers: dict[int, dict[int, Message]] = defaultdict(dict)
        self._expected: frozenset[int] = frozenset()
        self._needed = 0
        self._done: simpy.Event | None = None
        self._triggered = False
        self._lockstep = False
        self.latest: dict[int, Message] = {}  # sender -> its most recent finite message

    def open(
        self,
        round: int,
        expected: frozenset[int],
        deadline: float | None,
        quorum: int | None = None,
        until: float | None = None,
    ) -> simpy.Event:
        """Start waiting for round ``round`` from ``expected`` senders (or for any ``quorum`` of
        them); returns the completion event, which succeeds with ``"all"``, ``"quorum"`` or
        ``"deadline"``. ``deadline`` is relative to now (simulated s). ``until`` (lock-step
        rounds): complete at that absolute time and not before, with ``"all"`` if every expected
        sender's message is in by then, else ``"deadline"``."""
        self.current = round
        self._expected = expected
        self._needed = len(expected) if quorum is None else quorum
        self._done = simpy.Event(self.env)
        self._triggered = False
        self._lockstep = until is not None
        if until is not None:
            check = simpy.Event(self.env)
            check.callbacks.append(lambda _event: self._on_deadline(round))
            self.env.trigger_at(check, (DEADLINE, self.owner), until)
        elif self._enough(round):
            self._complete("all" if quorum is None else "quorum")
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
        previous = self.latest.get(message.sender)
        newer = previous is None or previous.round < message.round
        if newer and np.all(np.isfinite(message.value)):
            self.latest[message.sender] = message
        if message.round < self.current or (message.round == self.current and self._triggered):
            if self.mark_late:
                self.trace.decide(message.index, Decision.LATE)
            return
        self._buffers[message.round][message.sender] = message
        if self._lockstep:  # the round ends on the clock, never at an arrival
            return
        if message.round == self.current and not self._triggered and self._enough(message.round):
            self._complete("all" if self._needed == len(self._expected) else "quorum")

    def _enough(self, round: int) -> bool:
        arrived = self._buffers[round]
        if self._needed == len(self._expected):
            return self._expected.issubset(arrived)
        return sum(1 for sender in arrived if sender in self._expected) >= self._needed

    def _on_deadline(self, round: int) -> None:
        if self.current == round and not self._triggered:
            on_time = self._lockstep and self._enough(round)
            self._complete("all" if on_time else "deadline")

    def _complete(self, reason: str) -> None:
        self._triggered = True
        assert self._done is not None
        self.env.trigger(self._done, (COMPLETION, self.owner), 0.0, reason)
