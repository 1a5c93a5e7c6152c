"""The dispatcher against the Twilio peer, through twilio's own library: delivery with the
account's Basic auth and a status callback URL, numbered choices, folded and cut texts, retries,
numbers that unsubscribed, and no phone number in the log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from kernel.clock import Clock, FrozenClock, SystemClock
from kernel.settings import OutboxSettings, SmsSettings
from notifier.dispatcher import Dispatcher
from notifier.senders.twilio import TwilioSender, build_client
from storage.outbox import (
    Category,
    NewMessage,
    enqueue,
    is_unreachable,
    reachability_history,
)
from tests.conftest import Store
from tests.notifier.conftest import outbox_row
from tests.peers.twilio import TwilioPeer

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-auth-token-for-tests"
FROM = "+48732100200"
PUBLIC = "https://gmina.example"
RESIDENT = "+48601234567"
FAST = {"backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.2, "idle_poll_seconds": 0.05}


@dataclass
class SmsLine:
    peer: TwilioPeer
    base_url: str

    def sender(self, **twilio: Any) -> TwilioSender:
        settings = SmsSettings.model_validate(
            {
                "twilio": {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "from_number": FROM,
                    "api_base_url": self.base_url,
                    **twilio,
                }
            }
        )
        return TwilioSender(settings, PUBLIC, build_client(settings, timeout=0.5))


@pytest.fixture
async def sms(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> AsyncIterator[SmsLine]:
    peer = TwilioPeer(ACCOUNT_SID, AUTH_TOKEN)
    server = await aiohttp_server(peer.app(), access_log=None)
    yield SmsLine(peer, str(server.make_url("")).rstrip("/"))
    await peer.close()


async def _deliver(store: Store, sender: TwilioSender, *, wait: bool = False) -> int:
    # Without waiting for retries the clock stands still, so a retry's short backoff cannot
    # come due during the run on a slow machine and make a second attempt.
    clock: Clock = SystemClock() if wait else FrozenClock(SystemClock().now())
    dispatcher = Dispatcher(
        store.sessions, {"sms": sender}, clock, OutboxSettings(**FAST), jitter=lambda: 1.0
    )
    try:
        return await dispatcher.run_until_idle(wait_for_retries=wait)
    finally:
        await sender.close()


async def _queue(
    store: Store, text: str, *, to: str = RESIDENT, key: str = "m1", buttons: Any = ()
) -> None:
    async with store.sessions() as session:
        message = NewMessage(key, "sms", to, Category.CHAT_REPLY, text, buttons=buttons)
        await enqueue(session, [message], SystemClock().now())
        await session.commit()


async def test_a_queued_sms_is_created_at_twilio_with_a_status_callback(
    store: Store, sms: SmsLine
) -> None:
    await _queue(store, "Do zapłaty: 1 234,56 zł – termin 15 marca 2027 r.")
    assert await _deliver(store, sms.sender()) == 1
    [created] = sms.peer.created
    assert (created.to, created.sender) == (RESIDENT, FROM)
    # Folded into GSM-7: one segment of 160 characters, not 70.
    assert created.body == "Do zaplaty: 1 234,56 zl - termin 15 marca 2027 r."
    assert created.status_callback == f"{PUBLIC}/webhooks/twilio/status"
    status, attempts, provider_id, error = await outbox_row(store, "m1")
    assert (status, attempts, provider_id, error) == ("sent", 1, created.sid, None)


async def test_a_messaging_service_sends_in_place_of_a_number(store: Store, sms: SmsLine) -> None:
    await _queue(store, "Dzień dobry")
    service = "MG" + "a" * 32
    assert await _deliver(store, sms.sender(from_number=None, messaging_service_sid=service)) == 1
    assert [message.sender for message in sms.peer.created] == [service]


async def test_buttons_become_numbered_choices(store: Store, sms: SmsLine) -> None:
    buttons = [("Saldo", "/check_balance"), ("Terminy", "/list_deadlines")]
    await _queue(store, "W czym mogę pomóc?", buttons=buttons)
    await _deliver(store, sms.sender())
    assert sms.peer.bodies_to(RESIDENT) == ["W czym moge pomoc?\nOdpisz 1 - Saldo, 2 - Terminy"]


async def test_a_long_text_is_cut_to_three_segments_with_the_web_chat_named(
    store: Store, sms: SmsLine
) -> None:
    text = " ".join(f"Rata {n}: 15 marca 2027 r., 123,45 zł zaległości." for n in range(1, 40))
    await _queue(store, text)
    await _deliver(store, sms.sender())
    [body] = sms.peer.bodies_to(RESIDENT)
    assert len(body) <= 3 * 153
    assert body.startswith("Rata 1: 15 marca 2027 r., 123,45 zl zaleglosci.")
    assert body.endswith(f"...\nReszta w czacie na stronie: {PUBLIC}/")


async def test_429_and_5xx_are_retried_until_delivered(store: Store, sms: SmsLine) -> None:
    sms.peer.fail_next(1, status=429, code=20429)
    sms.peer.fail_next(1, status=503)
    await _queue(store, "Przypomnienie")
    await _deliver(store, sms.sender(), wait=True)
    status, attempts, provider_id, _ = await outbox_row(store, "m1")
    assert (status, attempts) == ("sent", 3)
    assert provider_id == sms.peer.created[0].sid


async def test_a_hanging_provider_is_retried(store: Store, sms: SmsLine) -> None:
    sms.peer.hangs = 1
    await _queue(store, "Przypomnienie")
    await _deliver(store, sms.sender(), wait=True)
    assert (await outbox_row(store, "m1"))[:2] == ("sent", 2)


async def test_refused_credentials_keep_the_message_queued(store: Store, sms: SmsLine) -> None:
    await _queue(store, "Przypomnienie")
    await _deliver(store, sms.sender(auth_token="not-the-token"))
    status, attempts, _, error = await outbox_row(store, "m1")
    assert (status, attempts, error) == ("temporary-failure", 1, "twilio: HTTP 401, error 20003")
    assert sms.peer.created == []


async def test_an_unsubscribed_number_is_marked_unreachable_and_not_retried(
    store: Store, sms: SmsLine, caplog: pytest.LogCaptureFixture
) -> None:
    sms.peer.unsubscribed.add(RESIDENT)
    await _queue(store, "Przypomnienie")
    with caplog.at_level(logging.DEBUG):
        await _deliver(store, sms.sender(), wait=True)
    status, attempts, _, error = await outbox_row(store, "m1")
    # The error kept names the code, not Twilio's text, which quotes the number.
    assert (status, attempts, error) == ("permanent-failure", 1, "twilio: HTTP 400, error 21610")
    async with store.sessions() as session:
        assert await is_unreachable(session, "sms", RESIDENT)
        [(change, reason, _)] = await reachability_history(session, "sms", RESIDENT)
    assert (change, reason) == ("unreachable", "the provider refused it")
    # No record at INFO or above names the resident's number.
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "601" in r.getMessage()]
