from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.settings import Settings
from storage.conversations import redeem_link_token
from tests.conftest import Store
from tests.resident_helpers import add_taxpayer

ClientMaker = Callable[..., Awaitable[TestClient[Any, Any]]]

KEY = "portal-secret-key"
NOW = datetime(2026, 3, 10, 9, 30, 15, 123456, tzinfo=UTC)
URL = "/api/v1/link-tokens"


def _settings(url: str, **sections: dict[str, object]) -> Settings:
    return Settings.model_validate(
        {"database": {"url": url}, "city": {"portal_api_key": KEY}, **sections}
    )


async def _client(
    store: Store, aiohttp_client: ClientMaker, **sections: dict[str, object]
) -> TestClient[Any, Any]:
    async with store.sessions() as session:
        await add_taxpayer(session, "T-0001")
        await session.commit()
    app = init_app(_settings(store.url, **sections), clock=FrozenClock(NOW))
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_a_request_without_the_key_is_refused(
    store: Store, aiohttp_client: ClientMaker, headers: dict[str, str]
) -> None:
    client = await _client(store, aiohttp_client)
    response = await client.post(URL, json={"taxpayer_ref": "T-0001"}, headers=headers)
    assert response.status == 401
    assert await response.json() == {"error": "unauthorized"}


async def test_no_key_configured_refuses_everyone(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await _client(store, aiohttp_client, city={"portal_api_key": None})
    response = await client.post(
        URL, json={"taxpayer_ref": "T-0001"}, headers={"Authorization": "Bearer "}
    )
    assert response.status == 401


async def test_an_unknown_ref_is_404(store: Store, aiohttp_client: ClientMaker) -> None:
    client = await _client(store, aiohttp_client)
    response = await client.post(
        URL, json={"taxpayer_ref": "NOPE"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status == 404
    assert await response.json() == {"error": "unknown_taxpayer"}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"taxpayer_ref": 12}',
        b'{"taxpayer_ref": "T-0001", "ttl_minutes": 0}',
        b'{"taxpayer_ref": "T-0001", "ttl_minutes": true}',
        # Each of these was a 500: RecursionError, a lone surrogate, a NUL for the database.
        b"[" * 1000 + b"]" * 1000,
        b'{"taxpayer_ref": "T-0001", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"taxpayer_ref": "T-\\ud800"}',
        b'{"taxpayer_ref": "T-0001\\u0000"}',
        b'{"taxpayer_ref": "T-\xff"}',
    ],
)
async def test_a_malformed_body_is_400(
    store: Store, aiohttp_client: ClientMaker, body: bytes
) -> None:
    client = await _client(store, aiohttp_client)
    response = await client.post(URL, data=body, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status == 400
    assert (await response.json())["error"] == "bad_request"


async def test_the_portal_gets_a_token_that_binds_a_chat(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await _client(store, aiohttp_client, telegram={"bot_username": "@ruda_bot"})
    response = await client.post(
        URL,
        json={"taxpayer_ref": "T-0001", "ttl_minutes": 10},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["expires_at"] == "2026-03-10T09:40:15Z"
    assert body["telegram_link"] == f"https://t.me/ruda_bot?start={body['token']}"
    async with store.sessions() as session:
        taxpayer_id = await redeem_link_token(session, body["token"], "telegram", "9", NOW)
        assert taxpayer_id is not None
        later = NOW + timedelta(minutes=1)
        assert await redeem_link_token(session, body["token"], "telegram", "9", later) is None


async def test_without_a_bot_name_there_is_no_telegram_link(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await _client(store, aiohttp_client)
    response = await client.post(
        URL, json={"taxpayer_ref": "T-0001"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    body = await response.json()
    assert body["telegram_link"] is None
    assert body["expires_at"] == "2026-03-10T10:00:15Z"
