"""The shared reply path: replies rendered for the channel and queued once in the outbox."""

from __future__ import annotations

import sqlalchemy as sa

from actions import services
from bot.channels.conversation import understanding
from bot.channels.outbound import KEY_LENGTH, Outbound, reply_key
from bot.channels.rest import REST
from bot.dialogue import DialogueEngine, InboundMessage
from kernel.clock import FrozenClock
from storage.outbox import is_unreachable, mark_unreachable
from storage.outbox_models import OutboxMessage
from tests.conftest import Store
from tests.conversation_helpers import NOW, settings_for

SENDER = "web-0123456789abcdef0123456789abcdef"


async def _outbound(store: Store, wakes: list[int]) -> Outbound:
    clock = FrozenClock(NOW)
    services.configure(store.sessions, settings_for(store), clock)
    engine = DialogueEngine(store.sessions, await understanding(clock), clock)
    return Outbound(engine, store.sessions, clock, lambda: wakes.append(1))


async def _queued(store: Store) -> list[tuple[str, str, str, str]]:
    async with store.sessions() as session:
        rows = await session.execute(
            sa.select(
                OutboxMessage.key,
                OutboxMessage.category,
                OutboxMessage.recipient,
                OutboxMessage.language,
            ).order_by(OutboxMessage.id)
        )
        return [tuple(row) for row in rows.all()]


async def test_a_redelivered_message_queues_nothing_new_and_wakes_nobody(store: Store) -> None:
    wakes: list[int] = []
    outbound = await _outbound(store, wakes)
    message = InboundMessage("rest", SENDER, "pomoc", {"language": "pl"}, message_id="m-1")
    first = await outbound.reply(REST, message)
    queued = await _queued(store)
    assert [key for key, *_ in queued] == [
        f"rest:reply:{SENDER}:m-1:{number}" for number in range(len(first))
    ]
    assert {(category, recipient, language) for _, category, recipient, language in queued} == {
        ("chat_reply", SENDER, "pl")
    }
    assert wakes == [1]

    again = await outbound.reply(REST, message)
    assert [reply.text for reply in again] == [reply.text for reply in first]
    assert await _queued(store) == queued
    assert wakes == [1]


async def test_a_sender_who_writes_again_is_reachable_again(store: Store) -> None:
    outbound = await _outbound(store, [])
    async with store.sessions() as session:
        await mark_unreachable(session, "rest", SENDER, "blocked", NOW)
        await session.commit()
    await outbound.reply(REST, InboundMessage("rest", SENDER, "cześć", message_id="m-2"))
    async with store.sessions() as session:
        assert not await is_unreachable(session, "rest", SENDER)


def test_keys_fit_the_outbox_column_whatever_the_ids() -> None:
    long = InboundMessage("sms", "x" * 150, "hi", message_id="y" * 150)
    key = reply_key("sms", long, 3)
    assert len(key) <= KEY_LENGTH
    assert key == reply_key("sms", long, 3)
    assert key != reply_key("sms", InboundMessage("sms", "x" * 150, "hi", message_id="z"), 3)
    fresh = InboundMessage("sms", "+48600100200", "hi")
    assert reply_key("sms", fresh, 0) != reply_key("sms", fresh, 0)
