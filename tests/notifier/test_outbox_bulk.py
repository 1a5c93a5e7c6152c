"""`enqueue_bulk`: the rows `enqueue` writes, thousands at once, none twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from kernel.clock import SystemClock
from storage.outbox import Category, NewMessage, enqueue, enqueue_bulk
from storage.outbox_models import OutboxMessage
from tests.conftest import Store


async def test_bulk_rows_are_the_rows_enqueue_writes(store: Store) -> None:
    now = SystemClock().now()
    message = NewMessage(
        "one",
        "sms",
        "+48500000001",
        Category.ANNOUNCEMENT,
        "Zażółć gęślą jaźń",
        language="uk",
        buttons=[("Tak", "/tak")],
        not_before=now + timedelta(hours=9),
        broadcast_id=7,
    )
    async with store.sessions() as session:
        assert await enqueue(session, [message], now) == 1
        assert await enqueue_bulk(session, [replace(message, key="two")], now) == 1
        await session.commit()
        rows = (await session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))).all()
    columns = [c.key for c in OutboxMessage.__table__.columns if c.key not in ("id", "key")]
    assert [getattr(rows[0], c) for c in columns] == [getattr(rows[1], c) for c in columns]
    assert rows[1].content == {
        "text": "Zażółć gęślą jaźń",
        "buttons": [{"title": "Tak", "payload": "/tak"}],
        "image": None,
    }
    assert rows[1].not_before == now + timedelta(hours=9)


async def test_bulk_counts_only_new_keys(store: Store) -> None:
    now = SystemClock().now()
    messages = [
        NewMessage(f"k{n}", "telegram", str(n), Category.ANNOUNCEMENT, "x") for n in range(6000)
    ]
    async with store.sessions() as session:
        assert await enqueue_bulk(session, messages[:100], now) == 100
        assert await enqueue_bulk(session, messages, now) == 5900
        assert await enqueue_bulk(session, [], now) == 0
        again = [NewMessage("twice", "sms", "+48500000009", Category.ANNOUNCEMENT, "x")] * 2
        assert await enqueue_bulk(session, again, now) == 1
        await session.commit()
        count = await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    assert count == 6001
