"""Staff rows for hand-off tests: the panel's accounts as the store has them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.staff_models import StaffMember


async def add_clerks(session: AsyncSession, now: datetime, *names: str) -> None:
    """Clerks by name (no password is checked by the commands under test)."""
    await session.execute(
        sa.insert(StaffMember),
        [
            {
                "name": name,
                "role": "clerk",
                "password_hash": "-",
                "disabled": False,
                "created_at": now,
                "updated_at": now,
                "password_changed_at": now,
            }
            for name in names
        ],
    )
