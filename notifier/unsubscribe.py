"""One-click unsubscribe from e-mail (RFC 8058): the link in every reminder and announcement.

    GET  /unsubscribe/{token}   a page that asks, with one button (a form, no script): link
                                checkers and mail scanners open links, so a GET changes nothing
    POST /unsubscribe/{token}   the unsubscribe itself, as a mail client sends it with the body
                                `List-Unsubscribe=One-Click`, or the page's button does

The token (see `notifier.unsubscribe_tokens`) names the message it came with and the category;
the message's row names the taxpayer, whose e-mail notices of that category are switched off
through the preferences (`opt_out`, source `unsubscribe`, kept in their history). A token we did
not sign, or whose message is gone, gets the same page saying the link is not valid (404); a
second POST is harmless. Both routes are limited per client address (`web.rate_limit.unsubscribe`).
"""

from __future__ import annotations

import logging

from aiohttp import web

from kernel.i18n import DEFAULT_LANGUAGE, render
from kernel.ratelimit import rate_limited
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from notifier.email_content import UNSUBSCRIBE_PATH, template_environment
from notifier.senders.email import CHANNEL
from notifier.unsubscribe_tokens import Unsubscribe, UnsubscribeTokens
from storage.outbox import stored_messages
from storage.preferences import opt_out

log = logging.getLogger(__name__)

SOURCE = "unsubscribe"
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_TOKENS = web.AppKey("unsubscribe_tokens", UnsubscribeTokens)
_PAGE = template_environment().get_template("unsubscribe.html")


def _page(
    request: web.Request, state: str, wanted: Unsubscribe | None, status: int
) -> web.Response:
    language = wanted.language if wanted else DEFAULT_LANGUAGE
    body = _PAGE.render(
        t=lambda key, **values: render(key, language, values),
        language=language,
        office=request.app[SETTINGS].city.office_name,
        state=state,
        # `category` is rendered by its label (`label_category_reminders`) in the language.
        category=wanted.category if wanted else "",
    )
    return web.Response(text=body, status=status, content_type="text/html", headers=_HEADERS)


def _wanted(request: web.Request) -> Unsubscribe | None:
    tokens = request.app.get(_TOKENS)
    return tokens.read(request.match_info["token"]) if tokens is not None else None


@rate_limited("unsubscribe")
async def ask(request: web.Request) -> web.Response:
    wanted = _wanted(request)
    if wanted is None:
        return _page(request, "invalid", None, 404)
    return _page(request, "ask", wanted, 200)


@rate_limited("unsubscribe")
async def unsubscribe(request: web.Request) -> web.Response:
    # The body (`List-Unsubscribe=One-Click`) is not read: the token says all there is to do.
    wanted = _wanted(request)
    if wanted is None:
        log.info("unsubscribe: a link we did not sign was posted")
        return _page(request, "invalid", None, 404)
    now = request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session:
        message = (await stored_messages(session, [wanted.message_id])).get(wanted.message_id)
        taxpayer_id = message.taxpayer_id if message is not None else None
        if message is None or taxpayer_id is None or message.channel != CHANNEL:
            log.info("unsubscribe: message %s is not an e-mail to a taxpayer", wanted.message_id)
            return _page(request, "invalid", None, 404)
        await opt_out(session, taxpayer_id, CHANNEL, SOURCE, now, categories=[wanted.category])
        await session.commit()
    log.info("unsubscribe: taxpayer id %s stopped %s by e-mail", taxpayer_id, wanted.category)
    return _page(request, "done", wanted, 200)


def setup_unsubscribe_routes(app: web.Application) -> None:
    """`GET`/`POST /unsubscribe/{token}`; without `email.unsubscribe_secret` every token is
    refused (e-mail is off then, so no link was ever sent)."""
    secret = app[SETTINGS].email.unsubscribe_secret
    if secret:
        app[_TOKENS] = UnsubscribeTokens(secret)
    path = UNSUBSCRIBE_PATH + "{token}"
    app.router.add_get(path, ask)
    app.router.add_post(path, unsubscribe)
