"""The Telegram peer on a loopback port, and a dispatcher that sends to it with the real PTB."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from kernel.clock import SystemClock
from kernel.settings import OutboxSettings
from notifier.dispatcher import ChannelLimits, Dispatcher
from notifier.senders.telegram import TelegramSender, build_bot
from storage.outbox_models import OutboxMessage
from tests.conftest import Store
from tests.peers.telegram import TelegramPeer

TOKEN = "7000001:AAE-test-token-that-must-never-be-logged"


@dataclass
class TelegramLine:
    peer: TelegramPeer
    base_url: str
    sender: TelegramSender


@pytest.fixture
async def telegram(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> AsyncIterator[TelegramLine]:
    peer = TelegramPeer(TOKEN)
    # The peer stands where Telegram would: its own access log (naming the token in each path) is
    # not ours, and is off so that the logging test sees only what our process logs.
    server = await aiohttp_server(peer.app(), access_log=None)
    base_url = str(server.make_url("")).rstrip("/")
    sender = TelegramSender(build_bot(TOKEN, base_url, timeout=2.0))
    yield TelegramLine(peer, base_url, sender)
    await sender.close()


# Quick retries, so that a test waits out a backoff in a fraction of a second.
FAST = {"backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.2, "idle_poll_seconds": 0.05}


def make_dispatcher(
    store: Store,
    telegram: TelegramLine,
    *,
    limits: ChannelLimits | None = None,
    **settings: Any,
) -> Dispatcher:
    return Dispatcher(
        store.sessions,
        {"telegram": telegram.sender},
        SystemClock(),
        OutboxSettings(**{**FAST, **settings}),
        limits={"telegram": limits} if limits else None,
        jitter=lambda: 1.0,
    )


async def outbox_row(store: Store, key: str) -> tuple[str, int, str | None, str | None]:
    """(status, attempts, provider id, error) of the outbox row `key`."""
    async with store.sessions() as session:
        found = (
            await session.execute(
                sa.select(
                    OutboxMessage.status,
                    OutboxMessage.attempts,
                    OutboxMessage.provider_id,
                    OutboxMessage.error,
                ).where(OutboxMessage.key == key)
            )
        ).one()
    return found.status, found.attempts, found.provider_id, found.error
