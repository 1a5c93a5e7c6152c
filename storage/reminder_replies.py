"""Which reminder a resident answers: an SMS "ZAPŁAĆ" or a Telegram "Zapłać" button.

    reminder_sent_to      the newest reminder sent to a recipient on a channel since a time: an
                          SMS reply answers that one (a fallback copy answers its reminder)
    reminder_of_message   the reminder an outbox message was (or was a copy of), when it was
                          sent since a time: the message whose button was pressed

A reminder is named by its coverage row's key (`reminder_coverage.outbox_key`), which
`storage.reminder_plan.latest_reminder(..., key=)` reads. The notifier's
fallback copy of a reminder has that key followed by `|…` (notifier.fallback), so a reply to the
copy pays what the original listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.outbox import Category
from storage.outbox_models import OutboxMessage

_COPY_MARK = "|"


@dataclass(frozen=True)
class SentReminder:
    """A reminder as its recipient got it: the coverage key, and the language it was in."""

    key: str
    language: str
    sent_at: datetime


def _reminder_key(outbox_key: str) -> str:
    return outbox_key.split(_COPY_MARK, 1)[0]


async def reminder_sent_to(
    session: AsyncSession, channel: str, recipient: str, since: datetime
) -> SentReminder | None:
    row = (
        await session.execute(
            sa.select(OutboxMessage.key, OutboxMessage.language, OutboxMessage.sent_at)
            .where(
                OutboxMessage.category == Category.REMINDER.value,
                OutboxMessage.channel == channel,
                OutboxMessage.recipient == recipient,
                OutboxMessage.sent_at >= since,
            )
            .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is None or row.sent_at is None:
        return None
    return SentReminder(_reminder_key(row.key), row.language, row.sent_at)


async def reminder_of_message(
    session: AsyncSession, message_id: int, since: datetime
) -> SentReminder | None:
    row = (
        await session.execute(
            sa.select(OutboxMessage.key, OutboxMessage.language, OutboxMessage.sent_at).where(
                OutboxMessage.id == message_id,
                OutboxMessage.category == Category.REMINDER.value,
                OutboxMessage.sent_at >= since,
            )
        )
    ).one_or_none()
    if row is None or row.sent_at is None:
        return None
    return SentReminder(_reminder_key(row.key), row.language, row.sent_at)
