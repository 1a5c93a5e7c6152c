"""Hand-offs: a conversation given to a person at the tax office, and its thread.

    create_handoff_ticket   the resident asked for a person; a chat with a ticket open joins it
    add_resident_message    while a ticket is open, what the resident writes lands in its thread
                            (once per provider message: a redelivery adds nothing)
    take_ticket             one clerk at a time; another's take is refused unless reassigned
    add_staff_answer        the clerk's answer, once per answer form (`submission_key`)
    close_ticket            the chat returns to the assistant
    open_tickets / count_open_tickets / ticket / ticket_messages   what the panel shows

Messages are numbered 1, 2, … per ticket; the ticket's `message_count` UPDATE takes the row's
lock, so two writers to one thread (the resident and a clerk, or two clerks) take turns. Texts are
kept with PESEL-shaped numbers and activation codes masked (`kernel.redact`). The outbox rows that
carry an answer or the closing notice to the resident are the caller's (it renders them for the
channel) and go in the same transaction. The caller commits.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, literal_column, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import WARSAW
from kernel.errors import InputError
from kernel.i18n import normalise_language
from kernel.redact import mask_pesel_everywhere, mask_secrets
from storage.audit import audit, chat_actor, staff_actor
from storage.conversation_models import HandoffMessage, HandoffTicket
from storage.references import claim_numbers

TICKET_PREFIX = "ZG"
# What a clerk may write in one answer: a Telegram message holds 4096 characters with the heading.
ANSWER_LIMIT = 3000
INBOX_PAGE = 50
# Written into the SQL, not bound: only then may the planners use the partial indexes on open
# tickets (a prepared statement's generic plan cannot know a parameter's value).
_IS_OPEN = HandoffTicket.status == literal_column("'open'")
# Turns the inbox shows of each ticket.
INBOX_TURNS = 3


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Author(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"
    # The last turns before the hand-off, from the ticket's transcript.
    ASSISTANT = "assistant"


class Refusal(enum.StrEnum):
    UNKNOWN = "unknown"
    CLOSED = "closed"
    TAKEN = "taken"
    NOT_TAKEN_BY_YOU = "not_taken_by_you"
    EMPTY = "empty"
    TOO_LONG = "too_long"


class TicketRefused(InputError):
    """A command the ticket's state does not allow; `reason` says which, `taken_by` by whom."""

    def __init__(self, ref: str, reason: Refusal, taken_by: str | None = None) -> None:
        super().__init__(f"ticket {ref}: {reason.value}")
        self.ref = ref
        self.reason = reason
        self.taken_by = taken_by


@dataclass(frozen=True)
class Turn:
    """One line of a thread as staff read it."""

    author: Author
    text: str
    at: datetime | None
    staff_name: str | None = None
    number: int | None = None


@dataclass(frozen=True)
class Ticket:
    id: int
    ref: str
    channel: str
    sender_id: str
    taxpayer_id: int | None
    language: str
    status: TicketStatus
    created_at: datetime
    taken_by: str | None
    taken_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    # The turns before the hand-off.
    context: tuple[Turn, ...]


@dataclass(frozen=True)
class InboxEntry:
    ticket: Ticket
    last_turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Landed:
    """A resident's message in a ticket's thread."""

    ticket_ref: str
    number: int
    # The resident's first message in this thread (they are told once that it was passed on).
    first: bool
    # False when the same provider message was there already.
    new: bool


@dataclass(frozen=True)
class Answer:
    ticket: Ticket
    number: int
    text: str
    # False when this answer form was sent before: nothing more was written.
    new: bool


def _masked_turn(turn: Any) -> Any:
    """A transcript turn with PESEL and codes masked in its text (staff read it, it is kept)."""
    if isinstance(turn, Mapping) and isinstance(turn.get("text"), str):
        return {**turn, "text": mask_secrets(turn["text"])}
    return turn


def _masked_transcript(last_turns: Sequence[Any]) -> list[Any]:
    return [mask_pesel_everywhere(_masked_turn(turn)) for turn in last_turns]


# --- the conversation's side ----------------------------------------------------------------------


