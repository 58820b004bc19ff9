"""Agents on a networkx complete graph; every directed edge is a link with its own delay stream.

A message sent at simulated time s on link j -> i arrives at s + delay, delay being the link's
next draw (the k-th message on a link uses the link's k-th draw, spec/engine.md). Each message is
its own SimPy event, processed at its arrival time in the order (arrival time, sender, receiver,
round); only then does the receiver see it. No FIFO is imposed: two messages on one link may
arrive out of send order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import simpy

from ..delays import DelayModel
from ..rng import SERVER, link_stream
from .environment import DELIVERY, OrderedEnvironment
from .trace import MessageTrace


@dataclass(frozen=True, slots=True)
class Message:
    """One message in flight: ``index`` is its row in the trace."""

    index: int
    round: int
    sender: int
    receiver: int
    value: np.ndarray


class Link:
    """The directed link sender -> receiver: its delay model and its own random stream."""

    __slots__ = ("_rng", "model", "receiver", "seed", "sender")

    def __init__(self, model: DelayModel, seed: int, sender: int, receiver: int):
        self.model = model
        self.seed = seed
        self.sender = sender
        self.receiver = receiver
        self._rng: np.random.Generator | None = None

    def next_delay(self) -> float:
        """The link's next delay draw (simulated seconds)."""
        if self._rng is None:
            self._rng = link_stream(self.seed, self.sender, self.receiver)
        return float(self.model.sample(self._rng, 1)[0])


class Network:
    """The graph, its links and the message trace; moves messages, one event each."""

    def __init__(
        self,
        env: OrderedEnvironment,
        n: int,
        byzantine: Iterable[int],
        delay_model: DelayModel,
        seed: int,
        server: bool = False,
    ):
        self.env = env
        self.graph = nx.complete_graph(n, create_using=nx.DiGraph)
        byzantine = set(byzantine)
        nx.set_node_attributes(self.graph, {i: i in byzantine for i in range(n)}, "byzantine")
        if server:  # the CGC server: node SERVER (-1), a link each way with every agent
            self.graph.add_node(SERVER, byzantine=False)
            for agent in range(n):
                self.graph.add_edge(SERVER, agent)
                self.graph.add_edge(agent, SERVER)
        for sender, receiver in self.graph.edges:
            self.graph.edges[sender, receiver]["link"] = Link(delay_model, seed, sender, receiver)
        self.trace = MessageTrace()
        self._handlers: dict[int, Callable[[Message], None]] = {}

    def is_byzantine(self, agent: int) -> bool:
        return bool(self.graph.nodes[agent]["byzantine"])

    def neighbours(self, agent: int) -> list[int]:
        """Agents ``agent`` links to, in ascending id order (the server is not an agent)."""
        return sorted(node for node in self.graph.successors(agent) if node != SERVER)

    def attach(self, agent: int, handler: Callable[[Message], None]) -> None:
        """Call ``handler(message)`` when a message for ``agent`` arrives."""
        self._handlers[agent] = handler

    def send(self, round: int, sender: int, receiver: int, value: np.ndarray) -> Message:
        """Put ``value`` on the link sender -> receiver now; it arrives after the link's delay."""
        link: Link = self.graph.edges[sender, receiver]["link"]
        delay = link.next_delay()
        now = self.env.now
        index = self.trace.record_send(
            round, sender, receiver, now, now + delay, self.is_byzantine(sender)
        )
        message = Message(index, round, sender, receiver, value)
        arrival = simpy.Event(self.env)
        arrival.callbacks.append(lambda _event: self._handlers[receiver](message))
        self.env.trigger(arrival, (DELIVERY, sender, receiver, round), delay, message)
        return message
