"""Conversations of senders bound to no taxpayer are deleted once idle past the retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import Conversation
from storage.models import Contact
from storage.retention import purge_anonymous_conversations
from tests.resident_helpers import add_taxpayer

NOW = datetime(2027, 5, 10, 10, 0, tzinfo=UTC)
KEEP = timedelta(days=30)


async def _conversation(
    session: AsyncSession, sender: str, idle: timedelta, taxpayer_id: int | None = None
) -> None:
    await session.execute(
        sa.insert(Conversation).values(
            channel="rest",
            sender_id=sender,
            language="pl",
            state={"events": []},
            version=1,
            taxpayer_id=taxpayer_id,
            updated_at=NOW - idle,
        )
    )


async def _senders(session: AsyncSession) -> set[str]:
    return set((await session.scalars(sa.select(Conversation.sender_id))).all())


async def test_only_idle_anonymous_conversations_go(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    await session.execute(
        sa.insert(Contact).values(
            taxpayer_id=taxpayer_id, kind="rest", value="bound-old", source="chat"
        )
    )
    await _conversation(session, "anonymous-old", KEEP + timedelta(minutes=1))
    await _conversation(session, "anonymous-recent", KEEP - timedelta(minutes=1))
    # Bound: its binding decides, whatever the copy in the conversation row says.
    await _conversation(session, "bound-old", KEEP * 3)
    await _conversation(session, "copy-says-bound-old", KEEP * 3, taxpayer_id=taxpayer_id)
    await session.commit()

    assert await purge_anonymous_conversations(session, NOW, KEEP, dry_run=True) == 1
    assert "anonymous-old" in await _senders(session)

    assert await purge_anonymous_conversations(session, NOW, KEEP) == 1
    await session.commit()
    assert await _senders(session) == {"anonymous-recent", "bound-old", "copy-says-bound-old"}
    assert await purge_anonymous_conversations(session, NOW, KEEP) == 0


async def test_the_same_sender_id_on_another_channel_is_not_its_binding(
    session: AsyncSession,
) -> None:
    taxpayer_id = await add_taxpayer(session)
    await session.execute(
        sa.insert(Contact).values(
            taxpayer_id=taxpayer_id, kind="telegram", value="12345", source="chat"
        )
    )
    await _conversation(session, "12345", KEEP * 2)
    await session.commit()
    assert await purge_anonymous_conversations(session, NOW, KEEP) == 1
