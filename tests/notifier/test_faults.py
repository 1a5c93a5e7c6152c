"""The outbox under faults, through python-telegram-bot and the Telegram peer: a ten-minute
outage on a fast clock, and `gmina run` killed with SIGKILL in the middle of 5 000 messages."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from kernel.clock import SystemClock
from kernel.settings import OutboxSettings
from notifier.dispatcher import Dispatcher
from storage.outbox import Category, NewMessage, enqueue, status_counts
from storage.outbox_models import OutboxMessage
from tests.conftest import Store
from tests.notifier.conftest import TOKEN, TelegramLine

GMINA = str(Path(sys.executable).with_name("gmina"))


class FastClock:
    """Wall time at `speed` times its pace: the dispatcher's clock and its sleeps agree."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._start = datetime.now(UTC)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.seconds_at(time.monotonic()))

    def seconds_at(self, monotonic: float) -> float:
        """Seconds on this clock from its start to a `time.monotonic()` reading."""
        return (monotonic - self._started) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)


async def _queue(store: Store, chats: range, per_chat: int, category: Category) -> None:
    messages = [
        NewMessage(f"{chat}-{n}", "telegram", str(chat), category, f"{chat}: {n}")
        for n in range(per_chat)
        for chat in chats
    ]
    async with store.sessions() as session:
        await enqueue(session, messages, SystemClock().now())
        await session.commit()


async def _statuses(store: Store) -> dict[str, int]:
    async with store.sessions() as session:
        return {status: count for _, status, count in await status_counts(session)}


async def test_ten_minutes_of_outage_then_everything_delivered_in_order_per_chat(
    store: Store, telegram: TelegramLine
) -> None:
    clock = FastClock(speed=600.0)  # ten minutes in one second
    chats, per_chat = range(3000, 3030), 8
    await _queue(store, chats, per_chat, Category.CHAT_REPLY)
    # Ten minutes on this clock from the first try: a slow first claim cannot outlast it.
    telegram.peer.down_for = 600 / clock.speed
    dispatcher = Dispatcher(
        store.sessions,
        {"telegram": telegram.sender},
        clock,
        # The defaults (2 s doubling to 300 s) on the fast clock; a lease that outlasts a send.
        OutboxSettings(lease_seconds=3600.0),
        sleep=clock.sleep,
    )
    await dispatcher.run_until_idle(wait_for_retries=True)

    for chat in chats:
        assert telegram.peer.texts_to(chat) == [f"{chat}: {n}" for n in range(per_chat)]
    assert await _statuses(store) == {"sent": len(chats) * per_chat}
    first_delivery = min(clock.seconds_at(message.at) for message in telegram.peer.sent)
    assert first_delivery >= 600
    # Backoff, not hammering: each chat's first message was tried about ten times in the outage
    # (2 s doubling), and never more than the schedule allows. Fewer on a loaded machine, where
    # each round of 240 sends takes real time that the 600x clock multiplies; but always retried.
    async with store.sessions() as session:
        attempts = dict(
            (
                await session.execute(
                    sa.select(OutboxMessage.key, OutboxMessage.attempts).where(
                        OutboxMessage.key.like("%-0")
                    )
                )
            ).all()
        )
    assert len(attempts) == len(chats)
    assert all(3 <= count <= 15 for count in attempts.values()), attempts
    refused = sum(1 for method, *_ in telegram.peer.requests if method == "sendMessage") - len(
        telegram.peer.sent
    )
    assert refused == sum(attempts.values()) - len(chats)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until(condition: Callable[[], Awaitable[bool]], limit_s: float, what: str) -> None:
    """Poll an async predicate every 0.1 s (the peer is served meanwhile)."""
    deadline = time.monotonic() + limit_s
    while not await condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {limit_s} s"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
async def test_gmina_run_killed_with_5000_queued_loses_none_and_repeats_only_those_in_flight(
    store: Store,
    telegram: TelegramLine,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    chats, per_chat = range(5000, 6000), 5
    await _queue(store, chats, per_chat, Category.REMINDER)
    port = _free_port()
    env = {
        **os.environ,
        "GMINA__DATABASE__URL": store.url,
        "GMINA__LOGGING__LEVEL": "WARNING",
        "GMINA__WEB__PORT": str(port),
        "GMINA__WEB__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "GMINA__TELEGRAM__TOKEN": TOKEN,
        "GMINA__TELEGRAM__WEBHOOK_SECRET": "fault-test-secret",
        "GMINA__TELEGRAM__API_BASE_URL": telegram.base_url,
        # Limits out of the way: the test is about what a kill loses, not about pace.
        "GMINA__TELEGRAM__RATE_PER_SECOND": "100000",
        "GMINA__TELEGRAM__RATE_PER_CHAT_PER_SECOND": "1000",
        # The killed process's claims are taken over once their lease ends. Long enough that
        # on a loaded machine no batch outlives its lease while its own process still sends it
        # (that would be a repeat the kill did not cause), short enough to keep the test brisk.
        "GMINA__OUTBOX__LEASE_SECONDS": "20",
        "GMINA__OUTBOX__IDLE_POLL_SECONDS": "0.5",
    }
    sent = telegram.peer.sent

    first = await asyncio.create_subprocess_exec(GMINA, "run", env=env)

    async def some_delivered() -> bool:
        assert first.returncode is None, "gmina run ended by itself"
        return len(sent) >= 1000

    await _until(some_delivered, 120, "1 000 deliveries")
    first.send_signal(signal.SIGKILL)
    await first.wait()
    at_kill = await _statuses(store)
    delivered_at_kill = len(sent)
    in_flight = at_kill.get("sending", 0)
    assert in_flight > 0, at_kill
    assert at_kill.get("created", 0) > 0, at_kill

    second = await asyncio.create_subprocess_exec(GMINA, "run", env=env)
    try:

        async def all_sent() -> bool:
            assert second.returncode is None, "gmina run ended by itself"
            return await _statuses(store) == {"sent": len(chats) * per_chat}

        await _until(all_sent, 180, "delivery of all 5 000")
    finally:
        if second.returncode is None:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), timeout=60)

    received = Counter((message.chat_id, message.text) for message in sent)
    expected = {(chat, f"{chat}: {n}") for chat in chats for n in range(per_chat)}
    assert set(received) == expected
    duplicates = sum(count - 1 for count in received.values())
    figure = (
        f"SIGKILL: {delivered_at_kill} delivered before the kill, {in_flight} in flight, "
        f"{at_kill.get('created', 0)} queued; after the restart all 5000 delivered, "
        f"{duplicates} twice"
    )
    record_property("sigkill", figure)
    with capsys.disabled():  # the figure belongs in the test output (docs/outbox.md quotes it)
        sys.stdout.write(f"\n{figure}\n")
    assert duplicates <= in_flight
    for chat in chats:
        texts = telegram.peer.texts_to(chat)
        in_order = [
            text for index, text in enumerate(texts) if index == 0 or text != texts[index - 1]
        ]
        assert in_order == [f"{chat}: {n}" for n in range(per_chat)], texts
