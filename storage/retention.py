"""How long the store keeps what it does not need: conversations of anonymous senders.

A sender who never verified (no chat binding to a taxpayer) has nothing in the store but a
conversation; left alone, a flood of made-up sender ids would keep every one of them for ever.
`purge_anonymous_conversations` deletes those idle for longer than `retention.anonymous_days`.
A bound sender's conversation is kept: it is part of the taxpayer's record.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import Conversation
from storage.models import Contact


def _anonymous_and_idle_since(cutoff: datetime) -> ColumnElement[bool]:
    bound = exists().where(
        Contact.kind == Conversation.channel, Contact.value == Conversation.sender_id
    )
    return (Conversation.updated_at < cutoff) & Conversation.taxpayer_id.is_(None) & ~bound


async def purge_anonymous_conversations(
    session: AsyncSession, now: datetime, keep_for: timedelta, *, dry_run: bool = False
) -> int:
    """Delete (or, with `dry_run`, count) the conversations of senders bound to no taxpayer
    that nobody has written to for `keep_for`; the caller commits."""
    condition = _anonymous_and_idle_since(now - keep_for)
    if dry_run:
        return int(await session.scalar(select(func.count()).where(condition)) or 0)
    result = await session.execute(
        delete(Conversation).where(condition).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
