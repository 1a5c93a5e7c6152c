"""The outbox's storage: idempotent enqueueing, claims in order per chat, forward-only states."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from storage.outbox import (
    Category,
    NewMessage,
    Outcome,
    Status,
    acquire_lease,
    apply_provider_status,
    claim_due,
    enqueue,
    record_outcomes,
    status_counts,
)
from storage.outbox_models import OutboxMessage
from tests.conftest import Store

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def _message(key: str, recipient: str = "100", **extra: object) -> NewMessage:
    values: dict[str, object] = {
        "key": key,
        "channel": "telegram",
        "recipient": recipient,
        "category": Category.CHAT_REPLY,
        "text": f"text of {key}",
    }
    values.update(extra)
    return NewMessage(**values)  # type: ignore[arg-type]


async def _queue(store: Store, *messages: NewMessage) -> int:
    async with store.sessions() as session:
        added = await enqueue(session, messages, NOW)
        await session.commit()
    return added


async def _claim(store: Store, at: datetime = NOW, limit: int = 100) -> list[str]:
    async with store.sessions() as session:
        return [m.key for m in await claim_due(session, ["telegram"], at, LEASE, limit)]


async def _status(store: Store, key: str) -> str:
    async with store.sessions() as session:
        status = await session.scalar(
            sa.select(OutboxMessage.status).where(OutboxMessage.key == key)
        )
    return str(status)


async def test_a_key_queued_twice_is_one_message(store: Store) -> None:
    assert await _queue(store, _message("a"), _message("b")) == 2
    assert await _queue(store, _message("a", text="changed"), _message("c")) == 1
    async with store.sessions() as session:
        texts = dict(
            (await session.execute(sa.select(OutboxMessage.key, OutboxMessage.content))).all()
        )
    assert sorted(texts) == ["a", "b", "c"]
    assert texts["a"]["text"] == "text of a"


async def test_one_pending_message_per_chat_is_claimed_in_order(store: Store) -> None:
    await _queue(store, _message("a1", "1"), _message("a2", "1"), _message("b1", "2"))
    assert await _claim(store) == ["a1", "b1"]
    assert await _claim(store) == []  # a2 waits while a1 is being sent
    async with store.sessions() as session:
        ids = dict((await session.execute(sa.select(OutboxMessage.key, OutboxMessage.id))).all())
        await record_outcomes(session, [Outcome(ids["a1"], Status.SENT, provider_id="9")], NOW)
        await session.commit()
    assert await _claim(store) == ["a2"]


async def test_chat_replies_go_before_bulk_and_nothing_before_its_time(store: Store) -> None:
    await _queue(
        store,
        _message("notice", "1", category=Category.ANNOUNCEMENT),
        _message("reply", "2"),
        _message("later", "3", not_before=NOW + timedelta(minutes=5)),
    )
    assert await _claim(store) == ["reply", "notice"]
    assert await _claim(store, NOW + timedelta(minutes=6)) == ["later"]


async def test_a_claim_whose_dispatcher_died_is_taken_again_after_its_lease(store: Store) -> None:
    await _queue(store, _message("a"))
    assert await _claim(store) == ["a"]
    assert await _claim(store, NOW + LEASE / 2) == []
    assert await _claim(store, NOW + LEASE + timedelta(seconds=1)) == ["a"]
    async with store.sessions() as session:
        attempts = await session.scalar(sa.select(OutboxMessage.attempts))
    assert attempts == 2


async def test_concurrent_claims_never_take_one_message_twice(store: Store) -> None:
    await _queue(store, *(_message(f"m{n}", str(n)) for n in range(300)))
    claims = await asyncio.gather(*(_claim(store, limit=40) for _ in range(6)))
    taken = [key for claim in claims for key in claim]
    assert len(taken) == len(set(taken)) == 240


async def test_outcomes_and_callbacks_only_move_forward(store: Store) -> None:
    await _queue(store, _message("a"))
    await _claim(store)
    async with store.sessions() as session:
        message_id = await session.scalar(sa.select(OutboxMessage.id))
        assert message_id is not None
        await record_outcomes(session, [Outcome(message_id, Status.SENT, provider_id="42")], NOW)
        # A second dispatcher's late word on the same claim changes nothing.
        late = Outcome(message_id, Status.TEMPORARY_FAILURE, error="late", retry_at=NOW)
        assert await record_outcomes(session, [late], NOW) == 0
        assert await apply_provider_status(session, "telegram", "42", Status.DELIVERED, None, NOW)
        assert not await apply_provider_status(session, "telegram", "42", Status.SENT, None, NOW)
        assert not await apply_provider_status(
            session, "telegram", "42", Status.PERMANENT_FAILURE, "x", NOW
        )
        await session.commit()
    assert await _status(store, "a") == "delivered"
    async with store.sessions() as session:
        assert await status_counts(session) == [("telegram", "delivered", 1)]


async def test_the_dispatcher_lease_has_one_holder_until_it_expires(store: Store) -> None:
    async with store.sessions() as session:
        assert await acquire_lease(session, "outbox-dispatcher", "one", NOW, LEASE)
        assert not await acquire_lease(session, "outbox-dispatcher", "two", NOW, LEASE)
        assert await acquire_lease(session, "outbox-dispatcher", "one", NOW + LEASE / 2, LEASE)
        later = NOW + LEASE * 2
        assert await acquire_lease(session, "outbox-dispatcher", "two", later, LEASE)
        assert not await acquire_lease(session, "outbox-dispatcher", "one", later, LEASE)
