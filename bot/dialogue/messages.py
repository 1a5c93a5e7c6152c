"""What channels hand the engine and get back: channel-independent messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InboundMessage:
    """One message from a sender; `(channel, sender_id)` names the conversation.

    `metadata` may carry `language`: a hint for a new conversation (a page's language, Telegram's
    `language_code`, `gmina chat --lang`).
    """

    channel: str
    sender_id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    title: str
    # Rasa's `/intent{"entity": "value"}`: sent back as the message when pressed.
    payload: str


@dataclass(frozen=True)
class OutboundMessage:
    recipient_id: str
    text: str
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    # The language the text is in (`pl`, `en`, `uk`): the web chat's labels and `lang` follow it.
    language: str | None = None