async def open_handoff_ticket(session: AsyncSession, channel: str, sender_id: str) -> str | None:
    """The reference of this chat's hand-off ticket still open, if any."""
    ref: str | None = await session.scalar(
        select(HandoffTicket.ref)
        .where(
            HandoffTicket.channel == channel,
            HandoffTicket.sender_id == sender_id,
            _IS_OPEN,
        )
        .order_by(HandoffTicket.id.desc())
        .limit(1)
    )
    return ref


async def create_handoff_ticket(
    session: AsyncSession,
    channel: str,
    sender_id: str,
    taxpayer_id: int | None,
    last_turns: Sequence[Any],
    now: datetime,
    language: str = "pl",
) -> str:
    """Hand the conversation to the office; returns the ticket reference, e.g. `ZG-2026-000007`.

    PESEL-shaped numbers and activation codes in the transcript are masked before it is kept.
    A chat with a ticket still open joins it: asking twice (or a turn run again) is one ticket.
    """
    open_ref = await open_handoff_ticket(session, channel, sender_id)
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
            transcript=_masked_transcript(last_turns),
            status=TicketStatus.OPEN.value,
            language=normalise_language(language),
            message_count=0,
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


async def join_handoff_ticket(session: AsyncSession, ref: str, last_turns: Sequence[Any]) -> None:
    """The resident asked again while the ticket is open: staff see the newer turns there."""
    await session.execute(
        update(HandoffTicket)
        .where(HandoffTicket.ref == ref)
        .values(transcript=_masked_transcript(last_turns))
    )


