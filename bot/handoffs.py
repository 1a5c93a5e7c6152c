"""Staff working a hand-off: the commands of `storage.handoffs`, plus what the resident gets.

    take    one clerk at a time (storage decides; nothing goes to the resident)
    answer  the thread gets the clerk's message, and the resident gets it on the channel they
            wrote from, rendered by that channel and queued in the outbox under
            `<channel>:staff:<ticket>:<message number>` (a form sent twice queues one message)
    close   the ticket closes and the resident is told, in the ticket's language, that the
            assistant answers again (`<channel>:staff:<ticket>:closed`)

Each command and its outbox rows are one transaction; the dispatcher is woken after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import Channel
from bot.channels.rest import REST
from bot.channels.sms import SmsChannel
from bot.channels.telegram import TELEGRAM
from bot.dialogue import OutboundMessage
from bot.outbox import DISPATCHER
from kernel.clock import Clock
from kernel.i18n import render
from kernel.settings import Settings
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from storage.handoffs import Answer, Ticket, add_staff_answer, close_ticket, take_ticket, ticket
from storage.outbox import Category, NewMessage, enqueue


def staff_message_key(channel: str, ticket_ref: str, message: str, part: int = 0) -> str:
    """The outbox key of a staff message: `message` is the thread's number, or `closed`."""
    key = f"{channel}:staff:{ticket_ref}:{message}"
    return key if part == 0 else f"{key}:{part}"


def _channels(settings: Settings) -> dict[str, Channel]:
    return {TELEGRAM.name: TELEGRAM, "sms": SmsChannel(settings), REST.name: REST}


def to_resident(
    channels: dict[str, Channel], handed_off: Ticket, message: str, text: str
) -> list[NewMessage]:
    """The outbox rows that carry `text` to the ticket's chat, as its channel renders it."""
    channel = channels[handed_off.channel]
    reply = OutboundMessage(handed_off.sender_id, text, language=handed_off.language)
    return [
        NewMessage(
            key=staff_message_key(channel.name, handed_off.ref, message, number),
            channel=channel.name,
            recipient=handed_off.sender_id,
            category=Category.HANDOFF_REPLY,
            text=part.text,
            language=handed_off.language,
            buttons=[(button.title, button.payload) for button in part.buttons],
            taxpayer_id=handed_off.taxpayer_id,
            sms_segments=part.sms_segments,
            sms_encoding=part.sms_encoding,
        )
        for number, part in enumerate(channel.render(reply))
    ]


@dataclass(frozen=True)
class Handoffs:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    channels: dict[str, Channel]
    # The dispatcher's wake-up; nothing when no sender is configured (rows wait in the outbox).
    wake: Callable[[], None]

    @classmethod
    def of(cls, app: web.Application) -> Handoffs:
        dispatcher = app.get(DISPATCHER)
        wake = dispatcher.wake if dispatcher is not None else _nothing
        return cls(app[SESSIONS], app[CLOCK], _channels(app[SETTINGS]), wake)

    async def take(self, ref: str, staff: str, *, reassign: bool = False) -> Ticket:
        async with self.sessions() as session:
            taken = await take_ticket(session, ref, staff, self.clock.now(), reassign=reassign)
            await session.commit()
        return taken

    async def answer(self, ref: str, staff: str, text: str, submission_key: str) -> Answer:
        """Write the answer and queue it to the resident; `TicketRefused` when not allowed."""
        now = self.clock.now()
        async with self.sessions() as session:
            answer = await add_staff_answer(session, ref, staff, text, submission_key, now)
            worded = render(
                "handoff_staff_answer",
                answer.ticket.language,
                {"ticket_ref": ref, "text": answer.text},
            )
            # Also for a form sent twice: the same keys, so nothing new is queued.
            rows = to_resident(self.channels, answer.ticket, str(answer.number), worded)
            queued = await enqueue(session, rows, now)
            await session.commit()
        if queued:
            self.wake()
        return answer

    async def close(self, ref: str, staff: str) -> bool:
        """Close the ticket and tell the resident; False when it was closed already."""
        now = self.clock.now()
        async with self.sessions() as session:
            closed = await close_ticket(session, ref, staff, now)
            if closed:
                handed_off = await ticket(session, ref)
                assert handed_off is not None  # just closed
                notice = render("handoff_closed", handed_off.language, {"ticket_ref": ref})
                await enqueue(
                    session, to_resident(self.channels, handed_off, "closed", notice), now
                )
            await session.commit()
        if closed:
            self.wake()
        return closed


def _nothing() -> None:
    return None
