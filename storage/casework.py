"""Casework: forms residents submitted as cases, and conversations handed to the office.

References are `<prefix>-<year>-<number>`, numbered per year (Europe/Warsaw) by `ref_sequences`,
whose row lock orders concurrent writers. A turn run again files no second case (`turn_key`), and
a chat with an open hand-off ticket joins it. The caller commits.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import WARSAW
from kernel.redact import mask_pesel_everywhere, mask_secrets
from storage.audit import audit, chat_actor
from storage.conversation_models import Case, CaseEvent, HandoffTicket, RefSequence
from storage.sql import insert_on_conflict

CASE_PREFIX = "RS"
TICKET_PREFIX = "ZG"


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


async def claim_numbers(session: AsyncSession, name: str, year: int, count: int = 1) -> int:
    """The first of `count` next numbers of `name` in `year`; the row stays locked until the
    caller commits."""
    await session.execute(
        insert_on_conflict(session, RefSequence)
        .values(name=name, year=year, last=0)
        .on_conflict_do_nothing()
    )
    claimed = await session.execute(
        update(RefSequence)
        .where(RefSequence.name == name, RefSequence.year == year)
        .values(last=RefSequence.last + count)
        .returning(RefSequence.last)
        .execution_options(synchronize_session=False)
    )
    last: int = claimed.scalar_one()
    return last - count + 1


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


async def create_handoff_ticket(
    session: AsyncSession,
    channel: str,
    sender_id: str,
    taxpayer_id: int | None,
    last_turns: Sequence[Any],
    now: datetime,
) -> str:
    """Hand the conversation to the office; returns the ticket reference, e.g. `ZG-2026-000007`.

    PESEL-shaped numbers and activation codes in the transcript are masked before it is kept.

    A chat with a ticket still open joins it: asking twice (or a turn run again) is one ticket.
    """
    open_ref = await session.scalar(
        select(HandoffTicket.ref)
        .where(
            HandoffTicket.channel == channel,
            HandoffTicket.sender_id == sender_id,
            HandoffTicket.status == "open",
        )
        .order_by(HandoffTicket.id)
        .limit(1)
    )
    if open_ref is not None:
        return open_ref
    year = now.astimezone(WARSAW).year
    ref = f"{TICKET_PREFIX}-{year}-{await claim_numbers(session, 'handoff', year):06d}"
    await session.execute(
        insert(HandoffTicket).values(
            ref=ref,
            channel=channel,
            sender_id=sender_id,
            taxpayer_id=taxpayer_id,
            transcript=[mask_pesel_everywhere(_masked_turn(turn)) for turn in last_turns],
            status="open",
            created_at=now,
        )
    )
    await audit(
        session,
        chat_actor(channel),
        "handoff.created",
        taxpayer_id,
        {"ticket_ref": ref, "channel": channel},
        now,
    )
    return ref


def _masked_turn(turn: Any) -> Any:
    """A transcript turn with PESEL and codes masked in its text (staff read it, it is kept)."""
    if isinstance(turn, Mapping) and isinstance(turn.get("text"), str):
        return {**turn, "text": mask_secrets(turn["text"])}
    return turn


async def open_handoff_ticket(session: AsyncSession, channel: str, sender_id: str) -> str | None:
    """The reference of this chat's hand-off ticket still open, if any."""
    ref: str | None = await session.scalar(
        select(HandoffTicket.ref)
        .where(
            HandoffTicket.channel == channel,
            HandoffTicket.sender_id == sender_id,
            HandoffTicket.status == "open",
        )
        .order_by(HandoffTicket.id.desc())
        .limit(1)
    )
    return ref


async def join_handoff_ticket(session: AsyncSession, ref: str, last_turns: Sequence[Any]) -> None:
    """The resident asked again while the ticket is open: staff see the newer turns there."""
    transcript = [mask_pesel_everywhere(_masked_turn(turn)) for turn in last_turns]
    await session.execute(
        update(HandoffTicket).where(HandoffTicket.ref == ref).values(transcript=transcript)
    )


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
