"""The server's background fan-out (notifier.broadcast_runner) and a broadcast's timeline of
deliveries, on both engines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.web import init_app
from kernel.settings import Settings
from notifier.broadcast_runner import BroadcastRunner
from notifier.broadcasts import fan_out, preview_broadcast
from storage.broadcasts import (
    Timeline,
    approve_broadcast,
    begin_send,
    broadcast_counts,
    broadcast_timeline,
    create_broadcast,
    get_broadcast,
    sending_broadcasts,
)
from storage.outbox_models import OutboxMessage
from tests.conftest import Store
from tests.conversation_helpers import ClientMaker
from tests.notifier.broadcast_city import NOW, add_team, build_city, clock
from tests.notifier.conftest import TelegramLine, make_dispatcher

TEXT = "Jutro ulica Główna będzie zamknięta od 8:00 do 16:00."


@pytest.fixture
async def started(store: Store) -> int:
    """A broadcast to the five-household city (4 recipients), approved and `sending`."""
    async with store.sessions() as session:
        await build_city(session)
        await add_team(session)
        made = await create_broadcast(session, "all", "pl", TEXT, staff="kasia", now=NOW)
        await approve_broadcast(session, made.id, staff="anna", now=NOW)
        await begin_send(session, made.id, staff="kasia", now=NOW)
        await session.commit()
    return made.id


async def _outbox_count(store: Store) -> int:
    async with store.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)))


async def test_started_twice_it_runs_once_and_queues_each_message_once(
    store: Store, started: int
) -> None:
    batches: list[None] = []
    runner = BroadcastRunner(
        store.sessions, clock(), None, on_batch=lambda: batches.append(None), batch_size=1
    )
    assert runner.start(started) is True
    assert runner.start(started) is False
    await runner.wait(started)
    # Started again after it finished: the broadcast is `sent`, nothing more is queued.
    assert runner.start(started) is True
    await runner.wait(started)
    await runner.close()
    async with store.sessions() as session:
        assert (await get_broadcast(session, started)).status == "sent"
        assert await sending_broadcasts(session) == []
    assert await _outbox_count(store) == 4
    assert len(batches) == 4


async def test_a_stopped_server_leaves_it_sending_and_the_next_one_finishes_it(
    store: Store, started: int
) -> None:
    stop = asyncio.Event()
    queued_so_far: list[int] = []

    async def stop_after_the_first_batch(done: int, total: int) -> None:
        queued_so_far.append(done)
        stop.set()

    cut = await fan_out(
        store.sessions,
        started,
        clock=clock(),
        quiet_hours=None,
        progress=stop_after_the_first_batch,
        batch_size=3,
        stop=stop,
    )
    assert (cut.stopped, cut.newly_queued, cut.broadcast.status) == (True, 3, "sending")
    assert queued_so_far == [3]
    async with store.sessions() as session:
        assert await sending_broadcasts(session) == [started]

    restarted = BroadcastRunner(store.sessions, clock(), None, batch_size=2)
    assert await restarted.resume() == [started]
    await restarted.wait(started)
    await restarted.close()
    preview = await preview_broadcast(store.sessions, started, clock())
    async with store.sessions() as session:
        assert (await get_broadcast(session, started)).queued == 4
        counts = await broadcast_counts(session, started)
    assert {channel: count for channel, _, count in counts} == preview.per_channel
    assert await _outbox_count(store) == 4


async def test_the_server_resumes_a_broadcast_left_sending_when_it_starts(
    store: Store, started: int, aiohttp_client: ClientMaker
) -> None:
    settings = Settings.model_validate(
        {"database": {"url": store.url}, "reminders": {"start_delay_seconds": 0}}
    )
    await aiohttp_client(init_app(settings, clock=clock()))
    for _ in range(400):
        async with store.sessions() as session:
            if (await get_broadcast(session, started)).status == "sent":
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the broadcast left sending was not resumed")
    assert await _outbox_count(store) == 4


async def test_a_closed_runner_starts_nothing(store: Store, started: int) -> None:
    runner = BroadcastRunner(store.sessions, clock(), None)
    await runner.close()
    assert runner.start(started) is False
    assert await _outbox_count(store) == 0


async def test_the_timeline_counts_what_went_out_per_channel_and_interval(
    store: Store, started: int, telegram: TelegramLine
) -> None:
    async with store.sessions() as session:
        assert await broadcast_timeline(session, started) is None
    await fan_out(store.sessions, started, clock=clock(), quiet_hours=None)
    # Telegram's one message goes out through the peer; the others are given times by hand.
    await make_dispatcher(store, telegram).run_until_idle()
    async with store.sessions() as session:
        went = await broadcast_timeline(session, started)
    assert went is not None
    assert went.step_seconds == 1
    assert went.counts == {"telegram": [1]}

    base = datetime(2026, 11, 23, 10, 0, 7, 500_000, tzinfo=UTC)
    times = {
        "telegram": base,
        "sms": base + timedelta(minutes=3),
        "email": base + timedelta(minutes=12, seconds=30),
    }
    async with store.sessions() as session:
        for channel, at in times.items():
            await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.channel == channel)
                .values(status="sent", sent_at=at)
            )
        await session.commit()
        timeline = await broadcast_timeline(session, started, most_intervals=10)
    # 12.5 minutes do not fit in ten minutes: 5-minute intervals from 10:00 (UTC).
    assert timeline == Timeline(
        start=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        step_seconds=300,
        counts={"email": [0, 0, 2], "sms": [1, 0, 0], "telegram": [1, 0, 0]},
    )
    assert timeline.intervals == 3
    assert timeline.interval_start(2) == datetime(2026, 11, 23, 10, 10, tzinfo=UTC)
