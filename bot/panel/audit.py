"""Who looked at whose data: one audit row per taxpayer a panel page shows (tax secrecy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.panel.auth import current_staff
from kernel.webkeys import CLOCK
from storage.audit import audit


def staff_actor(name: str) -> str:
    """The actor a staff member's doings in the panel are written under, e.g. `staff:anna`."""
    return f"staff:{name}"


async def audit_view(
    request: web.Request,
    session: AsyncSession,
    taxpayer_id: int | None,
    what: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record that the signed-in staff member viewed `what` of this taxpayer (action
    `panel.view.<what>`). Call it once per taxpayer a page or fragment shows; `details` never
    carries PESEL, contacts or amounts. The caller commits `session`."""
    await audit(
        session,
        staff_actor(current_staff(request).name),
        f"panel.view.{what}",
        taxpayer_id,
        details or {},
        request.app[CLOCK].now(),
    )
