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

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import WARSAW
from storage.audit import audit, chat_actor
from storage.conversation_models import Case
from storage.references import next_number

CASE_PREFIX = "RS"


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


async def create_case(
    session: AsyncSession,
    taxpayer_id: int,
    form_type: str,
    data: Mapping[str, Any],
    channel: str,
    now: datetime,
    prefix: str = CASE_PREFIX,
    turn_key: str | None = None,
) -> str:
    """File a submitted form; returns its reference, e.g. `RS-2026-000123`.

    A turn run again (same `turn_key`) gets the case it filed the first time.
    """
    if turn_key is not None:
        filed = await session.scalar(select(Case.ref).where(Case.turn_key == turn_key))
        if filed is not None:
            return filed
    year = now.astimezone(WARSAW).year
    ref = f"{prefix}-{year}-{await next_number(session, 'case', year):06d}"
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


def _case_record(case: Case) -> CaseRecord:
    return CaseRecord(
        ref=case.ref,
        form_type=case.form_type,
        status=CaseStatus(case.status),
        channel=case.channel,
        data=dict(case.data),
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


async def list_cases(session: AsyncSession, taxpayer_id: int) -> list[CaseRecord]:
    """The taxpayer's own cases, newest first."""
    cases = await session.scalars(
        select(Case)
        .where(Case.taxpayer_id == taxpayer_id)
        .order_by(Case.created_at.desc(), Case.id.desc())
    )
    return [_case_record(case) for case in cases]


async def get_case(session: AsyncSession, taxpayer_id: int, case_ref: str) -> CaseRecord | None:
    """The case if it is this taxpayer's; another's case is as unknown as a missing one."""
    case = await session.scalar(
        select(Case).where(Case.ref == case_ref.strip().upper(), Case.taxpayer_id == taxpayer_id)
    )
    return _case_record(case) if case is not None else None


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
