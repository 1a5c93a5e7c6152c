"""The dispatcher against the Telegram peer, through python-telegram-bot: delivery, retries,
limits, blocked residents, and a token that never reaches a log."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import sqlalchemy as sa

from kernel.clock import SystemClock
from notifier.dispatcher import ChannelLimits
from notifier.ratelimit import KeyedLimiter, SlidingWindowLimiter
from notifier.senders.telegram import TelegramSender, build_bot, parse_callback_key
from storage.outbox import Category, NewMessage, enqueue, is_unreachable
from storage.outbox_models import OutboxMessage
from storage.outbox_replies import button_payload
from tests.conftest import Store
from tests.notifier.conftest import TOKEN, TelegramLine, make_dispatcher


async def _queue(store: Store, *messages: tuple[str, int, str]) -> None:
    """(key, chat id, text) each."""
    async with store.sessions() as session:
        await enqueue(
            session,
            [
                NewMessage(key, "telegram", str(chat), Category.CHAT_REPLY, text, buttons=buttons)
                for key, chat, text, *rest in messages
                for buttons in [rest[0] if rest else ()]
            ],
            SystemClock().now(),
        )
        await session.commit()


async def _rows(store: Store) -> dict[str, tuple[str, int, str | None, str | None]]:
    async with store.sessions() as session:
        result = await session.execute(
            sa.select(
                OutboxMessage.key,
                OutboxMessage.status,
                OutboxMessage.attempts,
                OutboxMessage.provider_id,
                OutboxMessage.error,
            )
        )
    return {
        key: (status, attempts, provider, error)
        for key, status, attempts, provider, error in result
    }


async def test_queued_messages_reach_the_chat_escaped_with_their_buttons(
    store: Store, telegram: TelegramLine
) -> None:
    buttons = (("Zapłać", "/pay"), ("Terminy", "/list_deadlines"))
    await _queue(store, ("r1", 501, "Saldo <b>1 234,56 zł</b> & więcej", buttons))
    assert await make_dispatcher(store, telegram).run_until_idle() == 1
    [sent] = telegram.peer.sent
    assert sent.chat_id == 501
    assert sent.parse_mode == "HTML"
    assert sent.text == "Saldo &lt;b&gt;1 234,56 zł&lt;/b&gt; &amp; więcej"
    async with store.sessions() as session:
        row_id = await session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.key == "r1"))
    # Buttons carry short keys to the outbox row, which keeps their payloads.
    assert sent.reply_markup == {
        "inline_keyboard": [
            [{"text": "Zapłać", "callback_data": f"{row_id}.0"}],
            [{"text": "Terminy", "callback_data": f"{row_id}.1"}],
        ]
    }
    status, attempts, provider_id, _ = (await _rows(store))["r1"]
    assert (status, attempts, provider_id) == ("sent", 1, "1")


async def test_a_429_is_honoured_and_the_message_delivered_after_retry_after(
    store: Store, telegram: TelegramLine
) -> None:
    telegram.peer.fail_next(1, status=429, retry_after=1)
    await _queue(store, ("r1", 501, "po chwili"))
    started = time.monotonic()
    await make_dispatcher(store, telegram).run_until_idle(wait_for_retries=True)
    assert telegram.peer.texts_to(501) == ["po chwili"]
    sends = [at for method, _, at in telegram.peer.requests if method == "sendMessage"]
    assert sends[1] - sends[0] >= 0.95
    assert time.monotonic() - started >= 0.95
    assert (await _rows(store))["r1"][:2] == ("sent", 2)


async def test_an_outage_delays_everything_and_loses_nothing_in_order_per_chat(
    store: Store, telegram: TelegramLine
) -> None:
    telegram.peer.down_until = time.monotonic() + 1.0
    await _queue(
        store,
        *[(f"{chat}-{n}", chat, f"{chat}: {n}") for n in range(5) for chat in (601, 602, 603)],
    )
    await make_dispatcher(store, telegram).run_until_idle(wait_for_retries=True)
    for chat in (601, 602, 603):
        assert telegram.peer.texts_to(chat) == [f"{chat}: {n}" for n in range(5)]
    rows = await _rows(store)
    assert {status for status, *_ in rows.values()} == {"sent"}
    assert max(attempts for _, attempts, *_ in rows.values()) > 1


async def test_a_resident_who_blocked_the_bot_is_not_retried_and_is_marked(
    store: Store, telegram: TelegramLine
) -> None:
    telegram.peer.blocked_chats.add(701)
    await _queue(store, ("b1", 701, "pierwsza"), ("b2", 701, "druga"), ("ok", 702, "dla innego"))
    await make_dispatcher(store, telegram).run_until_idle(wait_for_retries=True)
    rows = await _rows(store)
    assert rows["b1"][:2] == ("permanent-failure", 1)
    assert "blocked" in (rows["b1"][3] or "")
    assert rows["ok"][0] == "sent"
    async with store.sessions() as session:
        assert await is_unreachable(session, "telegram", "701")
        assert not await is_unreachable(session, "telegram", "702")


async def test_a_hung_provider_times_out_and_the_message_goes_on_the_next_try(
    store: Store, telegram: TelegramLine
) -> None:
    telegram.peer.hangs = 1
    await _queue(store, ("h1", 801, "mimo zawieszenia"))
    await make_dispatcher(store, telegram, lease_seconds=2.0).run_until_idle(wait_for_retries=True)
    assert telegram.peer.texts_to(801) == ["mimo zawieszenia"]
    assert (await _rows(store))["h1"][:2] == ("sent", 2)


async def test_retrying_stops_after_the_retry_window_as_a_technical_failure(
    store: Store, telegram: TelegramLine
) -> None:
    telegram.peer.fail_next(50, status=500)
    await _queue(store, ("t1", 901, "nigdy"))
    window_hours = 0.3 / 3600  # 0.3 s
    await make_dispatcher(store, telegram, retry_for_hours=window_hours).run_until_idle(
        wait_for_retries=True
    )
    status, attempts, _, error = (await _rows(store))["t1"]
    assert status == "technical-failure"
    assert attempts >= 2
    assert (error or "").startswith(f"gave up after {attempts} attempts")


async def test_a_payload_longer_than_callback_data_goes_as_a_short_key(
    store: Store, telegram: TelegramLine
) -> None:
    long_payload = '/subscribe_reminders{"channel":"telegram","category":"announcements"}'
    await _queue(store, ("p1", 1001, "wybierz", (("Nie", "/deny"), ("Tak", long_payload))))
    await make_dispatcher(store, telegram).run_until_idle()
    assert (await _rows(store))["p1"][0] == "sent"
    [sent] = telegram.peer.sent
    data = sent.buttons[1]["callback_data"]
    key = parse_callback_key(data)
    assert key is not None
    assert len(data.encode()) <= 24 < len(long_payload.encode())
    async with store.sessions() as session:
        assert await button_payload(session, "telegram", "1001", *key) == long_payload
        # A key names only the buttons of a message to the chat that presses it.
        assert await button_payload(session, "telegram", "1002", *key) is None
        assert await button_payload(session, "telegram", "1001", key[0], 2) is None
    assert parse_callback_key("/pay") is None


async def test_limits_hold_overall_and_per_chat(store: Store, telegram: TelegramLine) -> None:
    limits = ChannelLimits(SlidingWindowLimiter(20), KeyedLimiter(1))
    await _queue(store, *[(f"m{n}", 2000 + n % 10, f"n{n}") for n in range(50)])
    await make_dispatcher(store, telegram, limits=limits).run_until_idle(wait_for_retries=True)
    sends = sorted(at for method, _, at in telegram.peer.requests if method == "sendMessage")
    assert len(sends) == 50
    # No window of one second holds more than 20 sends. The peer reads arrivals, not departures:
    # on a loaded machine one send can be held up in transit and arrive on the heels of the next,
    # so the windows and gaps are read with 0.1 s of slack (the limiter itself is tested exactly
    # on a virtual clock); an unlimited dispatcher would send all 50 within a few milliseconds.
    for index, start in enumerate(sends):
        in_window = [at for at in sends[index:] if at < start + 0.9]
        assert len(in_window) <= 20
    per_chat: dict[int, list[float]] = {}
    for method, chat, at in telegram.peer.requests:
        if method == "sendMessage" and chat is not None:
            per_chat.setdefault(chat, []).append(at)
    for times in per_chat.values():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 0.8, gaps


async def test_a_woken_dispatcher_sends_a_queued_reply_at_once(
    store: Store, telegram: TelegramLine
) -> None:
    dispatcher = make_dispatcher(store, telegram, idle_poll_seconds=30.0)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run_forever(stop))
    await asyncio.sleep(0.2)  # it is idle now, for 30 s unless woken
    await _queue(store, ("w1", 1101, "od razu"))
    dispatcher.wake()
    for _ in range(100):
        if telegram.peer.sent:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert telegram.peer.texts_to(1101) == ["od razu"]


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
async def test_on_sqlite_a_second_dispatcher_stands_by(
    store: Store, telegram: TelegramLine
) -> None:
    await _queue(store, ("s1", 1201, "jedna"))
    first = make_dispatcher(store, telegram, lease_seconds=30.0)
    second = make_dispatcher(store, telegram, lease_seconds=30.0)
    assert await first.run_once() == 1
    await _queue(store, ("s2", 1201, "druga"))
    assert await second.run_once() == 0
    assert await first.run_once() == 1


async def test_the_token_is_in_no_log_record_at_any_level(
    store: Store, telegram: TelegramLine, caplog: pytest.LogCaptureFixture
) -> None:
    # An operator's DEBUG logging, libraries' loggers included, before the bot is made.
    caplog.set_level(logging.DEBUG)
    for name in ("telegram", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    sender = TelegramSender(build_bot(TOKEN, telegram.base_url))
    telegram.peer.fail_next(1, status=500)
    await _queue(store, ("l1", 1301, "log"))
    dispatcher = make_dispatcher(store, telegram)
    dispatcher.senders["telegram"] = sender
    await dispatcher.run_until_idle(wait_for_retries=True)
    await sender.close()
    assert telegram.peer.texts_to(1301) == ["log"]
    assert any(r.name == "notifier.dispatcher" for r in caplog.records), "DEBUG was not captured"
    secret = TOKEN.split(":", 1)[1]
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in repr(record.args)
