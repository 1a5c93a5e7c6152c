"""What the panel's tests share (tests/panel, tests/browser, bench/panel_harness): settings with
the panel on, the staff password they all use, adding an account."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.settings import Settings
from storage.staff import Role, add_staff
from storage.staff_models import StaffMember

PASSWORD = "Panel test password 1"
SESSION_SECRET = "panel-test-session-secret-0123456789abcdef"
TEST_ACTOR = "staff:test-setup"


def panel_settings(url: str, **sections: Mapping[str, Any]) -> Settings:
    """Settings with the panel on over the store at `url`; `sections` override any section
    (`panel={"idle_minutes": 5}` is merged into the panel's)."""
    panel = {"enabled": True, "session_secret": SESSION_SECRET, **sections.pop("panel", {})}
    return Settings.model_validate({"database": {"url": url}, "panel": panel, **sections})


async def ensure_staff(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    role: Role,
    now: datetime,
    password: str = PASSWORD,
) -> None:
    """The account `name` with `role`, added unless it exists."""
    async with sessions() as session:
        exists = await session.scalar(sa.select(StaffMember.id).where(StaffMember.name == name))
        if exists is None:
            await add_staff(session, name, role, password, actor=TEST_ACTOR, now=now)
            await session.commit()
