"""Messages queued for a web-chat (REST) resident: a receipt after paying by the chat's link, a
staff reply. With `rest.callback_url` they are POSTed there, signed, by the dispatcher (tested
against a local aiohttp peer standing for the city's chat front-end); without it the built-in
page collects them from `POST /webhooks/rest/waiting`."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.web import init_app
from kernel.clock import FrozenClock, SystemClock
from kernel.i18n import render
from kernel.settings import OutboxSettings, RestSettings, Settings
from notifier.dispatcher import Dispatcher
from notifier.providers import build_senders
from notifier.senders.rest import (
    MESSAGE_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RestCallbackSender,
    signature,
)
from storage.outbox import Category, NewMessage, enqueue
from storage.outbox_models import OutboxMessage
from tests.conftest import Store
from tests.conversation_helpers import NOW

SECRET = "callback-secret-of-the-city"
SENDER = "web-" + "5a" * 16
OTHER = "web-" + "6b" * 16
FAST = {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.02, "idle_poll_seconds": 0.05}
# What payments.notifications queues after a payment through the chat's link.
RECEIPT = render("utter_payment_receipt", "pl", {"amount": "1650.00", "paid_date": "2027-05-10"})


@dataclass
class FrontEnd:
    """The city's chat front-end: checks each callback's signature and answers as scripted."""

    received: list[dict[str, Any]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    # Statuses to answer with, first to last; then 200.
    script: list[int] = field(default_factory=list)
    hang: bool = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot/callback", self._callback)
        return app

    async def _callback(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = signature(SECRET, request.headers[TIMESTAMP_HEADER], body)
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected):
            return web.Response(status=403)
        if self.hang:
            self.hang = False
            await asyncio.sleep(3600)
        status = self.script.pop(0) if self.script else 200
        if status == 200:
            self.received.append(json.loads(body))
            self.message_ids.append(request.headers[MESSAGE_ID_HEADER])
        return web.Response(status=status)


async def _queue(store: Store, *messages: NewMessage) -> None:
    async with store.sessions() as session:
        await enqueue(session, list(messages), SystemClock().now())
        await session.commit()


def _receipt(key: str = "receipt:1", recipient: str = SENDER, **extra: Any) -> NewMessage:
    return NewMessage(key, "rest", recipient, Category.RECEIPT, RECEIPT, **extra)


async def _statuses(store: Store) -> dict[str, tuple[str, int, str | None]]:
    async with store.sessions() as session:
        rows = await session.execute(
            sa.select(
                OutboxMessage.key,
                OutboxMessage.status,
                OutboxMessage.attempts,
                OutboxMessage.error,
            )
        )
    return {key: (status, attempts, error) for key, status, attempts, error in rows}


@dataclass
class Callback:
    front: FrontEnd
    dispatcher: Dispatcher


@pytest.fixture
async def callback(
    store: Store, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> AsyncIterator[Callback]:
    """The dispatcher with the REST sender, posting to the front-end on loopback."""
    front = FrontEnd()
    server = await aiohttp_server(front.app())
    settings = RestSettings(
        callback_url=str(server.make_url("/bot/callback")),
        callback_secret=SECRET,
        callback_timeout_seconds=0.5,
    )
    sender = RestCallbackSender(settings, SystemClock())
    dispatcher = Dispatcher(
        store.sessions,
        {"rest": sender},
        SystemClock(),
        OutboxSettings(**FAST),
        jitter=lambda: 1.0,
    )
    yield Callback(front, dispatcher)
    await sender.close()


async def test_a_callback_carries_the_message_signed(store: Store, callback: Callback) -> None:
    front, dispatcher = callback.front, callback.dispatcher
    await _queue(store, _receipt(buttons=[("Saldo", "/check_balance")]))
    assert await dispatcher.run_until_idle() == 1
    assert front.received == [
        {
            "recipient_id": SENDER,
            "text": RECEIPT,
            "buttons": [{"title": "Saldo", "payload": "/check_balance"}],
        }
    ]
    status, attempts, _ = (await _statuses(store))["receipt:1"]
    assert (status, attempts) == ("sent", 1)


@pytest.mark.parametrize("failure", ["500", "503", "429", "timeout"])
async def test_a_5xx_or_a_timeout_is_tried_again_and_delivered_once(
    store: Store, callback: Callback, failure: str
) -> None:
    front, dispatcher = callback.front, callback.dispatcher
    front.script = [] if failure == "timeout" else [int(failure)]
    front.hang = failure == "timeout"
    await _queue(store, _receipt())
    await dispatcher.run_until_idle(wait_for_retries=True)
    assert [body["text"] for body in front.received] == [RECEIPT]
    status, attempts, _ = (await _statuses(store))["receipt:1"]
    assert (status, attempts) == ("sent", 2)


@pytest.mark.parametrize("refusal", [400, 404, 410])
async def test_a_4xx_is_a_permanent_failure(store: Store, callback: Callback, refusal: int) -> None:
    front, dispatcher = callback.front, callback.dispatcher
    front.script = [refusal]
    await _queue(store, _receipt())
    await dispatcher.run_until_idle(wait_for_retries=True)
    assert front.received == []
    assert (await _statuses(store))["receipt:1"] == (
        "permanent-failure",
        1,
        f"rest callback: HTTP {refusal}",
    )


def test_the_callback_is_off_unless_configured_and_needs_its_secret() -> None:
    assert "rest" not in build_senders(Settings())
    with pytest.raises(ValueError, match="callback_secret must be set"):
        Settings.model_validate({"rest": {"callback_url": "https://chat.example/cb"}})
    with pytest.raises(ValueError, match="http"):
        Settings.model_validate({"rest": {"callback_url": "chat.example", "callback_secret": "s"}})


# --- the built-in page collects its own ----------------------------------------------------------


async def _page_client(
    store: Store, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> TestClient[Any, Any]:
    settings = Settings.model_validate({"database": {"url": store.url}})
    client: TestClient[Any, Any] = await aiohttp_client(init_app(settings, clock=FrozenClock(NOW)))
    return client


async def test_the_page_collects_what_waits_for_its_sender_once(
    store: Store, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> None:
    client = await _page_client(store, aiohttp_client)
    await _queue(
        store,
        _receipt("receipt:1"),
        NewMessage("handoff:1", "rest", SENDER, Category.HANDOFF_REPLY, "Дякуємо", language="uk"),
        _receipt("receipt:other", OTHER),
        NewMessage("receipt:sms", "sms", SENDER, Category.RECEIPT, RECEIPT),
    )
    answer = await client.post("/webhooks/rest/waiting", json={"sender": SENDER})
    assert answer.status == 200
    assert await answer.json() == [
        {"recipient_id": SENDER, "text": RECEIPT, "metadata": {"language": "pl"}},
        {"recipient_id": SENDER, "text": "Дякуємо", "metadata": {"language": "uk"}},
    ]
    again = await client.post("/webhooks/rest/waiting", json={"sender": SENDER})
    assert await again.json() == []
    statuses = await _statuses(store)
    assert statuses["receipt:1"][0] == statuses["handoff:1"][0] == "delivered"
    # Nobody else's messages, and no other channel's.
    assert statuses["receipt:other"][0] == statuses["receipt:sms"][0] == "created"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{", "the body must be JSON"),
        (b"[]", "the body must be a JSON object"),
        (b'{"sender": ""}', "sender: a non-empty string is required"),
        (b'{"sender": "a\\u0000b"}', "sender: control characters are not allowed"),
    ],
)
async def test_a_bad_collect_request_is_400_and_takes_nothing(
    store: Store,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    body: bytes,
    error: str,
) -> None:
    client = await _page_client(store, aiohttp_client)
    await _queue(store, _receipt())
    answer = await client.post(
        "/webhooks/rest/waiting", data=body, headers={"Content-Type": "application/json"}
    )
    assert (answer.status, await answer.json()) == (400, {"error": error})
    assert (await _statuses(store))["receipt:1"][0] == "created"
