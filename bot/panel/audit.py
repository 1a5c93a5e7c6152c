"""Who looked at whose data: one audit row per taxpayer a panel page shows (tax secrecy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.panel.auth import current_staff
from kernel.webkeys import CLOCK
from storage.audit import audit, audit_many, staff_actor

# `staff:<name>`: the panel's pages and storage's commands write the same actor.
__all__ = ["audit_view", "audit_views", "staff_actor"]


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


async def audit_views(
    request: web.Request,
    session: AsyncSession,
    views: Sequence[tuple[int, Mapping[str, Any]]],
    what: str,
) -> None:
    """`audit_view` for every `(taxpayer_id, details)` a page shows, in one statement: the same
    rows, one per taxpayer, for a list of many. The caller commits `session`."""
    await audit_many(
        session,
        staff_actor(current_staff(request).name),
        f"panel.view.{what}",
        views,
        request.app[CLOCK].now(),
    )
