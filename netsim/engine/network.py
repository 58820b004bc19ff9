"""Agents on a networkx complete graph; every directed edge is a link with its own delay stream.

A message sent at simulated time s on link j -> i arrives at s + delay, delay being the link's
next draw (the k-th message on a link uses the link's k-th draw(s), spec/engine.md). Each
message is its own SimPy event, processed at its arrival time in the order (arrival time,
sender, receiver, round); only then does the receiver see it. No FIFO is imposed: two messages
on one link may arrive out of send order.

Per message k on a link: the delay model's draw from the first uniform of the link's counter
k, and, when ``network.loss`` > 0, the second uniform, which decides loss. With a declared partial
synchrony (``network.asynchrony``) a message sent at s >= GST must arrive by s + Delta: honest
delays above it are capped (or stop the run, naming the link), honest messages are never lost
after GST, and a Byzantine sender may choose to deliver at the last moment s + Delta.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import simpy

from ..config import AsynchronyConfig
from ..delays import DelayModel
from ..errors import ScenarioError
from ..rng import DELAYS, LOSSES, SERVER, Stream, link_stream
from ..variates import LOOKAHEAD, compute_ahead
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


class BoundViolation(ScenarioError):
    """An honest message drew a delay above the declared Delta, with ``on_violation = "error"``."""


class Link:
    """The directed link sender -> receiver: its delay model and its draws (:mod:`netsim.rng`,
    KIND 0): message k's delay from index k of the link's delay stream, its loss decision from
    index k of its loss stream, whenever it is sent. ``window``, when given, computes the next
    draws of every link of the network together (the same numbers)."""

    __slots__ = ("_delays", "_losses", "model", "receiver", "seed", "sender", "sent", "window")

    def __init__(
        self,
        model: DelayModel,
        seed: int,
        sender: int,
        receiver: int,
        window: LinkWindow | None = None,
    ):
        self.model = model
        self.seed = seed
        self.sender = sender
        self.receiver = receiver
        self.window = window
        self.sent = 0  # messages whose delay has been drawn
        self._delays: Stream | None = None
        self._losses: Stream | None = None

    def delay_stream(self) -> Stream:
        if self._delays is None:
            self._delays = link_stream(self.seed, self.sender, self.receiver, DELAYS)
        return self._delays

    def loss_stream(self) -> Stream:
        if self._losses is None:
            self._losses = link_stream(self.seed, self.sender, self.receiver, LOSSES)
        return self._losses

    def next_delay(self, send_time: float) -> float:
        """The delay (simulated seconds) of the link's next message, sent at ``send_time``."""
        stream = self.delay_stream()
        stream.position = self.sent
        if self.window is not None:
            self.window.before_delay(stream)
        self.sent += 1
        return self.model.delay(stream, self.sender, self.receiver, send_time)

    def next_lost(self, loss: float) -> bool:
        """Whether the message whose delay was drawn last is lost (one uniform < ``loss``)."""
        stream = self.loss_stream()
        stream.position = self.sent - 1
        if self.window is not None:
            self.window.before_loss(stream)
        return bool(stream.random() < loss)


WINDOW_MESSAGES = LOOKAHEAD  # LinkWindow: the next draws computed per link, every link at once


