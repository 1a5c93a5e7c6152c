"""Public routes limit requests per client address: 429 with Retry-After, per bucket."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.settings import Settings
from tests.conftest import Store
from tests.conversation_helpers import NOW, ClientMaker, new_sender

WEBHOOK = "/webhooks/rest/webhook"
PORTAL = "/api/v1/link-tokens"
KEY = "portal-secret-key"


async def _client(
    store: Store, aiohttp_client: ClientMaker, **rate_limit: object
) -> TestClient[Any, Any]:
    limits = {
        "exempt": [],  # the test client is on this machine, which is exempt by default
        "webhook": {"per_minute": 1, "burst": 2},
        "portal": {"per_minute": 2, "burst": 1},
        **rate_limit,
    }
    settings = Settings.model_validate(
        {
            "database": {"url": store.url},
            "city": {"portal_api_key": KEY},
            "web": {"rate_limit": limits},
        }
    )
    return await aiohttp_client(init_app(settings, clock=FrozenClock(NOW)))


async def _say(client: TestClient[Any, Any], headers: dict[str, str] | None = None) -> Any:
    return await client.post(
        WEBHOOK, json={"sender": new_sender(), "message": "pomoc"}, headers=headers or {}
    )


async def test_past_the_burst_the_webhook_answers_429_with_retry_after(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await _client(store, aiohttp_client)
    assert [(await _say(client)).status for _ in range(2)] == [200, 200]
    refused = await _say(client)
    assert refused.status == 429
    assert refused.headers["Retry-After"] in {"59", "60"}  # one a minute
    assert await refused.json() == {"error": "too_many_requests"}
    # Another route has its own bucket.
    portal = await client.post(PORTAL, json={}, headers={"Authorization": f"Bearer {KEY}"})
    assert portal.status == 400


async def test_the_portal_is_limited_before_its_key_is_checked(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await _client(store, aiohttp_client)
    wrong = {"Authorization": "Bearer guess"}
    assert (await client.post(PORTAL, json={}, headers=wrong)).status == 401
    refused = await client.post(PORTAL, json={}, headers=wrong)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "30"


async def test_a_forged_forwarded_for_does_not_buy_a_new_bucket(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await _client(store, aiohttp_client)
    statuses = [
        (await _say(client, {"X-Forwarded-For": f"198.51.100.{n}"})).status for n in range(3)
    ]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize("trusted", [["127.0.0.1"], ["127.0.0.0/8"]])
async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_bucket(
    store: Store, aiohttp_client: ClientMaker, trusted: list[str]
) -> None:
    client = await _client(store, aiohttp_client, trusted_proxies=trusted)
    first = {"X-Forwarded-For": "198.51.100.1"}
    second = {"X-Forwarded-For": "198.51.100.2"}
    assert [(await _say(client, first)).status for _ in range(3)] == [200, 200, 429]
    assert (await _say(client, second)).status == 200


async def test_this_machine_is_exempt_by_default(store: Store, aiohttp_client: ClientMaker) -> None:
    settings = Settings.model_validate(
        {
            "database": {"url": store.url},
            "web": {"rate_limit": {"webhook": {"burst": 1, "per_minute": 1}}},
        }
    )
    client = await aiohttp_client(init_app(settings, clock=FrozenClock(NOW)))
    assert {(await _say(client)).status for _ in range(3)} == {200}
