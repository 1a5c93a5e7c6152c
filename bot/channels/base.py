"""One shape for every chat channel (REST, console, Telegram, SMS).

Only three things differ between channels, and each lives in its channel, never in a dictionary
inside the engine:

    who      the adapter turns its provider's update into an `InboundMessage`: the channel's
             `name`, the sender's id in it (a Telegram chat, an SMS number, a web-chat id), whose
             binding in the store says which taxpayer it is, and the provider's message id
             (Telegram's update_id, Twilio's MessageSid) on every message, so that a redelivered
             update has the effect of one
    render   `Channel.render` turns one of the engine's replies into the messages this channel
             sends: Telegram's parts within its length limit with buttons under short keys, SMS's
             numbered choices and segments, REST's JSON as the engine gave it
    out      `bot.channels.outbound` runs the turn and queues the rendered messages in the outbox
             under keys derived from the provider's message id, then wakes the dispatcher (REST
             answers in its HTTP response instead, as Rasa's REST channel must)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.dialogue.messages import Button, InboundMessage, OutboundMessage

__all__ = ["Button", "Channel", "InboundMessage", "OutboundMessage", "Rendered"]


@dataclass(frozen=True)
class Rendered:
    """One message as its channel sends it: the content of one outbox row.

    `text` is plain text (a sender escapes it for its provider's markup); `buttons` keep the
    engine's payloads, which the sender maps to what its provider takes (Telegram: short keys).
    """

    text: str
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    # What an SMS costs, as the SMS channel measured it: segments, and `gsm7` or `ucs2`.
    sms_segments: int | None = None
    sms_encoding: str | None = None


class Channel(Protocol):
    """A chat channel as the shared reply path sees it."""

    @property
    def name(self) -> str:
        """`InboundMessage.channel` and the outbox row's channel: `telegram`, `sms`, `rest`."""
        ...

    def render(self, reply: OutboundMessage) -> list[Rendered]:
        """The messages this channel sends for one reply of the engine, in order (at least one
        when the reply has any text, buttons or image)."""
        ...
