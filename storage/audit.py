"""The audit trail: who did what to whose data (tax secrecy, OP art. 293 onward).

`details` never carries PESEL, phone, e-mail, token, code or amount. The caller commits.
`audit_page` reads the trail back for the panel's audit page, newest first, a page at a time
(keyset: rows after a given row), filtered by actor, action (prefix), taxpayer and period.
Nothing here changes or deletes a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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


async def audit_many(
    session: AsyncSession,
    actor: str,
    action: str,
    entries: Sequence[tuple[int | None, Mapping[str, Any]]],
    now: datetime,
) -> None:
    """One row per `(taxpayer_id, details)`, all by `actor` doing `action`, in one statement
    (a page that shows fifty taxpayers writes fifty rows in one round trip)."""
    if entries:
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
    """Up to `limit` rows matching `where`, newest first (by time, then id), all after the row
    `before_id` in that order if given. The (at, id) index serves the order, the period and the
    page mark; (actor, at) and (taxpayer_id, at) the filters."""
    query = (
        select(AuditEntry, Taxpayer.ref)
        .outerjoin(Taxpayer, Taxpayer.id == AuditEntry.taxpayer_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        marker = aliased(AuditEntry)
        mark_at = select(marker.at).where(marker.id == before_id).scalar_subquery()
        # A row-value comparison: both engines walk the (at, id) index from the mark.
        query = query.where(tuple_(AuditEntry.at, AuditEntry.id) < tuple_(mark_at, before_id))
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
