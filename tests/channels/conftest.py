"""The application with its Telegram channel on, talking to the Telegram peer through PTB."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.telegram import TELEGRAM_INBOUND
from bot.web import init_app
from kernel.clock import Clock, FrozenClock
from kernel.settings import Settings
from tests.conftest import Store
from tests.conversation_helpers import NOW
from tests.peers.telegram import TelegramPeer

TOKEN = "7000001:AAE-test-token-that-must-never-be-logged"
SECRET = "s3cret-Webhook_token"
PUBLIC_BASE_URL = "https://gmina.example"

ServerMaker = Callable[..., Awaitable[TestServer]]
ClientMaker = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Line:
    """The peer, and how to reach the app as Telegram would."""

    peer: TelegramPeer
    peer_url: str
    client: TestClient[Any, Any] | None = None

    @property
    def base_url(self) -> str:
        assert self.client is not None
        return str(self.client.make_url("")).rstrip("/")

    async def deliver(self, update: dict[str, Any]) -> int:
        return await self.peer.deliver(update, self.base_url)


@pytest.fixture
async def line(aiohttp_server: ServerMaker) -> Line:
    peer = TelegramPeer(TOKEN)
    server = await aiohttp_server(peer.app(), access_log=None)
    return Line(peer, str(server.make_url("")).rstrip("/"))


def telegram_settings(store: Store, line: Line, mode: str = "webhook", **outbox: float) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": store.url},
            "web": {"public_base_url": PUBLIC_BASE_URL},
            "telegram": {
                "token": TOKEN,
                "api_base_url": line.peer_url,
                "mode": mode,
                "webhook_secret": SECRET,
                # A test does not wait out Telegram's one message a second to one chat.
                "rate_per_chat_per_second": 1000,
            },
            "outbox": {"idle_poll_seconds": 0.05, **outbox},
        }
    )


async def start_app(
    store: Store,
    line: Line,
    aiohttp_client: ClientMaker,
    mode: str = "webhook",
    *,
    clock: Clock | None = None,
    **outbox: float,
) -> TestClient[Any, Any]:
    """The app on the tests' frozen day unless a clock is given (a retry needs time to pass)."""
    settings = telegram_settings(store, line, mode, **outbox)
    app = init_app(settings, clock=clock or FrozenClock(NOW))
    line.client = await aiohttp_client(app)
    async with asyncio.timeout(20):
        await app[TELEGRAM_INBOUND].started.wait()
    return line.client
