"""Moving cases (storage.case_moves) and the staff's list of them (storage.case_queue)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import InputError, NotFoundError
from storage.bindings import create_link_token, redeem_link_token, unbind
from storage.case_moves import CaseMovedMeanwhile, CaseMoveRefused, move_case
from storage.case_queue import Cursor, QueueFilter, case_queue, staff_case
from storage.casework import CaseStatus, create_case, get_case, list_cases
from storage.conversation_models import AuditEntry
from storage.demo_cases import file_sample_cases
from storage.outbox import is_unreachable, mark_unreachable
from storage.outbox_models import OutboxMessage
from storage.preferences import record_consent
from storage.staff import Role, add_staff
from tests.conftest import Store
from tests.resident_helpers import PESEL, add_taxpayer

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
CHAT = "5550001"
PHONE = "+48600100200"
SUBMITTED, IN_REVIEW = CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW
DECIDED, REJECTED = CaseStatus.DECIDED, CaseStatus.REJECTED


async def _clerks(session: AsyncSession, *names: str) -> None:
    for name in names:
        await add_staff(session, name, Role.CLERK, "a long password 1", actor="test", now=NOW)


async def _bound_resident(session: AsyncSession, language: str = "pl") -> int:
    """A taxpayer whose Telegram chat CHAT is bound to them, speaking `language`."""
    taxpayer_id = await add_taxpayer(session, phone=PHONE)
    await session.execute(
        sa.text("UPDATE taxpayers SET language = :language WHERE id = :id"),
        {"language": language, "id": taxpayer_id},
    )
    token = await create_link_token(session, "T-0001", NOW, timedelta(hours=1))
    assert await redeem_link_token(session, token.token, "telegram", CHAT, NOW) is not None
    return taxpayer_id


async def _outbox(session: AsyncSession) -> list[OutboxMessage]:
    return list((await session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_a_case_moves_forward_and_the_filing_chat_is_told(session: AsyncSession) -> None:
    await _clerks(session, "anna")
    taxpayer_id = await _bound_resident(session, language="en")
    ref = await create_case(
        session, taxpayer_id, "no_arrears_certificate", {"purpose": "bank"}, "telegram", NOW,
        sender_id=CHAT,
    )  # fmt: skip
    first = await move_case(session, ref, SUBMITTED, IN_REVIEW, None, "anna", NOW)
    second = await move_case(
        session, ref, IN_REVIEW, DECIDED, "Collect it at room 12.", "anna", LATER
    )
    await session.commit()

    assert (first.notice_channel, second.notice_channel) == ("telegram", "telegram")
    case = await get_case(session, taxpayer_id, ref)
    assert case is not None
    assert (case.status, case.note, case.updated_at) == (DECIDED, "Collect it at room 12.", LATER)
    messages = await _outbox(session)
    assert [(m.key, m.channel, m.recipient, m.category, m.language) for m in messages] == [
        (f"case-move:{first.id}", "telegram", CHAT, "case_update", "en"),
        (f"case-move:{second.id}", "telegram", CHAT, "case_update", "en"),
    ]
    assert messages[1].content["text"] == (
        f"Your case {ref} (certificate of no tax arrears) has a new status: decided. "
        "The office's note: Collect it at room 12."
    )
    audited = (
        await session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.moved"))
    ).all()
    assert [(row.actor, row.taxpayer_id, row.details["to"]) for row in audited] == [
        ("staff:anna", taxpayer_id, "in_review"),
        ("staff:anna", taxpayer_id, "decided"),
    ]


async def test_the_notice_is_in_the_residents_language(session: AsyncSession) -> None:
    await _clerks(session, "anna")
    taxpayer_id = await _bound_resident(session, language="uk")
    ref = await create_case(
        session, taxpayer_id, "installments", {}, "telegram", NOW, sender_id=CHAT
    )
    await move_case(session, ref, SUBMITTED, IN_REVIEW, None, "anna", NOW)
    (message,) = await _outbox(session)
    assert message.language == "uk"
    assert ref in message.content["text"]
    assert "Your case" not in message.content["text"]


@pytest.mark.parametrize(
    ("expected", "to", "note", "reason"),
    [
        (SUBMITTED, DECIDED, "ok", "cannot move to decided"),
        (IN_REVIEW, SUBMITTED, None, "cannot move to submitted"),
        (DECIDED, REJECTED, "late", "allowed: none"),
        (IN_REVIEW, REJECTED, "   ", "needs a note"),
        (IN_REVIEW, REJECTED, "x" * 1001, "at most 1000"),
    ],
)
async def test_moves_the_rules_forbid_are_refused_and_change_nothing(
    session: AsyncSession, expected: CaseStatus, to: CaseStatus, note: str | None, reason: str
) -> None:
    await _clerks(session, "anna")
    taxpayer_id = await _bound_resident(session)
    ref = await create_case(session, taxpayer_id, "installments", {}, "telegram", NOW)
    with pytest.raises(CaseMoveRefused, match=reason):
        await move_case(session, ref, expected, to, note, "anna", NOW)
    case = await get_case(session, taxpayer_id, ref)
    assert case is not None
    assert case.status == SUBMITTED
    assert await _outbox(session) == []


async def test_an_unknown_case_is_not_found(session: AsyncSession) -> None:
    await _clerks(session, "anna")
    with pytest.raises(NotFoundError):
        await move_case(session, "RS-2026-999999", SUBMITTED, IN_REVIEW, None, "anna", NOW)


async def test_a_retried_move_is_the_same_move_and_queues_one_notice(
    session: AsyncSession,
) -> None:
    await _clerks(session, "anna", "bartek")
    taxpayer_id = await _bound_resident(session)
    ref = await create_case(
        session, taxpayer_id, "installments", {}, "telegram", NOW, sender_id=CHAT
    )
    await move_case(session, ref, SUBMITTED, IN_REVIEW, None, "anna", NOW)
    first = await move_case(session, ref, IN_REVIEW, REJECTED, "No reason given.", "anna", NOW)
    again = await move_case(session, ref, IN_REVIEW, REJECTED, "No reason given.", "anna", LATER)
    assert again == first
    assert len(await _outbox(session)) == 2
    # Another clerk sending the same form is not a retry: they are told it moved.
    with pytest.raises(CaseMovedMeanwhile, match="moved meanwhile by anna; it is now rejected"):
        await move_case(session, ref, IN_REVIEW, REJECTED, "No reason given.", "bartek", LATER)


async def test_two_clerks_moving_at_once_one_wins_the_other_is_told(store: Store) -> None:
    async with store.sessions() as session:
        await _clerks(session, "anna", "bartek")
        taxpayer_id = await _bound_resident(session)
        ref = await create_case(
            session, taxpayer_id, "installments", {}, "telegram", NOW, sender_id=CHAT
        )
        await move_case(session, ref, SUBMITTED, IN_REVIEW, None, "anna", NOW)
        await session.commit()
    anna_holds_the_row = asyncio.Event()

    async def anna() -> None:
        async with store.sessions() as session:
            await move_case(session, ref, IN_REVIEW, DECIDED, "Granted.", "anna", LATER)
            anna_holds_the_row.set()
            await asyncio.sleep(0.3)
            await session.commit()

    async def bartek() -> CaseMovedMeanwhile:
        await anna_holds_the_row.wait()
        async with store.sessions() as session:
            with pytest.raises(CaseMovedMeanwhile) as refused:
                await move_case(session, ref, IN_REVIEW, REJECTED, "Refused.", "bartek", LATER)
            return refused.value

    _, conflict = await asyncio.gather(anna(), bartek())
    assert (conflict.status, conflict.by) == (DECIDED, "anna")
    async with store.sessions() as session:
        case = await get_case(session, taxpayer_id, ref)
        assert case is not None
        assert (case.status, case.note) == (DECIDED, "Granted.")
        assert len(await _outbox(session)) == 2


async def test_a_chat_no_longer_bound_is_not_told_the_consented_phone_is(
    session: AsyncSession,
) -> None:
    await _clerks(session, "anna")
    taxpayer_id = await _bound_resident(session)
    ref = await create_case(
        session, taxpayer_id, "installments", {}, "telegram", NOW, sender_id=CHAT
    )
    await unbind(session, "telegram", CHAT, NOW)
    move = await move_case(session, ref, SUBMITTED, IN_REVIEW, None, "anna", NOW)
    assert move.notice_channel is None
    assert await _outbox(session) == []

    await record_consent(session, taxpayer_id, "sms", PHONE, "office", NOW)
    move = await move_case(session, ref, IN_REVIEW, DECIDED, None, "anna", LATER)
    (message,) = await _outbox(session)
    assert (move.notice_channel, message.channel, message.recipient) == ("sms", "sms", PHONE)


async def test_an_unreachable_filing_chat_gives_way_to_a_consented_channel(
    session: AsyncSession,
) -> None:
    await _clerks(session, "anna")
    taxpayer_id = await _bound_resident(session)
    ref = await create_case(
        session, taxpayer_id, "installments", {}, "telegram", NOW, sender_id=CHAT
    )
    await mark_unreachable(session, "telegram", CHAT, "blocked", NOW)
    assert await is_unreachable(session, "telegram", CHAT)
    await record_consent(session, taxpayer_id, "sms", PHONE, "office", NOW)
    move = await move_case(session, ref, SUBMITTED, IN_REVIEW, None, "anna", NOW)
    assert move.notice_channel == "sms"


async def test_a_note_keeps_no_pesel(session: AsyncSession) -> None:
    await _clerks(session, "anna")
    taxpayer_id = await _bound_resident(session)
    ref = await create_case(
        session, taxpayer_id, "installments", {}, "telegram", NOW, sender_id=CHAT
    )
    move = await move_case(session, ref, SUBMITTED, IN_REVIEW, f"PESEL {PESEL} ok", "anna", NOW)
    assert move.note is not None
    assert PESEL not in move.note
    (message,) = await _outbox(session)
    assert PESEL not in message.content["text"]


async def _many_cases(session: AsyncSession, taxpayer_id: int, count: int) -> list[str]:
    kinds = ("installments", "no_arrears_certificate", "waste_declaration_change")
    return [
        await create_case(
            session, taxpayer_id, kinds[n % 3], {}, "rest", NOW + timedelta(minutes=n // 2)
        )
        for n in range(count)
    ]


async def test_the_queue_pages_by_keyset_both_ways_and_filters(session: AsyncSession) -> None:
    await _clerks(session, "anna")
    taxpayer_id = await add_taxpayer(session)
    refs = await _many_cases(session, taxpayer_id, 13)
    await move_case(session, refs[3], SUBMITTED, IN_REVIEW, None, "anna", LATER)
    await move_case(session, refs[6], SUBMITTED, IN_REVIEW, None, "anna", LATER)

    async def walk(wanted: QueueFilter) -> list[str]:
        seen: list[str] = []
        cursor: Cursor | None = None
        while True:
            page = await case_queue(session, wanted, cursor, limit=4)
            seen += [case.ref for case in page.cases]
            if page.next_cursor is None:
                return seen
            cursor = Cursor.parse(page.next_cursor.token())

    assert await walk(QueueFilter()) == refs[::-1]
    assert await walk(QueueFilter(newest_first=False)) == refs
    assert await walk(QueueFilter("installments", IN_REVIEW)) == [refs[6], refs[3]]
    assert await walk(QueueFilter(status=SUBMITTED, newest_first=False)) == [
        ref for n, ref in enumerate(refs) if n not in (3, 6)
    ]
    assert await walk(QueueFilter(ref=" rs-2026-00001")) == refs[12:8:-1]
    assert await walk(QueueFilter(ref="RS-2026-0000%")) == []
    page = await case_queue(session, QueueFilter(), None, limit=1)
    assert (page.cases[0].taxpayer_name, page.cases[0].taxpayer_id) == ("Jan Kowalski", taxpayer_id)


def test_a_bad_page_position_is_an_input_error() -> None:
    for token in ("", "yesterday_3", "2026-11-29T10:00:00_3", "2026-11-29T10:00:00+00:00_x"):
        with pytest.raises(InputError):
            Cursor.parse(token)


async def test_the_staff_case_has_its_data_taxpayer_and_history(session: AsyncSession) -> None:
    await _clerks(session, "anna")
    taxpayer_id = await _bound_resident(session)
    ref = await create_case(
        session, taxpayer_id, "installments", {"reason": "illness"}, "telegram", NOW,
        sender_id=CHAT,
    )  # fmt: skip
    await move_case(session, ref, SUBMITTED, IN_REVIEW, "Looking at it.", "anna", LATER)
    found = await staff_case(session, ref.lower())
    assert found is not None
    assert (found.case.ref, found.data, found.taxpayer_pesel, found.sender_known) == (
        ref, {"reason": "illness"}, PESEL, True,
    )  # fmt: skip
    assert [(m.from_status, m.to_status, m.note, m.staff_name, m.at) for m in found.history] == [
        (SUBMITTED, IN_REVIEW, "Looking at it.", "anna", LATER)
    ]
    assert await staff_case(session, "RS-2026-999999") is None
    (listed,) = await list_cases(session, taxpayer_id)
    assert listed.note == "Looking at it."


async def test_sample_cases_continue_the_numbers_and_fill_the_queue(session: AsyncSession) -> None:
    for n in range(3):
        await add_taxpayer(session, f"T-{n}", pesel=None)
    taxpayer_id = await add_taxpayer(session, "T-9", pesel=None)
    before = await create_case(session, taxpayer_id, "installments", {}, "rest", NOW)
    assert await file_sample_cases(session, 120, NOW) == 120
    after = await create_case(session, taxpayer_id, "installments", {}, "rest", NOW)
    await session.commit()
    assert (before, after) == ("RS-2026-000001", "RS-2026-000122")
    oldest = await case_queue(session, QueueFilter(newest_first=False), limit=200)
    assert len(oldest.cases) == 122
    assert {case.status for case in oldest.cases} == set(CaseStatus)
    assert [case.created_at for case in oldest.cases[:-2]] == sorted(
        case.created_at for case in oldest.cases[:-2]
    )
