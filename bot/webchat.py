"""The web chat page at `/`: plain HTML and a little JavaScript over the REST channel.

The page is rendered once at start-up. Its words come from the Babel catalogues (the `web_…` keys
of kernel/messages.py): the HTML is in Polish, and a JSON data block holds the words in every
language, so that the script can switch the labels and `<html lang>` to the language the
assistant answers in. The city's name is escaped. Script and style sheet are served from `/chat/`,
the icon from `/favicon.svg`. A strict Content-Security-Policy allows only our own script and
`fetch` to our own origin; the JSON block is data, which no policy runs.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.channels.rest import MAX_MESSAGE_LENGTH
from kernel.i18n import DEFAULT_LANGUAGE, LANGUAGES, render, template
from kernel.messages import MESSAGES
from kernel.settings import CitySettings
from kernel.webkeys import SETTINGS

STATIC = Path(__file__).with_name("static")
_ASSETS = {"chat.js": "text/javascript", "chat.css": "text/css"}
FAVICON_PATH = "/favicon.svg"
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The page's own words; their `{city}`, `{length}` and `{limit}` are filled in by the script.
CHROME_KEYS = tuple(key for key in MESSAGES if key.startswith("web_"))
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def chrome_words(language: str) -> dict[str, str]:
    """The page's words in one language, placeholders left for the script."""
    return {key: template(key, language) for key in CHROME_KEYS}


def _json_for_html(value: object) -> str:
    # Inside <script type="application/json">: no `</script>` or `<!--` can close the block early.
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(city: CitySettings) -> str:
    """chat.html with every `{{name}}` filled: the page's Polish words, the city and the data."""
    values = {
        "city_name": html.escape(city.name),
        "office_name": html.escape(city.office_name),
        "language": DEFAULT_LANGUAGE,
        "max_length": str(MAX_MESSAGE_LENGTH),
        "favicon": FAVICON_PATH,
        "chrome_json": _json_for_html({lang: chrome_words(lang) for lang in LANGUAGES}),
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in CHROME_KEYS:
            return html.escape(render(name, DEFAULT_LANGUAGE, {"city": city.name}))
        return values[name]

    page = (STATIC / "chat.html").read_text(encoding="utf-8")
    return _PLACEHOLDER.sub(fill, page)


def _static_handler(
    body: str, content_type: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type, headers=_HEADERS)

    return handler


async def _favicon_ico(_request: web.Request) -> web.Response:
    # Clients that ask for the icon without reading the page's <link rel="icon">.
    raise web.HTTPMovedPermanently(FAVICON_PATH)


def setup_webchat_routes(app: web.Application) -> None:
    app.router.add_get("/", _static_handler(render_page(app[SETTINGS].city), "text/html"))
    for name, content_type in _ASSETS.items():
        body = (STATIC / name).read_text(encoding="utf-8")
        app.router.add_get(f"/chat/{name}", _static_handler(body, content_type))
    icon = (STATIC / "favicon.svg").read_text(encoding="utf-8")
    app.router.add_get(FAVICON_PATH, _static_handler(icon, "image/svg+xml"))
    app.router.add_get("/favicon.ico", _favicon_ico)
