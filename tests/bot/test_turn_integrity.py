"""A turn run twice has the effect of one: two engines on one store, as two `gmina run` processes.

Each test races turns of one sender through two `DialogueEngine`s sharing the store, or runs a
turn again, and counts what the store holds afterwards.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
import sqlalchemy as sa

from actions import services
from bot.channels.conversation import understanding
from bot.dialogue import DialogueEngine, InboundMessage
from kernel.clock import FrozenClock
from kernel.i18n import render
from storage.bindings import (
    VerifyStatus,
    bound_taxpayer,
    issue_activation_code,
    redeem_link_token,
    verify_with_activation_code,
)
from storage.conversation_models import (
    AnsweredInbound,
    Case,
    Conversation,
    HandoffTicket,
    VerificationAttempt,
)
from storage.db import sync_url
from tests.bot.test_serve import serving
from tests.conftest import Store
from tests.conversation_helpers import NOW, TAXPAYER_REF, add_resident, link_token, settings_for
from tests.resident_helpers import PESEL

SENDER = "web-" + "d4" * 16


async def _engines(store: Store, count: int = 2) -> list[DialogueEngine]:
    clock = FrozenClock(NOW)
    services.configure(store.sessions, settings_for(store), clock)
    nlu = await understanding(clock)
    return [DialogueEngine(store.sessions, nlu, clock) for _ in range(count)]


async def _texts(engine: DialogueEngine, text: str, message_id: str | None = None) -> list[str]:
    replies = await engine.handle(InboundMessage("rest", SENDER, text, message_id=message_id))
    return [reply.text for reply in replies]


async def _count(store: Store, table: type) -> int:
    async with store.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def _at_the_certificate_confirmation(store: Store, engine: DialogueEngine) -> None:
    await add_resident(store)
    await _texts(engine, f"/start {await link_token(store)}")
    await _texts(engine, "zaświadczenie o niezaleganiu")
    (summary,) = await _texts(engine, "do kredytu hipotecznego")
    assert summary.startswith("Sprawdź, proszę: wniosek o zaświadczenie o niezaleganiu")


async def test_one_confirmation_delivered_twice_at_once_files_one_case_and_one_answer(
    store: Store,
) -> None:
    first, second = await _engines(store)
    await _at_the_certificate_confirmation(store, first)
    # A webhook redelivered while the first delivery is being answered.
    answers = await asyncio.gather(
        _texts(first, "tak", message_id="update-7"), _texts(second, "tak", message_id="update-7")
    )
    submitted = render("utter_form_submitted", "pl", {"case_ref": "RS-2027-000001"})
    assert answers[0] == answers[1] == [submitted]
    assert await _count(store, Case) == 1


async def test_two_yeses_at_once_at_the_confirmation_file_one_case(store: Store) -> None:
    first, second = await _engines(store)
    await _at_the_certificate_confirmation(store, first)
    answers = await asyncio.gather(_texts(first, "tak"), _texts(second, "tak"))
    submitted = render("utter_form_submitted", "pl", {"case_ref": "RS-2027-000001"})
    assert sorted(answer == [submitted] for answer in answers) == [False, True]
    assert await _count(store, Case) == 1


async def test_one_handoff_request_twice_at_once_opens_one_ticket(store: Store) -> None:
    first, second = await _engines(store)
    answers = await asyncio.gather(
        _texts(first, "chcę rozmawiać z człowiekiem"),
        _texts(second, "chcę rozmawiać z człowiekiem"),
    )
    assert all("ZG-2027-000001" in " ".join(answer) for answer in answers)
    assert await _count(store, HandoffTicket) == 1


async def test_a_burst_of_twenty_messages_is_answered_in_order_without_an_error(
    store: Store,
) -> None:
    engines = await _engines(store)
    messages = [
        (engines[i % 2], f"m{i:02d}", "pomoc" if i % 3 else "dzień dobry") for i in range(20)
    ]
    answers = await asyncio.gather(
        *(_texts(engine, text, message_id=mid) for engine, mid, text in messages)
    )
    assert all(answers)
    async with store.sessions() as session:
        version = await session.scalar(
            sa.select(Conversation.version).where(Conversation.sender_id == SENDER)
        )
        saved = list(
            await session.scalars(
                sa.select(AnsweredInbound.message_id).order_by(AnsweredInbound.id)
            )
        )
    assert version == 20
    # Each process answered its messages in the order they came.
    for engine in engines:
        mine = [mid for other, mid, _ in messages if other is engine]
        assert [mid for mid in saved if mid in mine] == mine


async def test_a_redelivered_message_gets_its_first_answer_without_a_second_turn(
    store: Store,
) -> None:
    first, second = await _engines(store)
    answer = await _texts(first, "pomoc", message_id="sms-1")
    assert await _texts(second, "pomoc", message_id="sms-1") == answer
    async with store.sessions() as session:
        version = await session.scalar(sa.select(Conversation.version))
    assert version == 1


async def test_start_racing_another_message_binds_and_welcomes(store: Store) -> None:
    first, second = await _engines(store)
    await add_resident(store)
    token = await link_token(store)
    welcome, _ = await asyncio.gather(
        _texts(first, f"/start {token}"), _texts(second, "ile mam do zapłaty?")
    )
    assert welcome[0].startswith("Dziękuję, Anna Nowak."), welcome
    async with store.sessions() as session:
        assert await bound_taxpayer(session, "rest", SENDER) is not None


async def test_a_retried_link_token_redemption_by_the_same_sender_binds_again(
    store: Store,
) -> None:
    taxpayer_id = await add_resident(store)
    token = await link_token(store)
    async with store.sessions() as session:
        assert await redeem_link_token(session, token, "rest", SENDER, NOW) == taxpayer_id
        assert await redeem_link_token(session, token, "rest", SENDER, NOW) == taxpayer_id
        assert await redeem_link_token(session, token, "rest", "someone-else", NOW) is None


async def test_a_retried_verification_counts_once(store: Store) -> None:
    await add_resident(store)
    async with store.sessions() as session:
        await issue_activation_code(session, TAXPAYER_REF, NOW)
        for _ in range(2):
            outcome = await verify_with_activation_code(
                session, PESEL, "WRONG-CODE", "rest", SENDER, NOW, turn_key="conversation:1:4"
            )
            assert outcome.status is VerifyStatus.REJECTED
        await session.commit()
    assert await _count(store, VerificationAttempt) == 1


# --- a dropped connection ------------------------------------------------------------------------


def _terminate_backends(url: str) -> int:
    """What a PostgreSQL restart does to pooled connections, from outside the pool."""
    outside = sa.create_engine(sync_url(url))
    try:
        with outside.connect() as connection:
            return int(
                connection.scalar(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                or 0
            )
    finally:
        outside.dispose()


async def test_no_turn_fails_while_the_database_drops_connections_under_load(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    if store.engine_name != "postgresql":
        pytest.skip("SQLite has no server to drop a connection")
    engines = await _engines(store)
    await add_resident(store)
    senders = [f"web-{n:02d}-" + "e5" * 14 for n in range(20)]
    stop = asyncio.Event()
    turns: list[int] = []

    async def converse(n: int) -> None:
        engine = engines[n % 2]
        while not stop.is_set():
            message = InboundMessage("rest", senders[n], "pomoc" if len(turns) % 2 else "hej")
            replies = await engine.handle(message)
            assert replies
            assert not any(reply.text == render("utter_error", "pl") for reply in replies)
            turns.append(n)

    async def kill() -> int:
        killed = 0
        # Far enough apart that no turn meets two of them: each turn is retried once.
        for _ in range(4):
            await asyncio.sleep(1.5)
            killed += await asyncio.to_thread(_terminate_backends, store.url)
        stop.set()
        return killed

    with caplog.at_level(logging.WARNING, logger="bot.dialogue.engine"):
        results = await asyncio.gather(kill(), *(converse(n) for n in range(20)))
    retries = sum("dropped a connection" in record.getMessage() for record in caplog.records)
    print(f"turns={len(turns)} retries={retries} backends terminated={results[0]}")  # noqa: T201
    assert results[0] > 0
    assert retries > 0
    assert len(turns) > 100


# --- two `gmina run` workers ------------------------------------------------------------------


async def test_two_workers_answer_a_burst_and_open_one_ticket_per_sender(store: Store) -> None:
    if store.engine_name != "postgresql":
        pytest.skip("several workers serve a city on PostgreSQL (README: Moving to PostgreSQL)")
    burst = "web-" + "f6" * 16
    askers = [f"web-{n:02d}-" + "a7" * 14 for n in range(10)]
    handoff = "chcę rozmawiać z człowiekiem"
    with serving(store.url) as (_, base):
        # A new connection for every request, so that the kernel spreads them over both workers.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(base, connector=connector) as http:

            async def post(sender: str, text: str) -> int:
                body = {"sender": sender, "message": text}
                async with http.post("/webhooks/rest/webhook", json=body) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(
                *(post(burst, "pomoc") for _ in range(20)),
                *(post(sender, handoff) for sender in askers for _ in range(2)),
            )
    assert statuses == [200] * 40
    async with store.sessions() as session:
        version = await session.scalar(
            sa.select(Conversation.version).where(Conversation.sender_id == burst)
        )
        tickets = await session.scalar(sa.select(sa.func.count()).select_from(HandoffTicket))
    assert version == 20
    assert tickets == len(askers)
