"""The city portal's API: after its own login.gov.pl sign-in, the portal asks for a link token.

`POST /api/v1/link-tokens` with `Authorization: Bearer <city.portal_api_key>` and a JSON body
`{"taxpayer_ref": REF, "ttl_minutes": N}` (`ttl_minutes` optional, default 30) answers 200
`{"token", "expires_at", "telegram_link"}`: `expires_at` in ISO 8601 UTC, `telegram_link` null
when `telegram.bot_username` is not set. Errors are JSON `{"error": CODE}`: 401 for a missing or
wrong key (and whenever no key is configured), 400 for a malformed body (not UTF-8 JSON, nested too
deep, a lone surrogate, a reference with control characters), 404 for an unknown ref, 429 with
`Retry-After` past `web.rate_limit.portal` requests from one address.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, timedelta
from typing import Any

from aiohttp import web

from kernel import jsonsafe
from kernel.ratelimit import rate_limited
from kernel.settings import Settings
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from storage.conversations import LINK_TOKEN_TTL, UnknownTaxpayer, create_link_token

log = logging.getLogger(__name__)

MAX_TTL_MINUTES = 24 * 60
_NO_STORE = {"Cache-Control": "no-store"}


def telegram_start_link(settings: Settings, token: str) -> str | None:
    """The `t.me` deep link that makes Telegram send `/start TOKEN`, if the bot is named."""
    username = (settings.telegram.bot_username or "").lstrip("@")
    return f"https://t.me/{username}?start={token}" if username else None


def _error(status: int, error: str, detail: str | None = None) -> web.Response:
    body = {"error": error} if detail is None else {"error": error, "detail": detail}
    return web.json_response(body, status=status, headers=_NO_STORE)


def _authorised(request: web.Request) -> bool:
    key = request.app[SETTINGS].city.portal_api_key
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not key or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), key.encode())


def _parse(body: Any) -> tuple[str, int] | str:
    """(taxpayer_ref, ttl_minutes), or what is wrong with the body."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    ref = body.get("taxpayer_ref")
    if not isinstance(ref, str) or not ref.strip() or len(ref) > 64 or not ref.isprintable():
        return "taxpayer_ref must be a non-empty string of at most 64 printable characters"
    ttl = body.get("ttl_minutes", int(LINK_TOKEN_TTL.total_seconds() // 60))
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL_MINUTES:
        return f"ttl_minutes must be a whole number from 1 to {MAX_TTL_MINUTES}"
    return ref.strip(), ttl


@rate_limited("portal")
async def issue_link_token(request: web.Request) -> web.Response:
    if not _authorised(request):
        log.warning("portal API: refused a request without a valid key")
        response = _error(401, "unauthorized")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    try:
        parsed = _parse(jsonsafe.loads(await request.read()))
    except jsonsafe.InvalidJSON as exc:
        parsed = f"the body must be a JSON object: {exc}"
    if isinstance(parsed, str):
        return _error(400, "bad_request", parsed)
    taxpayer_ref, ttl_minutes = parsed
    now = request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session:
        try:
            issued = await create_link_token(
                session, taxpayer_ref, now, ttl=timedelta(minutes=ttl_minutes), issued_by="portal"
            )
        except UnknownTaxpayer:
            return _error(404, "unknown_taxpayer")
        await session.commit()
    log.info("portal API: link token issued for taxpayer id %s", issued.taxpayer_id)
    expires_at = issued.expires_at.astimezone(UTC).isoformat(timespec="seconds")
    return web.json_response(
        {
            "token": issued.token,
            "expires_at": expires_at.replace("+00:00", "Z"),
            "telegram_link": telegram_start_link(request.app[SETTINGS], issued.token),
        },
        headers=_NO_STORE,
    )


def setup_portal_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/link-tokens", issue_link_token)
