"""A SimPy environment whose same-time events follow a documented order (spec/engine.md).

SimPy orders its queue by (time, priority, insertion id). netsim replaces the integer priority
by a tuple *key*, so that events at the same simulated time are processed in this order:

1. SimPy's own bookkeeping (process start and end; it carries no protocol meaning);
2. message deliveries, by (sender id, receiver id, round);
3. deadline checks, by agent id;
4. round completions, by agent id;
5. round starts, honest agents before Byzantine ones, then by agent id — so a rushing adversary
   starting a round at instant t sees every honest message sent at t.

Never by object identity or dict/set iteration: the order depends only on the keys, and the keys
only on the scenario and the seed.

The fast engine (:mod:`netsim.fast`) holds its clock in the same environment but schedules no
message events: :meth:`OrderedEnvironment.call_at` queues one :class:`Wakeup` per agent event
(or per round), at an absolute time and with the same kind of key, whose callback does the work.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.core import NORMAL

SIMPY_INTERNAL = -1
DELIVERY = 0
DEADLINE = 1
COMPLETION = 2
ROUND_START = 3

EventKey = tuple[int, ...]


class OrderedEnvironment(simpy.Environment):
    """``simpy.Environment`` with tuple keys for same-time ordering (see module docstring)."""

    def schedule(self, event: simpy.Event, priority: Any = NORMAL, delay: float = 0) -> None:
        key = priority if isinstance(priority, tuple) else (SIMPY_INTERNAL, int(priority))
        heappush(self._queue, (self._now + delay, key, next(self._eid), event))

    def trigger_after(self, delay: float, key: EventKey, value: Any = None) -> simpy.Event:
        """A new event that succeeds ``delay`` simulated seconds from now, ordered by ``key``."""
        event = simpy.Event(self)
        self.trigger(event, key, delay, value)
        return event

    def trigger(
        self, event: simpy.Event, key: EventKey, delay: float = 0.0, value: Any = None
    ) -> None:
        """Make ``event`` succeed ``delay`` seconds from now with ordering ``key``."""
        event._ok = True
        event._value = value
        self.schedule(event, key, delay)

    def trigger_at(self, event: simpy.Event, key: EventKey, time: float, value: Any = None) -> None:
        """Make ``event`` succeed at the absolute simulated time ``time`` (>= now) with ordering
        ``key``: a lock-step round ends at exactly S_i(r + 1), which ``now + (time - now)``
        need not give back."""
        if time < self._now:
            raise ValueError(f"trigger_at({time!r}) is before now ({self._now!r})")
        event._ok = True
        event._value = value
        heappush(self._queue, (time, key, next(self._eid), event))

    def call_at(
        self,
        time: float,
        key: EventKey,
        callback: Callable[[Wakeup], None] | None,
        value: Any = None,
    ) -> Wakeup:
        """A :class:`Wakeup` at the absolute simulated time ``time`` (>= now) with ordering
        ``key``. Absolute, not a delay: ``now + (time - now)`` need not round back to ``time``,
        and the fast engine's times are the reference's bit for bit."""
        if time < self._now:
            raise ValueError(f"call_at({time!r}) is before now ({self._now!r})")
        event = Wakeup(self, callback, value)
        heappush(self._queue, (time, key, next(self._eid), event))
        return event


class Wakeup(simpy.Event):
    """An event that is triggered when it is made: it succeeds with ``value`` when its time
    comes and calls ``callback(event)`` if one is given (no process, no generator: the fast
    engine's agent events, :meth:`OrderedEnvironment.call_at`)."""

    def __init__(
        self, env: simpy.Environment, callback: Callable[[Wakeup], None] | None, value: Any
    ):
        # simpy.Event.__init__ would mark it pending only for trigger() to overwrite that
        self.env = env
        self.callbacks = [] if callback is None else [callback]
        self._ok = True
        self._value = value
