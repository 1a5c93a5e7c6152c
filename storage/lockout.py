"""Until when verifying by PESEL (or NIP) and activation code is locked, for telling it plainly.

The limits are storage.conversations' (SENDER_FAILURE_LIMIT wrong tries per chat, and
TAXPAYER_FAILURE_LIMIT per taxpayer from any chats, within ATTEMPT_WINDOW); a lock lifts when
enough of the failures that make it up have left the window.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import VerificationAttempt
from storage.conversations import ATTEMPT_WINDOW, SENDER_FAILURE_LIMIT, TAXPAYER_FAILURE_LIMIT
from storage.models import Taxpayer


async def _failures_since(
    session: AsyncSession, since: datetime, where: ColumnElement[bool]
) -> list[datetime]:
    times = await session.scalars(
        select(VerificationAttempt.at)
        .where(
            VerificationAttempt.at > since,
            VerificationAttempt.checked.is_(True),
            VerificationAttempt.succeeded.is_(False),
            where,
        )
        .order_by(VerificationAttempt.at)
    )
    return list(times)


def _lifts_at(failures: Sequence[datetime], limit: int) -> datetime | None:
    """When fewer than `limit` of these failures remain in the window, or None if not locked."""
    if len(failures) < limit:
        return None
    return failures[len(failures) - limit] + ATTEMPT_WINDOW


async def verification_locked_until(
    session: AsyncSession, channel: str, sender_id: str, identifier: str, now: datetime
) -> datetime | None:
    """The time the chat's or the named taxpayer's lock lifts, or None when neither is locked."""
    since = now - ATTEMPT_WINDOW
    sender = (VerificationAttempt.channel == channel) & (VerificationAttempt.sender_id == sender_id)
    times = [_lifts_at(await _failures_since(session, since, sender), SENDER_FAILURE_LIMIT)]
    digits = re.sub(r"\D", "", identifier)
    column = {11: Taxpayer.pesel, 10: Taxpayer.nip}.get(len(digits))
    if column is not None:
        targeted = VerificationAttempt.taxpayer_id.in_(select(Taxpayer.id).where(column == digits))
        times.append(
            _lifts_at(await _failures_since(session, since, targeted), TAXPAYER_FAILURE_LIMIT)
        )
    locks = [time for time in times if time is not None]
    return max(locks) if locks else None
