"""Moving a case: received → in progress → decided or refused, by a staff member, with a note.

    move_case      the one command: forward only, the case row locked, audited, and the
                   resident's notice queued in the same transaction
    case_history   a case's moves, oldest first

Two clerks moving one case at once: each says the status they saw (`expected`); the row lock
orders them, the first moves it and the second gets `CaseMovedMeanwhile` naming the status and
who moved it. The same move sent again by the same clerk (a retried form) changes nothing and
returns the move made the first time.

The resident is told through the outbox, once per move (key `case-move:<event id>`), in their
language: on the chat the case was filed from while that chat is still bound to them and
reachable, else on their first consented channel for personal notices (`reminders`, the order
they chose); with neither, nobody is told and the move says so (`notice_channel` NULL).
The caller commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import ConflictError, InputError, NotFoundError
from kernel.i18n import normalise_language, render
from kernel.redact import mask_pesel_everywhere
from storage.audit import audit
from storage.bindings import bound_taxpayer
from storage.casework import CaseStatus, normalise_ref
from storage.conversation_models import Case, CaseEvent, Conversation
from storage.models import Taxpayer
from storage.outbox import Category, NewMessage, enqueue, is_unreachable
from storage.preferences import DEFAULT_ORDER, delivery_channels
from storage.sql import lock_rows

# Forward only; a refusal needs a note (the resident is owed the reason).
NEXT_STATUSES: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    CaseStatus.SUBMITTED: (CaseStatus.IN_REVIEW,),
    CaseStatus.IN_REVIEW: (CaseStatus.DECIDED, CaseStatus.REJECTED),
    CaseStatus.DECIDED: (),
    CaseStatus.REJECTED: (),
}
NOTE_REQUIRED = frozenset({CaseStatus.REJECTED})
MAX_NOTE_LENGTH = 1000
# The consent a case notice goes out under when the filing chat cannot carry it.
NOTICE_CONSENT = "reminders"

_cases = Case.metadata.tables[Case.__tablename__]


class CaseMoveRefused(InputError):
    """A move the rules do not allow: backwards, skipping a step, a refusal without a note;
    `why` says which (`not_allowed`, `note_required`, `note_too_long`)."""

    def __init__(self, why: str, message: str) -> None:
        self.why = why
        super().__init__(message)


class CaseMovedMeanwhile(ConflictError):
    """Someone moved the case since the clerk saw it; `status` is where it is now."""

    def __init__(self, ref: str, status: CaseStatus, by: str | None) -> None:
        self.status = status
        self.by = by
        who = f" by {by}" if by else ""
        super().__init__(f"case {ref} was moved meanwhile{who}; it is now {status.value}")


@dataclass(frozen=True)
class CaseMove:
    id: int
    from_status: CaseStatus
    to_status: CaseStatus
    note: str | None
    staff_name: str
    at: datetime
    notice_channel: str | None


def _clean_note(note: str | None) -> str | None:
    """The note as kept and sent: trimmed, PESEL-shaped numbers masked; empty is none."""
    text = (note or "").strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise CaseMoveRefused(
            "note_too_long", f"the note has {len(text)} characters; at most {MAX_NOTE_LENGTH}"
        )
    return str(mask_pesel_everywhere(text)) or None


def check_move(expected: CaseStatus, to: CaseStatus, note: str | None) -> None:
    if to not in NEXT_STATUSES[expected]:
        allowed = ", ".join(status.value for status in NEXT_STATUSES[expected]) or "none"
        raise CaseMoveRefused(
            "not_allowed", f"a case {expected.value} cannot move to {to.value} (allowed: {allowed})"
        )
    if to in NOTE_REQUIRED and not note:
        raise CaseMoveRefused(
            "note_required", f"moving a case to {to.value} needs a note for the resident"
        )


def _move(event: CaseEvent) -> CaseMove:
    return CaseMove(
        id=event.id,
        from_status=CaseStatus(event.from_status),
        to_status=CaseStatus(event.to_status),
        note=event.note,
        staff_name=event.staff_name,
        at=event.at,
        notice_channel=event.notice_channel,
    )


async def _last_event(session: AsyncSession, case_id: int) -> CaseEvent | None:
    event: CaseEvent | None = await session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id.desc()).limit(1)
    )
    return event


async def move_case(
    session: AsyncSession,
    ref: str,
    expected: CaseStatus,
    to: CaseStatus,
    note: str | None,
    staff_name: str,
    now: datetime,
    prepare_notice: Callable[[NewMessage], NewMessage] | None = None,
) -> CaseMove:
    """Move the case `ref` from `expected` (the status the clerk saw) to `to`.

    `prepare_notice` finishes the resident's notice before it is queued (the server holds it
    through the quiet hours and measures an SMS: rules that live above the store).

    Raises CaseMoveRefused (the rules), NotFoundError (no such case), CaseMovedMeanwhile (it is
    no longer `expected`, and this is not the same move sent again).
    """
    note = _clean_note(note)
    check_move(expected, to, note)
    ref = normalise_ref(ref)
    case_id = await session.scalar(select(Case.id).where(Case.ref == ref))
    if case_id is None:
        raise NotFoundError(f"no case {ref}")
    await lock_rows(await session.connection(), _cases, [case_id])
    case = (
        await session.execute(
            select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    if case.status != expected.value:
        last = await _last_event(session, case.id)
        if last is not None and (
            (last.from_status, last.to_status, last.note, last.staff_name)
            == (expected.value, to.value, note, staff_name)
        ):
            return _move(last)
        raise CaseMovedMeanwhile(
            ref, CaseStatus(case.status), last.staff_name if last is not None else None
        )
    await session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status == expected.value)
        .values(status=to.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    address = await _notice_address(session, case)
    event_id = (
        await session.execute(
            insert(CaseEvent)
            .values(
                case_id=case.id,
                from_status=expected.value,
                to_status=to.value,
                note=note,
                staff_name=staff_name,
                at=now,
                notice_channel=address[0] if address else None,
            )
            .returning(CaseEvent.id)
        )
    ).scalar_one()
    if address is not None:
        await _queue_notice(session, case, event_id, to, note, address, now, prepare_notice)
    await audit(
        session,
        f"staff:{staff_name}",
        "case.moved",
        case.taxpayer_id,
        {
            "case_ref": ref,
            "from": expected.value,
            "to": to.value,
            "notice_channel": address[0] if address else None,
        },
        now,
    )
    return CaseMove(event_id, expected, to, note, staff_name, now, address[0] if address else None)


async def _notice_address(session: AsyncSession, case: Case) -> tuple[str, str, str] | None:
    """(channel, address, language) the resident is told on, or None when there is nowhere."""
    taxpayer_language = await session.scalar(
        select(Taxpayer.language).where(Taxpayer.id == case.taxpayer_id)
    )
    if (
        case.sender_id is not None
        and case.channel in DEFAULT_ORDER
        and await bound_taxpayer(session, case.channel, case.sender_id) == case.taxpayer_id
        and not await is_unreachable(session, case.channel, case.sender_id)
    ):
        # The language they last spoke in that chat.
        chat_language = await session.scalar(
            select(Conversation.language).where(
                Conversation.channel == case.channel, Conversation.sender_id == case.sender_id
            )
        )
        return case.channel, case.sender_id, chat_language or taxpayer_language or "pl"
    consented = (await delivery_channels(session, [case.taxpayer_id], NOTICE_CONSENT)).get(
        case.taxpayer_id
    )
    if not consented:
        return None
    channel, address = consented[0]
    return channel, address, taxpayer_language or "pl"


async def _queue_notice(
    session: AsyncSession,
    case: Case,
    event_id: int,
    to: CaseStatus,
    note: str | None,
    address: tuple[str, str, str],
    now: datetime,
    prepare: Callable[[NewMessage], NewMessage] | None,
) -> None:
    channel, recipient, language = address
    language = normalise_language(language)
    values = {"case_ref": case.ref, "form_type": case.form_type, "status": to.value}
    text = (
        render("notice_case_moved_note", language, {**values, "note": note})
        if note
        else render("notice_case_moved", language, values)
    )
    notice = NewMessage(
        key=f"case-move:{event_id}",
        channel=channel,
        recipient=recipient,
        category=Category.CASE_UPDATE,
        text=text,
        language=language,
        taxpayer_id=case.taxpayer_id,
    )
    await enqueue(session, [prepare(notice) if prepare is not None else notice], now)


async def case_history(session: AsyncSession, case_id: int) -> list[CaseMove]:
    """The case's moves, oldest first."""
    events = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    )
    return [_move(event) for event in events]
