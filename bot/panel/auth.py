"""Who is asking: the session middleware, `requires(role)` and `current_staff`.

For every request under `/panel/` the middleware reads the session cookie (`sessions`), ends a
session that is expired, whose account is gone or disabled, or whose password changed since the
login, and re-reads the account, so a page always acts for the staff member as they are now. A
request that is not signed in goes to the login page (303), except for the few public paths (the
login form, the language switch, the style sheet). After the handler the cookie is written again
(the idle clock restarts) with the panel's security headers.

Roles rank clerk < approver < admin; `requires(role)` answers 403 to a lower one. An approver or
admin must also have passed the second factor (TOTP) in this session.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.panel.render import refusal
from bot.panel.sessions import COOKIE, COOKIE_PATH, PanelSession
from bot.panel.state import PANEL, SESSION, STAFF, may, signed_in_staff
from kernel.webkeys import CLOCK, SESSIONS
from storage.panel_security import session_ended
from storage.staff import APPROVERS, Role, Staff, signed_in_state

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PREFIX = "/panel/"
LOGIN_PATH = "/panel/login"
LOGOUT_PATH = "/panel/logout"
SECOND_FACTOR_PATH = "/panel/login/second-factor"
HOME_PATH = "/panel/"
MAX_NEXT_LENGTH = 2000
# Reachable without a session: the login form, the language switch, the style sheet and script.
PUBLIC_PATHS = frozenset({LOGIN_PATH, "/panel/language"})
PUBLIC_PREFIXES = ("/panel/assets/",)
# Reachable signed in before the second factor is passed.
BEFORE_SECOND_FACTOR = frozenset({LOGOUT_PATH})
BEFORE_SECOND_FACTOR_PREFIXES = (SECOND_FACTOR_PATH,)

# Roles that must pass the second factor at every login.
SECOND_FACTOR_ROLES = APPROVERS

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def is_panel_path(path: str) -> bool:
    return path.startswith(PREFIX)


def current_staff(request: web.Request) -> Staff:
    """The signed-in staff member, re-read from the store for this request. Only for handlers
    behind `requires` (or any panel page but the public ones): elsewhere it is a 303 to login."""
    staff = signed_in_staff(request)
    if staff is None:
        raise to_login(request)
    return staff


def panel_session(request: web.Request) -> PanelSession:
    return request[SESSION]


def replace_session(request: web.Request, new: PanelSession) -> None:
    """Make `new` this browser's session; the cookie is written when the answer goes out."""
    request[SESSION] = new


def needs_second_factor(request: web.Request) -> bool:
    staff = signed_in_staff(request)
    return (
        staff is not None
        and staff.role in SECOND_FACTOR_ROLES
        and not request[SESSION].second_factor
    )


def safe_next(path: str | None) -> str:
    """Where to go after login: a panel path of ours, never another site (`//evil`)."""
    if (
        path
        and path.startswith(PREFIX)
        and "\\" not in path
        and path.isprintable()
        and len(path) <= MAX_NEXT_LENGTH
    ):
        return path
    return HOME_PATH


def to_login(request: web.Request, reason: str | None = None) -> web.HTTPSeeOther:
    """A 303 to the login page, coming back here afterwards when this was a page to read."""
    query = []
    if request.method == "GET" and request.path != HOME_PATH:
        query.append(f"next={quote(request.path_qs, safe='/')}")
    if reason:
        query.append(f"reason={reason}")
    return web.HTTPSeeOther(LOGIN_PATH + ("?" + "&".join(query) if query else ""))


def requires(role: Role) -> Callable[[Handler], Handler]:
    """Decorate a panel handler: only staff of `role` or above (clerk < approver < admin), past
    the second factor where their role needs it; 403 for a lower role."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            staff = current_staff(request)
            if needs_second_factor(request):
                raise web.HTTPSeeOther(SECOND_FACTOR_PATH)
            if not may(staff, role):
                return await refusal(request, 403)
            return await handler(request)

        return guarded

    return decorate


async def _checked(
    request: web.Request, found: PanelSession, now: datetime
) -> tuple[PanelSession, str | None]:
    """The session to go on with, and why a signed-in one ended (None when it did not)."""
    room = request.app[PANEL]
    if found.name is None:
        return found, None
    if found.expired(now, room.settings.panel):
        return PanelSession.anonymous(), "expired"
    async with request.app[SESSIONS]() as session:
        state = await signed_in_state(session, found.name)
        ended = await session_ended(session, found.sid)
    if (
        ended
        or state is None
        or state.staff.disabled
        or state.credentials_stamp != found.credentials
    ):
        return PanelSession.anonymous(), "ended"
    request[STAFF] = state.staff
    return found.touched(now), None


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _may_pass_before_second_factor(path: str) -> bool:
    return (
        _is_public(path)
        or path in BEFORE_SECOND_FACTOR
        or path.startswith(BEFORE_SECOND_FACTOR_PREFIXES)
    )


def _finish(request: web.Request, response: web.StreamResponse, sent: str | None) -> None:
    """The cookie (when the session changed or its idle clock restarted) and the headers."""
    room = request.app[PANEL]
    text = room.codec.dumps(request[SESSION])
    if text != sent and not response.prepared:
        response.set_cookie(
            COOKIE,
            text,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=room.secure_cookie,
        )
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def session_middleware() -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_panel_path(request.path):
            return await handler(request)
        room = request.app[PANEL]
        sent = request.cookies.get(COOKIE)
        found = room.codec.loads(sent) if sent else None
        panel_session, ended = await _checked(
            request, found or PanelSession.anonymous(), request.app[CLOCK].now()
        )
        request[SESSION] = panel_session
        try:
            if STAFF not in request and not _is_public(request.path):
                raise to_login(request, ended)
            if needs_second_factor(request) and not _may_pass_before_second_factor(request.path):
                raise web.HTTPSeeOther(SECOND_FACTOR_PATH)
            response = await handler(request)
        except web.HTTPException as exc:
            _finish(request, exc, sent)
            raise
        _finish(request, response, sent)
        return response

    return middleware
