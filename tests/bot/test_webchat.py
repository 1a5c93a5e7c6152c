import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from bot.web import init_app
from kernel.i18n import LANGUAGES, render
from kernel.settings import Settings
from tests.conftest import Store
from tests.conversation_helpers import Chat, new_app

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
    assert '<label for="message"' in page
    assert "/start KOD" in page
    assert "{{" not in page


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


def _chrome_words(page: str) -> dict[str, dict[str, str]]:
    block = re.search(
        r'<script type="application/json" id="chrome-words">(.*?)</script>', page, re.S
    )
    assert block is not None
    words: dict[str, dict[str, str]] = json.loads(block.group(1))
    return words


async def test_the_page_carries_its_words_in_every_language(aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(init_app(_settings("Ruda Śląska")))
    page = await (await client.get("/")).text()
    words = _chrome_words(page)
    assert set(words) == set(LANGUAGES)
    assert words["pl"]["web_send"] == "Wyślij"
    assert words["en"]["web_message_label"] == "Your message"
    assert words["uk"]["web_you"] == render("web_you", "uk") == "Ви"
    # Placeholders are left for the page's script to fill.
    assert "{length}" in words["uk"]["web_too_long"]
    assert all(set(words[language]) == set(words["pl"]) for language in LANGUAGES)
    # The Polish words are in the HTML itself, for the first paint and for a page without script.
    assert f">{words['pl']['web_message_label']}</label>" in page
    assert 'data-max-length="4096"' in page


async def test_no_word_can_close_the_data_block(aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(init_app(_settings("Ruda Śląska")))
    page = await (await client.get("/")).text()
    block = page.split('id="chrome-words">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block
    assert ">" not in block


async def test_the_favicon_is_an_svg(aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(init_app(_settings("Ruda Śląska")))
    page = await (await client.get("/")).text()
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in page
    icon = await client.get("/favicon.svg")
    assert icon.status == 200
    assert icon.content_type == "image/svg+xml"
    assert (await icon.text()).startswith("<svg")
    legacy = await client.get("/favicon.ico", allow_redirects=False)
    assert legacy.status == 301
    assert legacy.headers["Location"] == "/favicon.svg"


async def test_every_answer_names_its_language(store: Store, aiohttp_client: ClientMaker) -> None:
    chat = Chat(await aiohttp_client(new_app(store)))
    english = await chat.say("Hello! What can you do?")
    assert english
    assert all(reply["metadata"] == {"language": "en"} for reply in english)
    ukrainian = await chat.say("Привіт! Що ти вмієш?")
    assert ukrainian
    assert all(reply["metadata"] == {"language": "uk"} for reply in ukrainian)