class LinkWindow:
    """The next :data:`WINDOW_MESSAGES` draws of every link of a network, in one vectorized
    call (:func:`netsim.variates.compute_ahead`) instead of one per link.

    A draw is a pure function of its counter (link, message index), so computing the draws of
    all links for their next messages, whenever one link runs out, gives each link exactly the
    numbers it would compute alone; every round of a synchronous protocol sends one message per
    link, so the links run out together and a window serves them all for 32 rounds. Delays are
    kept already through the delay model's :attr:`~netsim.delays.DelayModel.uniform_map` (the
    inverse CDF, one call for the whole window); a model without one draws link by link."""

    def __init__(self, links: list[Link], uniform_map: Callable | None):
        self.links = links
        self.delay_key = None if uniform_map is None else ("map", uniform_map)
        self.loss_key = ("random",)

    def before_delay(self, stream: Stream) -> None:
        """Called with the stream of a link about to draw its next delay."""
        key = self.delay_key
        if key is not None and not stream.holds(key, 1):
            self._fill(stream, key, Link.delay_stream)

    def before_loss(self, stream: Stream) -> None:
        """Called with the stream of a link about to draw its last message's loss."""
        if not stream.holds(self.loss_key, 1):
            self._fill(stream, self.loss_key, Link.loss_stream)

    def _fill(self, asking: Stream, key: tuple, stream_of: Callable[[Link], Stream]) -> None:
        """The window of every link with less than half a window left, from its next message
        on (the asking link from where it stands)."""
        stale = []
        for link in self.links:
            stream = stream_of(link)
            if stream is not asking:
                stream.position = link.sent  # its next message (draws set it again anyway)
                if stream.holds(key, WINDOW_MESSAGES // 2):
                    continue
            stale.append(stream)
        compute_ahead(stale, WINDOW_MESSAGES, key)


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
        loss: float = 0.0,
        asynchrony: AsynchronyConfig | None = None,
        byzantine_delivery: str = "model",
    ):
        self.env = env
        self.loss = loss
        self.asynchrony = asynchrony
        self.byzantine_delivery = byzantine_delivery
        self.honest_delays_capped = 0
        self.graph = nx.complete_graph(n, create_using=nx.DiGraph)
        byzantine = set(byzantine)
        nx.set_node_attributes(self.graph, {i: i in byzantine for i in range(n)}, "byzantine")
        if server:  # the CGC server: node SERVER (-1), a link each way with every agent
            self.graph.add_node(SERVER, byzantine=False)
            for agent in range(n):
                self.graph.add_edge(SERVER, agent)
                self.graph.add_edge(agent, SERVER)
        links = [Link(delay_model, seed, sender, receiver) for sender, receiver in self.graph.edges]
        window = LinkWindow(links, delay_model.uniform_map)
        for link in links:
            link.window = window
            self.graph.edges[link.sender, link.receiver]["link"] = link
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

    def send(
        self, round: int, sender: int, receiver: int, value: np.ndarray, lag: float = 0.0
    ) -> Message:
        """Put ``value`` on the link sender -> receiver now; it arrives after the link's delay
        (plus ``lag``: a Byzantine sender holding its message back), or never if the link loses
        it."""
        link: Link = self.graph.edges[sender, receiver]["link"]
        now = self.env.now
        byzantine = self.is_byzantine(sender)
        delay = link.next_delay(now)
        if lag:
            delay = delay + lag
        lost = link.next_lost(self.loss) if self.loss > 0 else False
        bounded = self.asynchrony is not None and now >= self.asynchrony.gst
        if bounded:
            delay, lost = self._within_bound(link, delay, lost, byzantine)
        index = self.trace.record_send(
            round, sender, receiver, now, now + delay, byzantine, delivered=not lost
        )
        message = Message(index, round, sender, receiver, value)
        if not lost:
            arrival = simpy.Event(self.env)
            arrival.callbacks.append(lambda _event: self._handlers[receiver](message))
            self.env.trigger(arrival, (DELIVERY, sender, receiver, round), delay, message)
        return message

    def _within_bound(
        self, link: Link, delay: float, lost: bool, byzantine: bool
    ) -> tuple[float, bool]:
        """After GST: an honest message arrives within Delta and is not lost; a Byzantine one
        arrives within Delta, at the last moment if its adversary asks for it."""
        assert self.asynchrony is not None
        delta = self.asynchrony.delta
        if byzantine:
            return (delta if self.byzantine_delivery == "last_moment" else min(delay, delta)), lost
        if delay > delta:
            if self.asynchrony.on_violation == "error":
                raise BoundViolation(
                    "network.asynchrony.delta",
                    f"link {link.sender} -> {link.receiver} drew a delay of {delay:.6g} s for a "
                    f"message sent at {self.env.now:.6g} s, after GST",
                    self.asynchrony.delta,
                    f'>= {delay:.6g}, or on_violation = "cap"',
                )
            self.honest_delays_capped += 1
            delay = delta
        return delay, False
