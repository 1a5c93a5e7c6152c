"""References numbered per kind and year, e.g. `RS-2026-000123` (cases), `ZG-2026-000007`
(hand-offs): `ref_sequences` keeps the last number, and its row lock orders concurrent writers."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import RefSequence
from storage.sql import insert_on_conflict


async def claim_numbers(session: AsyncSession, name: str, year: int, count: int = 1) -> int:
    """The first of the `count` next numbers of `name` in `year`; the row stays locked until
    the caller commits."""
    await session.execute(
        insert_on_conflict(session, RefSequence)
        .values(name=name, year=year, last=0)
        .on_conflict_do_nothing()
    )
    claimed = await session.execute(
        update(RefSequence)
        .where(RefSequence.name == name, RefSequence.year == year)
        .values(last=RefSequence.last + count)
        .returning(RefSequence.last)
        .execution_options(synchronize_session=False)
    )
    last: int = claimed.scalar_one()
    return last - count + 1
