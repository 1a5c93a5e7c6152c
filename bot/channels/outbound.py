"""The one path a chat reply takes out: turn → render for the channel → outbox → dispatcher.

    Outbound.reply(channel, message)
        the engine runs the turn (a message it answered before gets its first replies back)
        → `channel.render` makes each reply the messages the channel sends
        → one outbox row each, category `chat_reply`, keyed by the channel, the sender and the
          provider's message id with the part's number: a redelivered update queues nothing new
        → the sender wrote to us, so the channel reaches them again (an "unreachable" mark goes)
        → the dispatcher is woken: the reply goes out now, not at its next poll

`Outbound.queue` is the same path without a turn, for what a channel answers by itself (a group
chat's one sentence, "I read text only"). A message without a provider id gets fresh keys.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import Channel, Rendered
from bot.channels.typedefs import DIALOGUE
from bot.dialogue import DialogueEngine, InboundMessage, OutboundMessage
from bot.outbox import DISPATCHER
from kernel.clock import Clock
from kernel.i18n import normalise_language
from kernel.webkeys import CLOCK, SESSIONS
from storage.outbox import Category, NewMessage, enqueue
from storage.outbox_replies import clear_unreachable

# The outbox's key column holds this many characters; longer keys are hashed to fit.
KEY_LENGTH = 200


def reply_key(channel: str, message: InboundMessage, part: int) -> str:
    """The outbox key of part `part` of the answer to `message`: the same for a redelivery."""
    if message.message_id is None:
        return f"{channel}:reply:{uuid.uuid4().hex}:{part}"
    key = f"{channel}:reply:{message.sender_id}:{message.message_id}:{part}"
    if len(key) <= KEY_LENGTH:
        return key
    digest = hashlib.sha256(f"{message.sender_id}\0{message.message_id}".encode()).hexdigest()
    return f"{channel}:reply:{digest}:{part}"


def rendered_messages(
    channel: Channel, message: InboundMessage, replies: Sequence[OutboundMessage]
) -> list[NewMessage]:
    """The outbox rows for the replies, as `channel` renders them, keyed by `message`'s id."""
    hint = str(message.metadata.get("language") or "")
    rows: list[NewMessage] = []
    for reply in replies:
        language = normalise_language(reply.language or hint)
        for part in channel.render(reply):
            rows.append(_row(channel.name, message, len(rows), part, language))
    return rows


def _row(
    channel: str, message: InboundMessage, number: int, part: Rendered, language: str
) -> NewMessage:
    return NewMessage(
        key=reply_key(channel, message, number),
        channel=channel,
        recipient=message.sender_id,
        category=Category.CHAT_REPLY,
        text=part.text,
        language=language,
        buttons=[(button.title, button.payload) for button in part.buttons],
        image=part.image,
        sms_segments=part.sms_segments,
        sms_encoding=part.sms_encoding,
    )


@dataclass(frozen=True)
class Outbound:
    engine: DialogueEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    # The dispatcher's wake-up; nothing when no sender is configured (rows wait in the outbox).
    wake: Callable[[], None]

    @classmethod
    def of(cls, app: web.Application) -> Outbound:
        """The path as the running application wires it."""
        dispatcher = app.get(DISPATCHER)
        wake = dispatcher.wake if dispatcher is not None else _nothing
        return cls(app[DIALOGUE], app[SESSIONS], app[CLOCK], wake)

    async def reply(self, channel: Channel, message: InboundMessage) -> list[OutboundMessage]:
        """Run the turn and queue its replies; returns the engine's replies."""
        replies = await self.engine.handle(message)
        await self.queue(channel, message, replies)
        return replies

    async def queue(
        self, channel: Channel, message: InboundMessage, replies: Sequence[OutboundMessage]
    ) -> int:
        """Queue replies to `message` without a turn; returns how many rows were new."""
        rows = rendered_messages(channel, message, replies)
        async with self.sessions() as session:
            new = await enqueue(session, rows, self.clock.now())
            await clear_unreachable(session, channel.name, message.sender_id)
            await session.commit()
        if new:
            self.wake()
        return new


def _nothing() -> None:
    return None
