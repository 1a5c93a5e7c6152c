"""Queries on cases and hand-off tickets that the conversation asks before it files anew.

The writers (create_case, create_handoff_ticket) live in storage/conversations.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import Case, HandoffTicket

OPEN = "open"


async def open_handoff_ticket(session: AsyncSession, channel: str, sender_id: str) -> str | None:
    """The reference of this chat's hand-off ticket still open, if any."""
    ref: str | None = await session.scalar(
        select(HandoffTicket.ref)
        .where(
            HandoffTicket.channel == channel,
            HandoffTicket.sender_id == sender_id,
            HandoffTicket.status == OPEN,
        )
        .order_by(HandoffTicket.id.desc())
        .limit(1)
    )
    return ref


async def join_handoff_ticket(session: AsyncSession, ref: str, last_turns: Sequence[Any]) -> None:
    """The resident asked again while the ticket is open: staff see the newer turns there."""
    await session.execute(
        update(HandoffTicket).where(HandoffTicket.ref == ref).values(transcript=list(last_turns))
    )


async def same_case_since(
    session: AsyncSession,
    taxpayer_id: int,
    form_type: str,
    data: Mapping[str, Any],
    since: datetime,
) -> str | None:
    """The reference of a case with the same form and answers filed since `since`, if any."""
    cases = await session.execute(
        select(Case.ref, Case.data)
        .where(
            Case.taxpayer_id == taxpayer_id,
            Case.form_type == form_type,
            Case.created_at >= since,
        )
        .order_by(Case.id.desc())
    )
    wanted = dict(data)
    return next((ref for ref, filed in cases if filed == wanted), None)
