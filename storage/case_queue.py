"""The cases as staff see them: the list to work through and one case with its history.

case_queue    a page of cases, by kind and status or a reference's beginning, newest or
              oldest first, paged by keyset (the (created_at, id) of the page's last row),
              so page 1 000 costs what page 1 does (indexes in migration 0017)
staff_case    one case with its taxpayer and its moves
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import InputError
from storage.case_moves import CaseMove, case_history
from storage.casework import CaseStatus, normalise_ref
from storage.conversation_models import Case
from storage.models import Taxpayer

PAGE_SIZE = 50
_cases = Case.metadata.tables[Case.__tablename__]
MAX_SEARCH_LENGTH = 32


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the next page starts after this (created_at, id)."""

    created_at: datetime
    id: int

    def token(self) -> str:
        return f"{self.created_at.isoformat()}_{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        stamp, separator, case_id = token.rpartition("_")
        try:
            created_at = datetime.fromisoformat(stamp)
            if not separator or created_at.tzinfo is None:
                raise ValueError(token)
            return cls(created_at, int(case_id))
        except ValueError:
            raise InputError(f"not a page position: {token[:40]!r}") from None


@dataclass(frozen=True)
class QueueFilter:
    form_type: str | None = None
    status: CaseStatus | None = None
    # The beginning of a reference, as typed (`rs-2026-0001`).
    ref: str | None = None
    newest_first: bool = True


@dataclass(frozen=True)
class QueuedCase:
    id: int
    ref: str
    form_type: str
    status: CaseStatus
    channel: str
    created_at: datetime
    updated_at: datetime
    taxpayer_id: int
    taxpayer_ref: str
    taxpayer_name: str


@dataclass(frozen=True)
class QueuePage:
    cases: list[QueuedCase]
    # The position to ask for the next page with; None on the last page.
    next_cursor: Cursor | None


@dataclass(frozen=True)
class StaffCase:
    case: QueuedCase
    data: dict[str, Any]
    taxpayer_pesel: str | None
    sender_known: bool
    history: list[CaseMove]


def _name(first_name: str, last_name: str) -> str:
    return f"{first_name} {last_name}".strip()


def _queued_columns() -> Select[*tuple[Any, ...]]:
    return select(
        Case.id,
        Case.ref,
        Case.form_type,
        Case.status,
        Case.channel,
        Case.created_at,
        Case.updated_at,
        Case.taxpayer_id,
        Taxpayer.ref,
        Taxpayer.first_name,
        Taxpayer.last_name,
    ).join(Taxpayer, Taxpayer.id == Case.taxpayer_id)


def _queued(row: Any) -> QueuedCase:
    (case_id, ref, form_type, status, channel, created, updated, taxpayer_id, taxpayer_ref,
     first_name, last_name) = row  # fmt: skip
    return QueuedCase(
        case_id, ref, form_type, CaseStatus(status), channel, created, updated, taxpayer_id,
        taxpayer_ref, _name(first_name, last_name),
    )  # fmt: skip


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def case_queue(
    session: AsyncSession,
    wanted: QueueFilter,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """One page of cases; `after` is the previous page's `next_cursor`."""
    query = _queued_columns()
    if wanted.form_type is not None:
        query = query.where(Case.form_type == wanted.form_type)
    if wanted.status is not None:
        query = query.where(Case.status == wanted.status.value)
    if wanted.ref:
        search = normalise_ref(wanted.ref)
        if len(search) > MAX_SEARCH_LENGTH:
            raise InputError(f"a reference has at most {MAX_SEARCH_LENGTH} characters")
        query = query.where(Case.ref.like(_like_prefix(search), escape="\\"))
    position = tuple_(Case.created_at, Case.id)
    if after is not None:
        # Typed like the columns: SQLite keeps the time as UtcDateTime writes it.
        mark = tuple_(
            literal(after.created_at, _cases.c.created_at.type), literal(after.id, _cases.c.id.type)
        )
        query = query.where(position < mark if wanted.newest_first else position > mark)
    if wanted.newest_first:
        query = query.order_by(Case.created_at.desc(), Case.id.desc())
    else:
        query = query.order_by(Case.created_at, Case.id)
    rows = [_queued(row) for row in await session.execute(query.limit(limit + 1))]
    cases = rows[:limit]
    more = len(rows) > limit
    return QueuePage(cases, Cursor(cases[-1].created_at, cases[-1].id) if more else None)


async def staff_case(session: AsyncSession, ref: str) -> StaffCase | None:
    """The case `ref` with its form's answers, its taxpayer and its moves; None if unknown."""
    row = (
        await session.execute(
            _queued_columns()
            .add_columns(Case.data, Taxpayer.pesel, Case.sender_id)
            .where(Case.ref == normalise_ref(ref))
        )
    ).first()
    if row is None:
        return None
    case = _queued(row[:11])
    data, pesel, sender_id = row[11:]
    return StaffCase(
        case=case,
        data=dict(data),
        taxpayer_pesel=pesel,
        sender_known=sender_id is not None,
        history=await case_history(session, case.id),
    )
