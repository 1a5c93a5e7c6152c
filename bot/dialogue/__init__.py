"""The dialogue engine: channel-independent turns (see `bot.dialogue.engine`)."""

from bot.dialogue.engine import DialogueEngine, Understanding, action_call, build_executor
from bot.dialogue.messages import Button, InboundMessage, OutboundMessage

__all__ = [
    "Button",
    "DialogueEngine",
    "InboundMessage",
    "OutboundMessage",
    "Understanding",
    "action_call",
    "build_executor",
]
