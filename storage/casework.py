"""Casework: forms residents submitted as cases (hand-offs are `storage.handoffs`).

References are `<prefix>-<year>-<number>`, numbered per year (Europe/Warsaw) by
`storage.references`. A turn run again files no second case (`turn_key`). The caller commits.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import WARSAW
from storage.audit import audit, chat_actor
from storage.conversation_models import Case, CaseEvent
from storage.references import claim_numbers

CASE_PREFIX = "RS"


# The kinds of case the forms file (actions/forms.py), as the staff panel filters them.
FORM_TYPES = ("waste_declaration_change", "no_arrears_certificate", "installments")


class CaseStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    DECIDED = "decided"
    REJECTED = "rejected"


@dataclass(frozen=True)
class CaseRecord:
    ref: str
    form_type: str
    status: CaseStatus
    channel: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    # The note of the case's latest move, if it had one (what the office last told the resident).
    note: str | None = None


async def create_case(
    session: AsyncSession,
    taxpayer_id: int,
    form_type: str,
    data: Mapping[str, Any],
    channel: str,
    now: datetime,
    prefix: str = CASE_PREFIX,
    turn_key: str | None = None,
    sender_id: str | None = None,
) -> str:
    """File a submitted form; returns its reference, e.g. `RS-2026-000123`.

    `sender_id` is the chat it came from, which is told of the case's moves (storage.case_moves).
    A turn run again (same `turn_key`) gets the case it filed the first time.
    """
    if turn_key is not None:
        filed = await session.scalar(select(Case.ref).where(Case.turn_key == turn_key))
        if filed is not None:
            return filed
    year = now.astimezone(WARSAW).year
    ref = f"{prefix}-{year}-{await claim_numbers(session, 'case', year):06d}"
    await session.execute(
        insert(Case).values(
            ref=ref,
            taxpayer_id=taxpayer_id,
            form_type=form_type,
            status=CaseStatus.SUBMITTED.value,
            data=dict(data),
            channel=channel,
            created_at=now,
            updated_at=now,
            turn_key=turn_key,
            sender_id=sender_id,
        )
    )
    await audit(
        session,
        chat_actor(channel),
        "case.created",
        taxpayer_id,
        {"case_ref": ref, "form_type": form_type},
        now,
    )
    return ref


def _case_record(case: Case, note: str | None) -> CaseRecord:
    return CaseRecord(
        ref=case.ref,
        form_type=case.form_type,
        status=CaseStatus(case.status),
        channel=case.channel,
        data=dict(case.data),
        created_at=case.created_at,
        updated_at=case.updated_at,
        note=note,
    )


def _with_last_note() -> Select[Case, str | None]:
    """Cases with the note of their latest move: the record the panel moves, the chat reads."""
    last_note = (
        select(CaseEvent.note)
        .where(CaseEvent.case_id == Case.id)
        .order_by(CaseEvent.id.desc())
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )
    return select(Case, last_note)


async def list_cases(session: AsyncSession, taxpayer_id: int) -> list[CaseRecord]:
    """The taxpayer's own cases, newest first."""
    rows = await session.execute(
        _with_last_note()
        .where(Case.taxpayer_id == taxpayer_id)
        .order_by(Case.created_at.desc(), Case.id.desc())
    )
    return [_case_record(case, note) for case, note in rows]


async def get_case(session: AsyncSession, taxpayer_id: int, case_ref: str) -> CaseRecord | None:
    """The case if it is this taxpayer's; another's case is as unknown as a missing one."""
    row = (
        await session.execute(
            _with_last_note().where(
                Case.ref == normalise_ref(case_ref), Case.taxpayer_id == taxpayer_id
            )
        )
    ).first()
    return _case_record(row[0], row[1]) if row is not None else None


def normalise_ref(case_ref: str) -> str:
    """A reference as typed (`rs-2026-000123 `) as it is stored."""
    return case_ref.strip().upper()


async def same_case_since(
    session: AsyncSession,
    taxpayer_id: int,
    form_type: str,
    data: Mapping[str, Any],
    since: datetime,
) -> str | None:
    """The reference of a case with the same form and answers filed since `since`, if any."""
    cases = await session.execute(
        select(Case.ref, Case.data)
        .where(
            Case.taxpayer_id == taxpayer_id,
            Case.form_type == form_type,
            Case.created_at >= since,
        )
        .order_by(Case.id.desc())
    )
    wanted = dict(data)
    return next((ref for ref, filed in cases if filed == wanted), None)
