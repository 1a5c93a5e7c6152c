from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from bot.web import init_app
from kernel.settings import Settings
from tests.conftest import Store

ClientMaker = Callable[..., Awaitable[TestClient[Any, Any]]]


def _settings(url: str, **sections: dict[str, object]) -> Settings:
    return Settings.model_validate({"database": {"url": url}, **sections})


async def test_health_reports_database_and_channels(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await aiohttp_client(init_app(_settings(store.url)))
    response = await client.get("/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["channels"]["telegram"] == "off"
    assert body["channels"]["rest"] == "on"


async def test_health_is_degraded_when_the_database_is_gone(aiohttp_client: ClientMaker) -> None:
    settings = _settings("postgresql://nobody@127.0.0.1:1/none")
    client = await aiohttp_client(init_app(settings))
    body = await (await client.get("/health")).json()
    assert body["status"] == "degraded"
    assert body["database"] == "unavailable"


async def test_metrics_count_requests_in_prometheus_text(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    # A channel that is on, pointed at a closed port (no test reaches the real Telegram).
    telegram = {"token": "1:abc", "webhook_secret": "s", "api_base_url": "http://127.0.0.1:9"}
    client = await aiohttp_client(init_app(_settings(store.url, telegram=telegram)))
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert 'gmina_http_requests_total{route="/health",status="200"} 1.0' in text
