"""Forged requests: every unsafe request under `/panel/` must carry the session's CSRF token.

The token is in the signed session cookie; pages put it in their forms (`{{ csrf_field() }}`,
field `csrf_token`), a script may send it as the header `X-CSRF-Token`. A request without it, or
with another, is refused with 403 before any handler runs, so it changes nothing. Together with
the cookie's SameSite=Strict this keeps other sites from acting in a signed-in browser.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.panel.auth import Handler, is_panel_path
from bot.panel.forms import form_text
from bot.panel.render import refusal
from bot.panel.state import SESSION

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def sent_token(request: web.Request) -> str:
    """The token the request carries: the header, else the form field (form bodies only)."""
    token = request.headers.get(HEADER)
    if token is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        token = form_text(await request.post(), FIELD)
    return token or ""


def csrf_middleware() -> Middleware:
    """Runs inside the session middleware, which has put the session on the request."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in SAFE_METHODS or not is_panel_path(request.path):
            return await handler(request)
        expected = request[SESSION].csrf
        if not hmac.compare_digest(expected.encode(), (await sent_token(request)).encode()):
            return await refusal(request, 403)
        return await handler(request)

    return middleware