async def add_resident_message(
    session: AsyncSession, channel: str, sender_id: str, text: str, inbound_key: str, now: datetime
) -> Landed | None:
    """Put what the resident wrote into their open ticket's thread; None when no ticket is open.

    `inbound_key` names the provider's message: the same message again lands once.
    """
    found = (
        await session.execute(
            select(HandoffTicket.id, HandoffTicket.ref)
            .where(
                HandoffTicket.channel == channel,
                HandoffTicket.sender_id == sender_id,
                _IS_OPEN,
            )
            .order_by(HandoffTicket.id.desc())
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    ticket_id, ref = found
    number = await _claim_number(session, ticket_id, HandoffMessage.inbound_key, inbound_key)
    if number is None:
        landed = await _number_of(session, ticket_id, HandoffMessage.inbound_key, inbound_key)
        return Landed(ref, landed or 0, first=False, new=False)
    earlier = await session.scalar(
        select(func.count())
        .select_from(HandoffMessage)
        .where(
            HandoffMessage.ticket_id == ticket_id,
            HandoffMessage.author == Author.RESIDENT.value,
        )
    )
    await session.execute(
        insert(HandoffMessage).values(
            ticket_id=ticket_id,
            number=number,
            author=Author.RESIDENT.value,
            text=mask_secrets(text),
            at=now,
            inbound_key=inbound_key,
        )
    )
    return Landed(ref, number, first=not earlier, new=True)


async def _claim_number(
    session: AsyncSession, ticket_id: int, key_column: Any, key: str, *extra: Any
) -> int | None:
    """The next message number of an open ticket, its row locked until the caller commits; None
    when a message under `key` is in the thread already, or the ticket is not open (or `extra`
    conditions fail)."""
    if await _number_of(session, ticket_id, key_column, key) is not None:
        return None
    claimed = await session.scalar(
        update(HandoffTicket)
        .where(
            HandoffTicket.id == ticket_id,
            _IS_OPEN,
            *extra,
        )
        .values(message_count=HandoffTicket.message_count + 1)
        .returning(HandoffTicket.message_count)
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        return None
    # Holding the lock now: a twin that got in first is visible; give the number back.
    if await _number_of(session, ticket_id, key_column, key) is not None:
        await session.execute(
            update(HandoffTicket)
            .where(HandoffTicket.id == ticket_id)
            .values(message_count=HandoffTicket.message_count - 1)
            .execution_options(synchronize_session=False)
        )
        return None
    number: int = claimed
    return number


async def _number_of(
    session: AsyncSession, ticket_id: int, key_column: Any, key: str
) -> int | None:
    number: int | None = await session.scalar(
        select(HandoffMessage.number).where(
            HandoffMessage.ticket_id == ticket_id, key_column == key
        )
    )
    return number


# --- the office's side ----------------------------------------------------------------------------


def _turn_of_transcript(entry: Any) -> Turn | None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("text"), str):
        return None
    author = Author.RESIDENT if entry.get("from") == "resident" else Author.ASSISTANT
    at = entry.get("at")
    when = datetime.fromisoformat(at) if isinstance(at, str) else None
    return Turn(author, entry["text"], when)


def _ticket(row: HandoffTicket) -> Ticket:
    context = (_turn_of_transcript(entry) for entry in row.transcript or [])
    return Ticket(
        id=row.id,
        ref=row.ref,
        channel=row.channel,
        sender_id=row.sender_id,
        taxpayer_id=row.taxpayer_id,
        language=row.language,
        status=TicketStatus(row.status),
        created_at=row.created_at,
        taken_by=row.taken_by,
        taken_at=row.taken_at,
        closed_by=row.closed_by,
        closed_at=row.closed_at,
        context=tuple(turn for turn in context if turn is not None),
    )


def _turn(message: HandoffMessage) -> Turn:
    return Turn(
        Author(message.author), message.text, message.at, message.staff_name, message.number
    )


async def ticket(session: AsyncSession, ref: str) -> Ticket | None:
    row = await session.scalar(select(HandoffTicket).where(HandoffTicket.ref == ref))
    return _ticket(row) if row is not None else None


async def ticket_messages(session: AsyncSession, ticket_id: int) -> list[Turn]:
    """The thread after the hand-off, in order."""
    messages = await session.scalars(
        select(HandoffMessage)
        .where(HandoffMessage.ticket_id == ticket_id)
        .order_by(HandoffMessage.number)
    )
    return [_turn(message) for message in messages]


async def count_open_tickets(session: AsyncSession) -> int:
    count: int = (
        await session.scalar(select(func.count()).select_from(HandoffTicket).where(_IS_OPEN)) or 0
    )
    return count


async def open_tickets(
    session: AsyncSession,
    after: tuple[datetime, int] | None = None,
    limit: int = INBOX_PAGE,
    turns: int = INBOX_TURNS,
) -> list[InboxEntry]:
    """Open tickets, oldest first, each with its last `turns` turns; `after` is the
    (created_at, id) of the last ticket of the page before."""
    query = select(HandoffTicket).where(_IS_OPEN)
    if after is not None:
        created_at, ticket_id = after
        # A row value: both engines read it as one range of the index, from the position on.
        query = query.where(
            tuple_(HandoffTicket.created_at, HandoffTicket.id) > tuple_(created_at, ticket_id)
        )
    rows = list(
        await session.scalars(
            query.order_by(HandoffTicket.created_at, HandoffTicket.id).limit(limit)
        )
    )
    tickets = [_ticket(row) for row in rows]
    recent = await _last_messages(session, [t.id for t in tickets], turns)
    return [
        InboxEntry(t, (*t.context, *recent.get(t.id, ()))[-turns:] if turns else ())
        for t in tickets
    ]


async def _last_messages(
    session: AsyncSession, ticket_ids: Sequence[int], turns: int
) -> dict[int, list[Turn]]:
    if not ticket_ids or not turns:
        return {}
    position = (
        func.row_number()
        .over(partition_by=HandoffMessage.ticket_id, order_by=HandoffMessage.number.desc())
        .label("position")
    )
    ranked = (
        select(HandoffMessage.id, position)
        .where(HandoffMessage.ticket_id.in_(ticket_ids))
        .subquery()
    )
    messages = await session.scalars(
        select(HandoffMessage)
        .join(ranked, ranked.c.id == HandoffMessage.id)
        .where(ranked.c.position <= turns)
        .order_by(HandoffMessage.ticket_id, HandoffMessage.number)
    )
    found: dict[int, list[Turn]] = {}
    for message in messages:
        found.setdefault(message.ticket_id, []).append(_turn(message))
    return found


async def _refusal(session: AsyncSession, ref: str, staff: str) -> TicketRefused:
    """Why a command on the ticket changed nothing, as it stands now."""
    current = await ticket(session, ref)
    if current is None:
        return TicketRefused(ref, Refusal.UNKNOWN)
    if current.status is TicketStatus.CLOSED:
        return TicketRefused(ref, Refusal.CLOSED, current.taken_by)
    if current.taken_by not in (None, staff):
        return TicketRefused(ref, Refusal.TAKEN, current.taken_by)
    return TicketRefused(ref, Refusal.NOT_TAKEN_BY_YOU, current.taken_by)


async def take_ticket(
    session: AsyncSession, ref: str, staff: str, now: datetime, *, reassign: bool = False
) -> Ticket:
    """`staff` works on the ticket from now on. A ticket another clerk took is refused
    (`Refusal.TAKEN`) unless `reassign`; taking one's own ticket again changes nothing."""
    before = await ticket(session, ref)
    if before is None:
        raise TicketRefused(ref, Refusal.UNKNOWN)
    if before.status is TicketStatus.OPEN and before.taken_by == staff:
        return before
    conditions = [HandoffTicket.ref == ref, _IS_OPEN]
    if not reassign:
        # Two clerks at once: the second UPDATE finds the ticket taken and changes nothing.
        conditions.append(HandoffTicket.taken_by.is_(None))
    taken = await session.execute(
        update(HandoffTicket)
        .where(*conditions)
        .values(taken_by=staff, taken_at=now)
        .returning(HandoffTicket.id)
        .execution_options(synchronize_session=False)
    )
    if taken.first() is None:
        raise await _refusal(session, ref, staff)
    reassigned = before.taken_by if before.taken_by not in (None, staff) else None
    details: dict[str, Any] = {"ticket_ref": ref}
    if reassigned is not None:
        details["from"] = staff_actor(reassigned)
    action = "handoff.reassigned" if reassigned is not None else "handoff.taken"
    await audit(session, staff_actor(staff), action, before.taxpayer_id, details, now)
    after = await ticket(session, ref)
    assert after is not None  # just updated
    return after


async def add_staff_answer(
    session: AsyncSession, ref: str, staff: str, text: str, submission_key: str, now: datetime
) -> Answer:
    """The clerk's answer in the thread. Only the clerk who took the ticket answers; the same
    answer form (`submission_key`) sent again writes nothing more (`Answer.new` is False).
    PESEL-shaped numbers and activation codes are masked: no chat carries them, none is kept."""
    text = mask_secrets(text.strip())
    if not text:
        raise TicketRefused(ref, Refusal.EMPTY)
    if len(text) > ANSWER_LIMIT:
        raise TicketRefused(ref, Refusal.TOO_LONG)
    current = await ticket(session, ref)
    if current is None:
        raise TicketRefused(ref, Refusal.UNKNOWN)
    key_column = HandoffMessage.submission_key
    number = await _claim_number(
        session, current.id, key_column, submission_key, HandoffTicket.taken_by == staff
    )
    if number is None:
        sent = await session.execute(
            select(HandoffMessage.number, HandoffMessage.text).where(
                HandoffMessage.ticket_id == current.id, key_column == submission_key
            )
        )
        earlier = sent.first()
        if earlier is None:
            raise await _refusal(session, ref, staff)
        return Answer(current, earlier.number, earlier.text, new=False)
    await session.execute(
        insert(HandoffMessage).values(
            ticket_id=current.id,
            number=number,
            author=Author.STAFF.value,
            staff_name=staff,
            text=text,
            at=now,
            submission_key=submission_key,
        )
    )
    await audit(
        session,
        staff_actor(staff),
        "handoff.answered",
        current.taxpayer_id,
        {"ticket_ref": ref, "message": number},
        now,
    )
    return Answer(current, number, text, new=True)


async def close_ticket(session: AsyncSession, ref: str, staff: str, now: datetime) -> bool:
    """Close the ticket the clerk took; the chat returns to the assistant. False when it was
    closed already (nothing changed); refused when another clerk holds it or nobody took it."""
    closed = await session.execute(
        update(HandoffTicket)
        .where(
            HandoffTicket.ref == ref,
            _IS_OPEN,
            HandoffTicket.taken_by == staff,
        )
        .values(status=TicketStatus.CLOSED.value, closed_by=staff, closed_at=now)
        .returning(HandoffTicket.taxpayer_id)
        .execution_options(synchronize_session=False)
    )
    row = closed.first()
    if row is None:
        refusal = await _refusal(session, ref, staff)
        if refusal.reason is Refusal.CLOSED:
            return False
        raise refusal
    await audit(
        session, staff_actor(staff), "handoff.closed", row.taxpayer_id, {"ticket_ref": ref}, now
    )
    return True
