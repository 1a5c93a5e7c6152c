from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from bot.web import init_app
from kernel.settings import Settings

ClientMaker = Callable[..., Awaitable[TestClient[Any, Any]]]


def _settings(city: str) -> Settings:
    # The page needs no store: a URL nobody answers is fine.
    return Settings.model_validate(
        {"database": {"url": "sqlite:///:memory:"}, "city": {"name": city}}
    )


async def test_the_chat_page_names_the_city(aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(init_app(_settings("Ruda Śląska")))
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = await response.text()
    assert "<title>Ruda Śląska – asystent podatków i opłat lokalnych</title>" in page
    assert 'aria-live="polite"' in page
    assert '<label for="message">' in page
    assert "/start KOD" in page


async def test_the_city_name_is_escaped(aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(init_app(_settings('Gmina <script>"x"</script>')))
    page = await (await client.get("/")).text()
    assert '<script>"x"' not in page
    assert "Gmina &lt;script&gt;&quot;x&quot;&lt;/script&gt;" in page


async def test_the_script_and_style_are_served(aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(init_app(_settings("Ruda Śląska")))
    script = await client.get("/chat/chat.js")
    assert script.status == 200
    assert script.content_type == "text/javascript"
    assert "/webhooks/rest/webhook" in await script.text()
    style = await client.get("/chat/chat.css")
    assert style.content_type == "text/css"
