"""The web chat page at `/`: plain HTML and a little JavaScript over the REST channel.

The page is rendered once at start-up with the city's name (escaped); its script and style sheet
are served from `/chat/`. A strict Content-Security-Policy allows only our own script and
`fetch` to our own origin.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from kernel.webkeys import SETTINGS

STATIC = Path(__file__).with_name("static")
_ASSETS = {"chat.js": "text/javascript", "chat.css": "text/css"}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _static_handler(
    body: str, content_type: str
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type, headers=_HEADERS)

    return handler


def setup_webchat_routes(app: web.Application) -> None:
    city = app[SETTINGS].city
    page = (
        (STATIC / "chat.html")
        .read_text(encoding="utf-8")
        .replace("{{city_name}}", html.escape(city.name))
        .replace("{{office_name}}", html.escape(city.office_name))
    )
    app.router.add_get("/", _static_handler(page, "text/html"))
    for name, content_type in _ASSETS.items():
        body = (STATIC / name).read_text(encoding="utf-8")
        app.router.add_get(f"/chat/{name}", _static_handler(body, content_type))
