"""The work queue of an agent that answers requests (the CGC agents).

An agent computes one reply at a time. Requests that arrive while it is busy wait: all of them,
answered in arrival order (``policy = "fifo"``), or only the newest, the older ones being
dropped unanswered (``policy = "latest"``: an agent does not compute a gradient at an estimate
the server has already replaced). Taking a request is an event ordered like a round completion
of its owner (spec/engine.md order: after the deliveries of the same instant).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import simpy

from .environment import COMPLETION, OrderedEnvironment
from .network import Message


class Mailbox:
    """Requests waiting for one agent."""

    def __init__(
        self,
        env: OrderedEnvironment,
        owner: int,
        policy: str = "fifo",
        on_drop: Callable[[Message], None] | None = None,
    ):
        self.env = env
        self.owner = owner
        self.policy = policy
        self.on_drop = on_drop
        self._queue: deque[Message] = deque()
        self._getter: simpy.Event | None = None

    def put(self, message: Message) -> None:
        """Network callback: a request has arrived."""
        if self._getter is not None:
            getter, self._getter = self._getter, None
            self.env.trigger(getter, (COMPLETION, self.owner), 0.0, message)
        else:
            self._queue.append(message)
            if self.policy == "latest" and len(self._queue) > 1:
                newest = max(self._queue, key=lambda m: m.round)  # links may reorder
                for dropped in self._queue:
                    if dropped is not newest and self.on_drop is not None:
                        self.on_drop(dropped)
                self._queue = deque([newest])

    def get(self) -> simpy.Event:
        """An event that succeeds with the oldest waiting request (at once if there is one)."""
        event = simpy.Event(self.env)
        if self._queue:
            self.env.trigger(event, (COMPLETION, self.owner), 0.0, self._queue.popleft())
        else:
            self._getter = event
        return event
