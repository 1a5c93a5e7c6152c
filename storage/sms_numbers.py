"""What the SMS channel keeps of a phone number (E.164): the choices last offered to it, and
whether its owner texted STOP.

    remember_choices / offered_choices   a reply's buttons go out as "Odpisz 1 – …, 2 – …"; their
                                         titles and payloads are kept here, so that "1" means
                                         the first (unless a reminder came after them:
                                         choices_offered_at)
    stop / start                         STOP withdraws reminders and announcements by SMS: the
                                         outbox's unreachable mark with the resident's own reason
                                         (the notifier's fallback sees it), START lifts it; each
                                         change is kept with its time (`reachability_changes`)

Every function leaves committing to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.outbox import WITHDRAWN_BY_RESIDENT, mark_reachable, mark_unreachable
from storage.outbox_models import SmsChoices, UnreachableRecipient
from storage.sql import insert_on_conflict

CHANNEL = "sms"
STARTED = "the resident texted START"


async def remember_choices(
    session: AsyncSession, number: str, choices: Sequence[tuple[str, str]], now: datetime
) -> None:
    """The `(title, payload)` choices now offered to the number, in order (none: a plain reply
    forgets the earlier ones)."""
    rows = [{"title": title, "payload": payload} for title, payload in choices]
    statement = insert_on_conflict(session, SmsChoices).values(
        number=number, choices=rows, offered_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["number"],
            set_={"choices": statement.excluded.choices, "offered_at": now},
        )
    )


async def offered_choices(session: AsyncSession, number: str) -> list[tuple[str, str]]:
    """`(title, payload)` of the choices last offered to the number, in their order."""
    rows = await session.scalar(sa.select(SmsChoices.choices).where(SmsChoices.number == number))
    return [(str(row["title"]), str(row["payload"])) for row in rows or []]


async def choices_offered_at(session: AsyncSession, number: str) -> datetime | None:
    """When the choices the number has now were offered; None when it has none."""
    row = (
        await session.execute(
            sa.select(SmsChoices.choices, SmsChoices.offered_at).where(SmsChoices.number == number)
        )
    ).one_or_none()
    return row.offered_at if row is not None and row.choices else None


async def is_stopped(session: AsyncSession, number: str) -> bool:
    reason = await session.scalar(
        sa.select(UnreachableRecipient.reason).where(
            UnreachableRecipient.channel == CHANNEL, UnreachableRecipient.recipient == number
        )
    )
    return reason == WITHDRAWN_BY_RESIDENT


async def stop(session: AsyncSession, number: str, now: datetime) -> bool:
    """The resident texted STOP; True when that changed anything (a STOP again does not)."""
    if await is_stopped(session, number):
        return False
    await mark_unreachable(session, CHANNEL, number, WITHDRAWN_BY_RESIDENT, now)
    return True


async def start(session: AsyncSession, number: str, now: datetime) -> bool:
    """The resident texted START: the number gets SMS again; True when it had been stopped (or
    the provider had refused it)."""
    return await mark_reachable(session, CHANNEL, number, STARTED, now)
