"""A hand-off from end to end on Telegram: the resident asks for a person, a clerk answers through
the outbox (the dispatcher running, the Telegram peer receiving), the resident's reply lands in the
ticket, and closing it gives the chat back to the assistant."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import sqlalchemy as sa

from bot.handoffs import Handoffs
from kernel.i18n import format_money, render
from storage.handoffs import Author, open_handoff_ticket, ticket, ticket_messages
from storage.outbox_models import OutboxMessage
from tests.channels.conftest import ClientMaker, Line, start_app
from tests.conftest import Store
from tests.conversation_helpers import NOW, add_resident, gmina_balance_json, link_token
from tests.handoff_helpers import add_clerks
from tests.peers.telegram import SentMessage

CHAT = 5550042
# Long enough for a slow machine; the test waits for messages, it does not time them.
WAIT = 20


async def _messages(line: Line, count: int) -> list[SentMessage]:
    async with asyncio.timeout(WAIT):
        return await line.peer.wait_for_messages(CHAT, count)


async def _say(line: Line, text: str) -> dict[str, object]:
    update = line.peer.text_update(CHAT, text)
    assert await line.deliver(update) == 200
    return update


async def _outbox_rows(store: Store) -> int:
    async with store.sessions() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.recipient == str(CHAT))
        )
    return int(count or 0)


async def test_a_clerk_answers_the_resident_replies_and_closing_returns_the_chat(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    token = await link_token(store)
    async with store.sessions() as session:
        await add_clerks(session, NOW, "anna")
        await session.commit()
    client = await start_app(store, line, aiohttp_client)
    handoffs = Handoffs.of(client.app)

    await _say(line, f"/start {token}")
    await _say(line, "chcę rozmawiać z człowiekiem")
    handed_off = (await _messages(line, 3))[1]
    async with store.sessions() as session:
        ref = await open_handoff_ticket(session, "telegram", str(CHAT))
    assert ref is not None
    assert handed_off.text == render("utter_handoff", "pl", {"ticket_ref": ref})

    # The clerk takes the ticket and answers; the same form sent twice is one message.
    await handoffs.take(ref, "anna")
    first = await handoffs.answer(ref, "anna", "Dzień dobry, w czym mogę pomóc?", "form-1")
    again = await handoffs.answer(ref, "anna", "Dzień dobry, w czym mogę pomóc?", "form-1")
    assert (first.new, again.new) == (True, False)
    answer = (await _messages(line, 4))[3]
    assert answer.text == render(
        "handoff_staff_answer",
        "pl",
        {"ticket_ref": ref, "text": "Dzień dobry, w czym mogę pomóc?"},
    )

    # The resident replies: it lands in the ticket, the assistant acknowledges it once.
    reply = await _say(line, "Chcę rozłożyć podatek na raty")
    acknowledged = (await _messages(line, 5))[4]
    assert acknowledged.text == render("utter_handoff_passed", "pl", {"ticket_ref": ref})
    rows = await _outbox_rows(store)
    await _say(line, "Mój PESEL to 44051401359")
    # Redelivered by Telegram: it lands once.
    assert await line.deliver(reply) == 200
    assert await _outbox_rows(store) == rows  # nothing more from the assistant
    async with store.sessions() as session:
        found = await ticket(session, ref)
        assert found is not None
        thread = await ticket_messages(session, found.id)
    assert [(turn.author, turn.text) for turn in thread] == [
        (Author.STAFF, "Dzień dobry, w czym mogę pomóc?"),
        (Author.RESIDENT, "Chcę rozłożyć podatek na raty"),
        (Author.RESIDENT, "Mój PESEL to ***"),
    ]

    # Closed: the resident is told, and the assistant answers the next question.
    assert await handoffs.close(ref, "anna") is True
    closed = (await _messages(line, 6))[5]
    assert closed.text == render("handoff_closed", "pl", {"ticket_ref": ref})
    await _say(line, "ile mam do zapłaty?")
    balance = (await _messages(line, 7))[6]
    total = Decimal((await gmina_balance_json(store))["total"])
    assert format_money(total, "pl") in balance.text
    # The answer form sent twice reached the resident once.
    assert line.peer.texts_to(CHAT).count(answer.text) == 1
