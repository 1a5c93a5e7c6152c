"""Hand-off tickets and their threads (storage.handoffs), on both engines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import AuditEntry, HandoffMessage
from storage.handoffs import (
    ANSWER_LIMIT,
    Author,
    Refusal,
    TicketRefused,
    TicketStatus,
    add_resident_message,
    add_staff_answer,
    close_ticket,
    count_open_tickets,
    create_handoff_ticket,
    open_handoff_ticket,
    open_tickets,
    take_ticket,
    ticket,
    ticket_messages,
)
from tests.conftest import Store
from tests.handoff_helpers import add_clerks
from tests.resident_helpers import PESEL, add_taxpayer

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


async def _ticket(session: AsyncSession, sender: str = "5", language: str = "en") -> str:
    taxpayer_id = await add_taxpayer(session)
    turns = [
        {"from": "resident", "text": f"mój PESEL {PESEL}", "at": NOW.isoformat()},
        {"from": "assistant", "text": "utter_handoff", "at": NOW.isoformat()},
    ]
    ref = await create_handoff_ticket(
        session, "telegram", sender, taxpayer_id, turns, NOW, language=language
    )
    await add_clerks(session, NOW, "anna", "bartek")
    await session.commit()
    return ref


async def _actions(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        sa.select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.id)
    )
    return [(actor, action) for actor, action in rows]


async def test_a_ticket_keeps_its_language_and_masked_context(session: AsyncSession) -> None:
    ref = await _ticket(session)
    found = await ticket(session, ref)
    assert found is not None
    assert (found.status, found.language, found.channel, found.taken_by) == (
        TicketStatus.OPEN,
        "en",
        "telegram",
        None,
    )
    assert [turn.author for turn in found.context] == [Author.RESIDENT, Author.ASSISTANT]
    assert PESEL not in found.context[0].text
    assert found.context[0].text == "mój PESEL ***"
    assert await open_handoff_ticket(session, "telegram", "5") == ref


async def test_the_residents_messages_land_in_order_once_each(session: AsyncSession) -> None:
    ref = await _ticket(session)
    first = await add_resident_message(session, "telegram", "5", "halo?", "telegram:100", NOW)
    again = await add_resident_message(session, "telegram", "5", "halo?", "telegram:100", LATER)
    second = await add_resident_message(
        session, "telegram", "5", f"PESEL {PESEL}, kod ABCD-EFGH", "telegram:101", LATER
    )
    assert first is not None
    assert again is not None
    assert second is not None
    assert (first.ticket_ref, first.number, first.first, first.new) == (ref, 1, True, True)
    assert (again.number, again.first, again.new) == (1, False, False)
    assert (second.number, second.first, second.new) == (2, False, True)
    found = await ticket(session, ref)
    assert found is not None
    thread = await ticket_messages(session, found.id)
    assert [(turn.number, turn.author, turn.text) for turn in thread] == [
        (1, Author.RESIDENT, "halo?"),
        (2, Author.RESIDENT, "PESEL ***, kod ***"),
    ]
    assert thread[0].at == NOW
    # Another chat has no ticket: its messages are the assistant's.
    assert await add_resident_message(session, "telegram", "6", "hej", "telegram:102", NOW) is None


async def test_one_clerk_takes_a_ticket_and_another_is_refused_unless_reassigned(
    session: AsyncSession,
) -> None:
    ref = await _ticket(session)
    taken = await take_ticket(session, ref, "anna", NOW)
    assert (taken.taken_by, taken.taken_at) == ("anna", NOW)
    # Taking one's own ticket again changes nothing.
    assert (await take_ticket(session, ref, "anna", LATER)).taken_at == NOW
    with pytest.raises(TicketRefused) as refused:
        await take_ticket(session, ref, "bartek", LATER)
    assert (refused.value.reason, refused.value.taken_by) == (Refusal.TAKEN, "anna")
    reassigned = await take_ticket(session, ref, "bartek", LATER, reassign=True)
    assert (reassigned.taken_by, reassigned.taken_at) == ("bartek", LATER)
    assert ("staff:anna", "handoff.taken") in await _actions(session)
    reassign_row = await session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "handoff.reassigned")
    )
    assert reassign_row is not None
    assert (reassign_row.actor, reassign_row.details) == (
        "staff:bartek",
        {"ticket_ref": ref, "from": "staff:anna"},
    )


async def test_only_the_clerk_who_took_it_answers_and_a_form_sent_twice_is_one_answer(
    session: AsyncSession,
) -> None:
    ref = await _ticket(session)
    with pytest.raises(TicketRefused) as untaken:
        await add_staff_answer(session, ref, "anna", "Dzień dobry", "form-1", NOW)
    assert untaken.value.reason is Refusal.NOT_TAKEN_BY_YOU
    await take_ticket(session, ref, "anna", NOW)
    with pytest.raises(TicketRefused) as other:
        await add_staff_answer(session, ref, "bartek", "Dzień dobry", "form-2", NOW)
    assert (other.value.reason, other.value.taken_by) == (Refusal.TAKEN, "anna")
    for empty in ("", "   \n"):
        with pytest.raises(TicketRefused) as blank:
            await add_staff_answer(session, ref, "anna", empty, "form-3", NOW)
        assert blank.value.reason is Refusal.EMPTY
    with pytest.raises(TicketRefused) as long:
        await add_staff_answer(session, ref, "anna", "x" * (ANSWER_LIMIT + 1), "form-4", NOW)
    assert long.value.reason is Refusal.TOO_LONG

    masked = await add_staff_answer(session, ref, "anna", f"Pani PESEL {PESEL}?", "form-0", NOW)
    assert masked.text == "Pani PESEL ***?"
    answer = await add_staff_answer(session, ref, "anna", " Dzień dobry ", "form-5", NOW)
    twice = await add_staff_answer(session, ref, "anna", " Dzień dobry ", "form-5", LATER)
    assert (answer.number, answer.text, answer.new) == (2, "Dzień dobry", True)
    assert (twice.number, twice.new) == (2, False)
    await add_resident_message(session, "telegram", "5", "dziękuję", "telegram:200", LATER)
    found = await ticket(session, ref)
    assert found is not None
    thread = await ticket_messages(session, found.id)
    assert [(turn.number, turn.author, turn.text) for turn in thread] == [
        (1, Author.STAFF, "Pani PESEL ***?"),
        (2, Author.STAFF, "Dzień dobry"),
        (3, Author.RESIDENT, "dziękuję"),
    ]
    assert (await _actions(session)).count(("staff:anna", "handoff.answered")) == 2


async def test_closing_returns_the_chat_and_twice_changes_nothing(session: AsyncSession) -> None:
    ref = await _ticket(session)
    with pytest.raises(TicketRefused) as untaken:
        await close_ticket(session, ref, "anna", NOW)
    assert untaken.value.reason is Refusal.NOT_TAKEN_BY_YOU
    await take_ticket(session, ref, "anna", NOW)
    with pytest.raises(TicketRefused):
        await close_ticket(session, ref, "bartek", NOW)
    assert await close_ticket(session, ref, "anna", LATER) is True
    assert await close_ticket(session, ref, "anna", LATER) is False
    closed = await ticket(session, ref)
    assert closed is not None
    assert (closed.status, closed.closed_by, closed.closed_at) == (
        TicketStatus.CLOSED,
        "anna",
        LATER,
    )
    assert await open_handoff_ticket(session, "telegram", "5") is None
    assert (
        await add_resident_message(session, "telegram", "5", "halo", "telegram:300", LATER) is None
    )
    with pytest.raises(TicketRefused) as late:
        await add_staff_answer(session, ref, "anna", "jeszcze", "form-9", LATER)
    assert late.value.reason is Refusal.CLOSED
    with pytest.raises(TicketRefused) as take_closed:
        await take_ticket(session, ref, "bartek", LATER)
    assert take_closed.value.reason is Refusal.CLOSED
    with pytest.raises(TicketRefused) as unknown:
        await take_ticket(session, "ZG-2026-999999", "anna", LATER)
    assert unknown.value.reason is Refusal.UNKNOWN
    # A new request for a person opens a new ticket.
    again = await create_handoff_ticket(session, "telegram", "5", None, [], LATER)
    assert again != ref


async def test_the_inbox_lists_open_tickets_oldest_first_with_their_last_turns(
    session: AsyncSession,
) -> None:
    await add_clerks(session, NOW, "anna")
    refs = []
    for minute, sender in ((3, "a"), (1, "b"), (2, "c")):
        turns = [{"from": "resident", "text": f"pytanie {sender}", "at": NOW.isoformat()}]
        at = NOW + timedelta(minutes=minute)
        refs.append(await create_handoff_ticket(session, "sms", sender, None, turns, at))
    for number in range(4):
        await add_resident_message(session, "sms", "b", f"b{number}", f"sms:b{number}", LATER)
    await take_ticket(session, refs[2], "anna", LATER)
    assert await close_ticket(session, refs[2], "anna", LATER)
    assert await count_open_tickets(session) == 2

    inbox = await open_tickets(session, turns=3)
    assert [entry.ticket.ref for entry in inbox] == [refs[1], refs[0]]
    assert [turn.text for turn in inbox[0].last_turns] == ["b1", "b2", "b3"]
    assert [turn.text for turn in inbox[1].last_turns] == ["pytanie a"]
    first = inbox[0].ticket
    rest = await open_tickets(session, after=(first.created_at, first.id))
    assert [entry.ticket.ref for entry in rest] == [refs[0]]
    assert [entry.ticket.ref for entry in await open_tickets(session, limit=1)] == [refs[1]]


async def test_two_clerks_taking_at_once_one_wins(store: Store) -> None:
    async with store.sessions() as session:
        ref = await _ticket(session)

    async def take(name: str) -> str | Refusal:
        async with store.sessions() as session:
            try:
                taken = await take_ticket(session, ref, name, NOW)
            except TicketRefused as refused:
                await session.rollback()
                return refused.reason
            await session.commit()
            assert taken.taken_by is not None
            return taken.taken_by

    outcomes = await asyncio.gather(take("anna"), take("bartek"))
    winners = [outcome for outcome in outcomes if not isinstance(outcome, Refusal)]
    assert len(winners) == 1
    assert Refusal.TAKEN in outcomes
    async with store.sessions() as session:
        found = await ticket(session, ref)
        assert found is not None
        assert found.taken_by == winners[0]
        taken_rows = await session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "handoff.taken")
        )
        assert taken_rows == 1


async def test_an_answer_sent_twice_at_once_is_one_message(store: Store) -> None:
    async with store.sessions() as session:
        ref = await _ticket(session)
        await take_ticket(session, ref, "anna", NOW)
        await session.commit()

    async def answer() -> int:
        async with store.sessions() as session:
            sent = await add_staff_answer(session, ref, "anna", "Dzień dobry", "form-1", NOW)
            await session.commit()
            return sent.number

    assert await asyncio.gather(answer(), answer()) == [1, 1]
    async with store.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(HandoffMessage))
        assert count == 1
