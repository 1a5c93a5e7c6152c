"""The audit trail: who did what to whose data (tax secrecy, OP art. 293 onward).

`details` never carries PESEL, phone, e-mail, token, code or amount. The caller commits.
`audit_page` reads the trail back for the panel's audit page, newest first, a page at a time
(keyset: rows older than a given id), filtered by actor, action (prefix), taxpayer and period.
Nothing here changes or deletes a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import AuditEntry
from storage.models import Taxpayer


def chat_actor(channel: str) -> str:
    """The actor a chat channel's own doings are written under, e.g. `chat:telegram`."""
    return f"chat:{channel}"


def staff_actor(name: str) -> str:
    """The actor a staff member's doings are written under, e.g. `staff:anna`."""
    return f"staff:{name}"


async def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    taxpayer_id: int | None,
    details: Mapping[str, Any],
    now: datetime,
) -> None:
    """Record who did what to whose data; `details` never carries PESEL, contacts or amounts."""
    await session.execute(
        insert(AuditEntry).values(
            at=now, actor=actor, action=action, taxpayer_id=taxpayer_id, details=dict(details)
        )
    )


async def audit_each(
    session: AsyncSession,
    actor: str,
    action: str,
    entries: Sequence[tuple[int | None, Mapping[str, Any]]],
    now: datetime,
) -> None:
    """`audit` for many taxpayers at once, `(taxpayer_id, details)` each: one statement."""
    if not entries:
        return
    await session.execute(
        insert(AuditEntry),
        [
            {
                "at": now,
                "actor": actor,
                "action": action,
                "taxpayer_id": taxpayer_id,
                "details": dict(details),
            }
            for taxpayer_id, details in entries
        ],
    )


@dataclass(frozen=True)
class AuditFilter:
    """Rows matching all that is given: the actor exactly, the action by its start
    (`panel.view` matches `panel.view.case`), the taxpayer, `since` ≤ at < `until`."""

    actor: str | None = None
    action: str | None = None
    taxpayer_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: datetime
    actor: str
    action: str
    taxpayer_id: int | None
    # The taxpayer's reference when the row names one that still exists.
    taxpayer_ref: str | None
    details: dict[str, Any]


async def audit_page(
    session: AsyncSession, where: AuditFilter, *, before_id: int | None, limit: int
) -> list[AuditLine]:
    """Up to `limit` rows matching `where`, newest first, all older than `before_id` if given."""
    query = (
        select(AuditEntry, Taxpayer.ref)
        .outerjoin(Taxpayer, Taxpayer.id == AuditEntry.taxpayer_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if where.actor is not None:
        query = query.where(AuditEntry.actor == where.actor)
    if where.action is not None:
        query = query.where(AuditEntry.action.startswith(where.action, autoescape=True))
    if where.taxpayer_id is not None:
        query = query.where(AuditEntry.taxpayer_id == where.taxpayer_id)
    if where.since is not None:
        query = query.where(AuditEntry.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.at < where.until)
    rows = (await session.execute(query)).all()
    return [
        AuditLine(
            entry.id, entry.at, entry.actor, entry.action, entry.taxpayer_id, ref, entry.details
        )
        for entry, ref in rows
    ]
