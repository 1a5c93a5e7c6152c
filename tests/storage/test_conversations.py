import asyncio
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage import bindings
from storage.bindings import (
    TAXPAYER_FAILURE_LIMIT,
    VerifyOutcome,
    VerifyStatus,
    bound_taxpayer,
    create_link_token,
    issue_activation_code,
    redeem_link_token,
    unbind,
    verify_with_activation_code,
)
from storage.casework import create_case, get_case, list_cases
from storage.conversation_models import AuditEntry, Conversation, LinkToken, VerificationAttempt
from storage.conversation_state import (
    ConversationConflict,
    ConversationState,
    load_conversation,
    save_conversation,
)
from storage.handoffs import create_handoff_ticket
from storage.models import Contact
from storage.subscriptions import list_subscriptions, set_subscription
from storage.taxpayers import TaxpayerSummary, UnknownTaxpayer, taxpayer_summary
from tests.conftest import Store
from tests.resident_helpers import NIP, OTHER_PESEL, PESEL, add_taxpayer

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


async def _audit_rows(session: AsyncSession) -> list[AuditEntry]:
    return list(await session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)))


async def _bindings(session: AsyncSession, channel: str, sender: str) -> list[tuple[int, str]]:
    rows = await session.execute(
        sa.select(Contact.taxpayer_id, Contact.source).where(
            Contact.kind == channel, Contact.value == sender
        )
    )
    return [(row.taxpayer_id, row.source) for row in rows]


# --- link tokens ---------------------------------------------------------------------------------


