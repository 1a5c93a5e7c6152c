"""The audit trail: who did what to whose data (tax secrecy, OP art. 293 onward).

`details` never carries PESEL, phone, e-mail, token, code or amount. The caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import AuditEntry


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
