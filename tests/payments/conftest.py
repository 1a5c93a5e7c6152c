"""The whole server on a real socket whose address is `web.public_base_url`, so that links,
return addresses and notification URLs lead back to it; a Przelewy24 peer beside it.

A resident whose every outstanding obligation is overdue on the frozen day: a payment link from
the chat then covers everything `gmina balance` counts.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.settings import Settings
from tests.conftest import Store
from tests.conversation_helpers import NOW, add_obligation, link_token
from tests.peers.przelewy24 import API_KEY, CRC, MERCHANT_ID, Przelewy24Peer
from tests.resident_helpers import add_taxpayer

REF = "T-2001"
ACCOUNT = "22105012141000000012345678"
PAY_URL = re.compile(r"http://127\.0\.0\.1:\d+/pay/[A-Za-z0-9_-]{43}")


@asynccontextmanager
async def listening(
    build: Any,
) -> AsyncIterator[tuple[str, web.Application]]:
    """`build(base_url)` makes the app; it is served on a socket bound before it is made, so
    its public base URL is its real address (port 0: the system picks the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = build(base_url)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield base_url, app
    finally:
        await runner.cleanup()


@dataclass
class Server:
    url: str
    app: web.Application
    store: Store
    http: aiohttp.ClientSession

    async def chat(self, sender: str, text: str) -> list[dict[str, Any]]:
        async with self.http.post(
            f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
        ) as response:
            assert response.status == 200, await response.text()
            replies: list[dict[str, Any]] = await response.json()
            return replies

    async def pay_link(self, sender: str = "web-" + "5" * 32) -> str:
        """The link a verified resident gets by asking to pay in the web chat."""
        await self.chat(sender, f"/start {await link_token(self.store, REF)}")
        replies = await self.chat(sender, "zapłać")
        found = [PAY_URL.search(reply["text"]) for reply in replies]
        links = [match.group(0) for match in found if match]
        assert len(links) == 1, replies
        assert links[0].startswith(self.url + "/pay/")
        return links[0]


def server_settings(store: Store, base_url: str, **payments: Any) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": store.url},
            "web": {"public_base_url": base_url},
            "payments": payments,
        }
    )


@asynccontextmanager
async def running(store: Store, **payments: Any) -> AsyncIterator[Server]:
    def build(base_url: str) -> web.Application:
        return init_app(server_settings(store, base_url, **payments), clock=FrozenClock(NOW))

    async with (
        listening(build) as (url, app),
        aiohttp.ClientSession() as http,
    ):
        yield Server(url, app, store, http)


async def add_payer(store: Store, *, amount: str = "1500.00") -> int:
    """Ewa Wiśniewska: a property-tax instalment and a dog fee, both late on 10 May 2027."""
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(
            session, REF, first_name="Ewa", last_name="Wiśniewska", account_number=ACCOUNT
        )
        await add_obligation(
            session, taxpayer_id, "PT-2027-1", "property_tax", date(2027, 3, 15), amount
        )
        await add_obligation(
            session, taxpayer_id, "DOG-2027", "dog_fee", date(2027, 3, 31), "30.00"
        )
        await session.commit()
    return taxpayer_id


@pytest.fixture
async def demo_server(store: Store) -> AsyncIterator[Server]:
    await add_payer(store)
    async with running(store) as server:
        yield server


@pytest.fixture
async def p24_peer() -> AsyncIterator[tuple[Przelewy24Peer, str]]:
    peer = Przelewy24Peer()
    async with listening(lambda _base: peer.app()) as (url, _app):
        yield peer, url
        peer.release()


@pytest.fixture
async def p24_server(
    store: Store, p24_peer: tuple[Przelewy24Peer, str]
) -> AsyncIterator[tuple[Server, Przelewy24Peer]]:
    peer, peer_url = p24_peer
    await add_payer(store)
    keys = {"merchant_id": MERCHANT_ID, "api_key": API_KEY, "crc": CRC, "api_base_url": peer_url}
    async with running(store, gateway="przelewy24", przelewy24=keys) as server:
        yield server, peer