async def test_a_link_token_works_once(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    issued = await create_link_token(session, "T-0001", NOW, issued_by="staff:test")
    assert len(issued.token) >= 32
    assert issued.expires_at == NOW + timedelta(minutes=30)
    stored = await session.scalar(sa.select(LinkToken.token_hash))
    assert stored == hashlib.sha256(issued.token.encode()).hexdigest()

    assert await redeem_link_token(session, issued.token, "telegram", "111", NOW) == taxpayer_id
    assert await redeem_link_token(session, issued.token, "telegram", "222", NOW) is None
    assert await bound_taxpayer(session, "telegram", "222") is None


async def test_an_expired_link_token_is_refused(session: AsyncSession) -> None:
    await add_taxpayer(session)
    issued = await create_link_token(session, "T-0001", NOW, ttl=timedelta(minutes=5))
    later = NOW + timedelta(minutes=5)
    assert await redeem_link_token(session, issued.token, "rest", "web-1", later) is None
    assert await bound_taxpayer(session, "rest", "web-1") is None
    refused = [row for row in await _audit_rows(session) if row.action == "link_token.refused"]
    assert [row.details["reason"] for row in refused] == ["expired"]


async def test_unknown_and_used_tokens_are_told_apart_only_in_the_audit(
    session: AsyncSession,
) -> None:
    await add_taxpayer(session)
    issued = await create_link_token(session, "T-0001", NOW)
    await redeem_link_token(session, issued.token, "rest", "a", NOW)
    assert await redeem_link_token(session, issued.token, "rest", "b", NOW) is None
    assert await redeem_link_token(session, "no-such-token", "rest", "b", NOW) is None
    audit = await _audit_rows(session)
    refused = [row.details["reason"] for row in audit if row.action == "link_token.refused"]
    assert refused == ["used", "unknown"]
    assert all(issued.token not in json.dumps(row.details) for row in audit)


async def test_a_link_token_for_an_unknown_ref_raises(session: AsyncSession) -> None:
    with pytest.raises(UnknownTaxpayer):
        await create_link_token(session, "NOPE", NOW)


async def test_redeeming_binds_the_chat_and_audits_it(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    issued = await create_link_token(session, "T-0001", NOW, issued_by="portal")
    await redeem_link_token(session, f" {issued.token}\n", "telegram", "4242", NOW)
    assert await _bindings(session, "telegram", "4242") == [(taxpayer_id, "link_token")]
    assert await bound_taxpayer(session, "telegram", "4242") == taxpayer_id
    actions = [(row.actor, row.action, row.taxpayer_id) for row in await _audit_rows(session)]
    assert actions == [
        ("portal", "link_token.issued", taxpayer_id),
        ("chat:telegram", "chat.bound", taxpayer_id),
    ]


async def test_a_chat_bound_to_another_taxpayer_is_rebound(session: AsyncSession) -> None:
    first = await add_taxpayer(session, "T-0001")
    second = await add_taxpayer(session, "T-0002", pesel=OTHER_PESEL)
    for ref in ("T-0001", "T-0001", "T-0002"):
        issued = await create_link_token(session, ref, NOW)
        await redeem_link_token(session, issued.token, "telegram", "77", NOW)
    assert await _bindings(session, "telegram", "77") == [(second, "link_token")]
    unbound = [
        row.taxpayer_id for row in await _audit_rows(session) if row.action == "chat.unbound"
    ]
    assert unbound == [first]


async def test_unbind_forgets_the_chat(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    issued = await create_link_token(session, "T-0001", NOW)
    await redeem_link_token(session, issued.token, "rest", "web-1", NOW)
    assert await unbind(session, "rest", "web-1", NOW) == taxpayer_id
    assert await bound_taxpayer(session, "rest", "web-1") is None
    assert await unbind(session, "rest", "web-1", NOW) is None


async def test_an_sms_number_identifies_only_the_one_taxpayer_whose_records_hold_it(
    session: AsyncSession,
) -> None:
    taxpayer_id = await add_taxpayer(session, "T-0001", phone="+48601000001")
    await add_taxpayer(session, "T-0002", pesel=OTHER_PESEL, phone="+48601000002")
    await add_taxpayer(session, "T-0003", pesel=None, nip=NIP, phone="+48601000002")
    assert await bound_taxpayer(session, "sms", "+48601000001") == taxpayer_id
    # A family's shared number, and a number the city does not hold: nobody.
    assert await bound_taxpayer(session, "sms", "+48601000002") is None
    assert await bound_taxpayer(session, "sms", "+48601000009") is None
    # The phone of the records is not a chat binding on another channel.
    assert await bound_taxpayer(session, "rest", "+48601000001") is None


async def test_a_shared_number_verified_with_a_code_is_bound_to_that_one_taxpayer(
    session: AsyncSession,
) -> None:
    await add_taxpayer(session, "T-0002", pesel=OTHER_PESEL, phone="+48601000002")
    third = await add_taxpayer(session, "T-0003", pesel=None, nip=NIP, phone="+48601000002")
    code = await issue_activation_code(session, "T-0003", NOW)
    outcome = await verify_with_activation_code(session, NIP, code, "sms", "+48601000002", NOW)
    assert outcome == VerifyOutcome(VerifyStatus.VERIFIED, third)
    assert await bound_taxpayer(session, "sms", "+48601000002") == third
    summary = await bindings.bound_taxpayer_summary(session, "sms", "+48601000002")
    assert summary is not None
    assert summary.id == third


# --- activation codes ----------------------------------------------------------------------------


async def test_the_right_activation_code_verifies(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    code = await issue_activation_code(session, "T-0001", NOW)
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", code)
    typed = code.lower().replace("-", " ")
    outcome = await verify_with_activation_code(
        session, "440 514 01359", typed, "rest", "web-1", NOW
    )
    assert outcome == VerifyOutcome(VerifyStatus.VERIFIED, taxpayer_id)
    assert await _bindings(session, "rest", "web-1") == [(taxpayer_id, "activation_code")]


async def test_a_nip_verifies_and_a_new_code_replaces_the_old(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session, pesel=None, nip=NIP)
    old = await issue_activation_code(session, "T-0001", NOW)
    new = await issue_activation_code(session, "T-0001", NOW)
    assert old != new
    refused = await verify_with_activation_code(session, NIP, old, "rest", "a", NOW)
    assert refused.status is VerifyStatus.REJECTED
    outcome = await verify_with_activation_code(session, f"PL{NIP}", new, "rest", "a", NOW)
    assert outcome.taxpayer_id == taxpayer_id


async def test_a_wrong_code_and_an_unknown_pesel_look_alike(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_taxpayer(session)
    await issue_activation_code(session, "T-0001", NOW)
    hashed: list[str] = []
    real_hash = bindings._code_hash

    def counting_hash(salt: str, code: str) -> str:
        hashed.append(salt)
        return real_hash(salt, code)

    monkeypatch.setattr(bindings, "_code_hash", counting_hash)
    wrong_code = await verify_with_activation_code(session, PESEL, "AAAA-AAAA", "rest", "a", NOW)
    work_known = len(hashed)
    unknown_pesel = await verify_with_activation_code(
        session, OTHER_PESEL, "AAAA-AAAA", "rest", "b", NOW
    )
    assert wrong_code == unknown_pesel == VerifyOutcome(VerifyStatus.REJECTED)
    assert work_known == len(hashed) - work_known == 1


async def test_five_failures_lock_the_sender_for_an_hour(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    code = await issue_activation_code(session, "T-0001", NOW)
    for minute in range(5):
        at = NOW + timedelta(minutes=minute)
        outcome = await verify_with_activation_code(session, PESEL, "WRONG", "sms", "s", at)
        assert outcome.status is VerifyStatus.REJECTED
    right = NOW + timedelta(minutes=10)
    locked = await verify_with_activation_code(session, PESEL, code, "sms", "s", right)
    assert locked == VerifyOutcome(VerifyStatus.LOCKED)
    assert await bound_taxpayer(session, "sms", "s") is None
    # Another sender is not affected.
    other = await verify_with_activation_code(session, PESEL, code, "sms", "t", right)
    assert other.status is VerifyStatus.VERIFIED
    # An hour after the fifth failure the sender may try again.
    hour_later = NOW + timedelta(minutes=4, hours=1)
    outcome = await verify_with_activation_code(session, PESEL, code, "sms", "s", hour_later)
    assert outcome == VerifyOutcome(VerifyStatus.VERIFIED, taxpayer_id)
    attempts = await session.scalar(sa.select(sa.func.count()).select_from(VerificationAttempt))
    assert attempts == 8


async def test_guessing_one_taxpayer_from_many_senders_is_refused_silently(
    session: AsyncSession,
) -> None:
    await add_taxpayer(session)
    code = await issue_activation_code(session, "T-0001", NOW)
    for sender in range(TAXPAYER_FAILURE_LIMIT):
        await verify_with_activation_code(session, PESEL, "WRONG", "rest", str(sender), NOW)
    outcome = await verify_with_activation_code(session, PESEL, code, "rest", "new", NOW)
    assert outcome == VerifyOutcome(VerifyStatus.REJECTED)
    later = NOW + timedelta(hours=1, seconds=1)
    outcome = await verify_with_activation_code(session, PESEL, code, "rest", "new", later)
    assert outcome.status is VerifyStatus.VERIFIED


async def test_the_audit_carries_no_pesel_and_no_code(session: AsyncSession) -> None:
    await add_taxpayer(session)
    code = await issue_activation_code(session, "T-0001", NOW)
    await verify_with_activation_code(session, PESEL, "WRONG", "rest", "a", NOW)
    await verify_with_activation_code(session, PESEL, code, "rest", "a", NOW)
    audit = await _audit_rows(session)
    assert {row.action for row in audit} == {
        "activation_code.issued",
        "verify.rejected",
        "chat.bound",
    }
    for row in audit:
        text = json.dumps([row.actor, row.action, row.details])
        assert PESEL not in text
        assert code.replace("-", "") not in text.replace("-", "")


# --- conversations -------------------------------------------------------------------------------


async def test_a_conversation_round_trips_with_its_binding(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    state = await load_conversation(session, "rest", "web-1")
    assert state == ConversationState("rest", "web-1")
    state.state = {"slots": {"obligation_kind": "dog_fee"}, "turns": ["dzień dobry"]}
    state.language = "uk"
    state.taxpayer_id = taxpayer_id  # not trusted: only the binding counts
    await save_conversation(session, state, NOW)
    assert (state.version, state.is_new) == (1, False)

    loaded = await load_conversation(session, "rest", "web-1")
    assert loaded.state == state.state
    assert (loaded.language, loaded.version, loaded.taxpayer_id) == ("uk", 1, None)

    issued = await create_link_token(session, "T-0001", NOW)
    await redeem_link_token(session, issued.token, "rest", "web-1", NOW)
    loaded = await load_conversation(session, "rest", "web-1")
    assert loaded.taxpayer_id == taxpayer_id
    await save_conversation(session, loaded)
    stored = await session.scalar(sa.select(Conversation.taxpayer_id))
    assert stored == taxpayer_id


async def test_a_lost_race_raises_conversation_conflict(store: Store) -> None:
    async with store.sessions() as first, store.sessions() as second:
        a = await load_conversation(first, "telegram", "1")
        b = await load_conversation(second, "telegram", "1")
        await save_conversation(first, a, NOW)
        await first.commit()
        with pytest.raises(ConversationConflict):
            await save_conversation(second, b, NOW)
        await second.rollback()

        a = await load_conversation(first, "telegram", "1")
        b = await load_conversation(second, "telegram", "1")
        a.state["turn"] = 2
        await save_conversation(first, a, NOW)
        await first.commit()
        b.state["turn"] = 3
        with pytest.raises(ConversationConflict):
            await save_conversation(second, b, NOW)
        await second.rollback()
        assert (await load_conversation(second, "telegram", "1")).state == {"turn": 2}


# --- cases, hand-offs, subscriptions -------------------------------------------------------------


async def test_cases_get_unique_refs_and_stay_private(session: AsyncSession) -> None:
    mine = await add_taxpayer(session, "T-0001")
    theirs = await add_taxpayer(session, "T-0002", pesel=OTHER_PESEL)
    first = await create_case(session, mine, "ZAS-W", {"purpose": "bank"}, "rest", NOW)
    second = await create_case(session, theirs, "IN-1", {}, "telegram", NOW)
    assert (first, second) == ("RS-2026-000001", "RS-2026-000002")
    next_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # already 2027 in Warsaw
    assert await create_case(session, mine, "IN-1", {}, "rest", next_year) == "RS-2027-000001"

    assert [case.ref for case in await list_cases(session, mine)] == [
        "RS-2027-000001",
        "RS-2026-000001",
    ]
    case = await get_case(session, mine, "rs-2026-000001")
    assert case is not None
    assert (case.form_type, case.status, case.data) == ("ZAS-W", "submitted", {"purpose": "bank"})
    assert await get_case(session, mine, second) is None


async def test_case_numbers_stay_unique_across_concurrent_writers(store: Store) -> None:
    if store.engine_name == "sqlite":
        pytest.skip("SQLite has one writer at a time; the race needs concurrent transactions")
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session)
        await session.commit()

    async def file_case() -> str:
        async with store.sessions() as session:
            ref = await create_case(session, taxpayer_id, "IN-1", {}, "rest", NOW)
            await asyncio.sleep(0.05)
            await session.commit()
            return ref

    refs = await asyncio.gather(*(file_case() for _ in range(4)))
    assert sorted(refs) == [f"RS-2026-00000{n}" for n in range(1, 5)]


async def test_a_handoff_ticket_keeps_the_last_turns(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    turns = [{"user": "chcę rozmawiać z urzędnikiem"}, {"bot": "utter_handoff"}]
    ref = await create_handoff_ticket(session, "telegram", "5", taxpayer_id, turns, NOW)
    assert ref == "ZG-2026-000001"
    assert await create_handoff_ticket(session, "rest", "w", None, [], NOW) == "ZG-2026-000002"


async def test_subscriptions_are_upserted(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(session)
    await set_subscription(session, taxpayer_id, "sms", "reminders", True, NOW)
    await set_subscription(session, taxpayer_id, "telegram", "announcements", True, NOW)
    later = NOW + timedelta(days=1)
    await set_subscription(session, taxpayer_id, "sms", "reminders", False, later)
    listed = await list_subscriptions(session, taxpayer_id)
    assert [(s.channel, s.category, s.enabled, s.updated_at) for s in listed] == [
        ("sms", "reminders", False, later),
        ("telegram", "announcements", True, NOW),
    ]
    with pytest.raises(ValueError, match="category"):
        await set_subscription(session, taxpayer_id, "sms", "marketing", True, NOW)


async def test_the_summary_shows_what_a_verified_sender_may_see(session: AsyncSession) -> None:
    taxpayer_id = await add_taxpayer(
        session, first_name="Anna", last_name="Nowak", account_number="2" * 26
    )
    summary = await taxpayer_summary(session, taxpayer_id)
    assert summary == TaxpayerSummary(taxpayer_id, "T-0001", "Anna Nowak", "pl", "2" * 26)
    assert await taxpayer_summary(session, taxpayer_id + 1) is None
