"""The simulated world: an ordered SimPy environment, links, messages, inboxes and the trace.

Every rule of spec/engine.md that decides *when* something happens or *in which order* lives in
this package, so that a faster engine has one place to copy from.
"""

from .environment import OrderedEnvironment
from .inbox import RoundInbox
from .mailbox import Mailbox
from .network import Message, Network
from .trace import Decision, MessageTrace

__all__ = [
    "Decision",
    "Mailbox",
    "Message",
    "MessageTrace",
    "Network",
    "OrderedEnvironment",
    "RoundInbox",
]
