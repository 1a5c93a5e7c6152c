"""What the panel's tests share (tests/panel, tests/browser, bench/panel_harness): settings with
the panel on, the staff password they all use, adding an account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.panel.totp import STEP_SECONDS, code_at, step_of
from kernel.clock import FrozenClock
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


_SECRET_ON_PAGE = re.compile(r'id="totp-secret">([A-Z2-7 ]+)</code>')


def secret_on_enrol_page(html: str) -> str:
    """The TOTP secret the enrolment page shows (grouped by fours), as an app would read it."""
    found = _SECRET_ON_PAGE.search(html)
    if found is None:
        raise AssertionError("the page shows no TOTP secret")
    return found.group(1).replace(" ", "")


@dataclass
class Authenticators:
    """The authenticator apps of the test's staff: each account's secret, and the codes used.

    The server accepts each time step's code once, and tests run on a frozen clock: before a
    second code in the same step the clock is moved on to the next step, as a person would wait.
    """

    secrets: dict[str, str] = field(default_factory=dict)
    last_steps: dict[str, int] = field(default_factory=dict)

    def code(self, name: str, clock: FrozenClock) -> str:
        step = step_of(clock.now())
        last = self.last_steps.get(name)
        if last is not None and step <= last:
            clock.advance(timedelta(seconds=STEP_SECONDS * (last - step + 1)))
            step = last + 1
        self.last_steps[name] = step
        return code_at(self.secrets[name], step)
