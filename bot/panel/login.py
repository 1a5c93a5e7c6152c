"""Signing in and out, and the language switch.

GET  /panel/login      the login form (username, password, csrf_token)
POST /panel/login      a good login: 303 with a new session cookie, to the page asked for
                       (or /panel/), or first to the second factor for an approver or admin;
                       a bad one: the form again, 401, nothing kept but the failure's count;
                       a paused one (too many failures): 429, nothing checked or kept
POST /panel/logout     ends the session (its cookie no longer works): 303 to the login form
POST /panel/language   `language` pl|en: the panel's language in this browser (a cookie)
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from bot.panel.audit import staff_actor
from bot.panel.auth import (
    HOME_PATH,
    LOGIN_PATH,
    LOGOUT_PATH,
    SECOND_FACTOR_PATH,
    SECOND_FACTOR_ROLES,
    panel_session,
    replace_session,
    safe_next,
)
from bot.panel.forms import form_text
from bot.panel.render import LANGUAGE_COOKIE, PANEL_LANGUAGES, render
from bot.panel.sessions import COOKIE_PATH, PanelSession
from bot.panel.state import PANEL, signed_in_staff
from bot.panel.throttle import TOO_MANY, address_of, minutes_until, throttle_policy
from kernel.webkeys import CLOCK, SESSIONS
from storage.audit import audit
from storage.panel_security import (
    end_session,
    forget_login_failures,
    login_paused_until,
    record_login_failure,
)
from storage.staff import MAX_PASSWORD_LENGTH, SignedInState, authenticate, signed_in_state

# Why the login form is shown again: `reason` in its query.
REASONS = frozenset({"expired", "ended", "signed_out"})
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
NAME_LENGTH = 64


async def login_form(request: web.Request) -> web.StreamResponse:
    if signed_in_staff(request) is not None and panel_session(request).second_factor:
        raise web.HTTPSeeOther(HOME_PATH)
    reason = request.query.get("reason")
    return await _login_page(
        request,
        next_path=safe_next(request.query.get("next")),
        reason=reason if reason in REASONS else None,
    )


async def _login_page(
    request: web.Request,
    *,
    next_path: str,
    reason: str | None = None,
    error: str | None = None,
    username: str = "",
    retry_minutes: int = 0,
    status: int = 200,
) -> web.Response:
    context = {
        "next": next_path,
        "reason": reason,
        "error": error,
        "username": username,
        "retry_minutes": retry_minutes,
    }
    return await render(request, "panel/login.html", context, status=status)


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = form_text(form, "username").strip()
    password = form_text(form, "password")
    next_path = safe_next(form_text(form, "next"))
    settings = request.app[PANEL].settings
    policy = throttle_policy(settings)
    address = address_of(request, settings)
    now = request.app[CLOCK].now()
    signed_in: SignedInState | None = None
    well_formed = 0 < len(username) <= NAME_LENGTH and 0 < len(password) <= MAX_PASSWORD_LENGTH
    async with request.app[SESSIONS]() as session:
        paused_until = await login_paused_until(session, username, address, now, policy)
        if paused_until is not None:
            return await _login_page(
                request,
                next_path=next_path,
                error="throttled",
                username=username,
                retry_minutes=minutes_until(paused_until, now),
                status=TOO_MANY,
            )
        if well_formed:
            staff = await authenticate(session, username, password, now)
            if staff is None:
                await record_login_failure(session, username, address, now, policy)
            else:
                signed_in = await signed_in_state(session, staff.name)
                await forget_login_failures(session, staff.name)
                await audit(session, staff_actor(staff.name), "panel.login", None, {}, now)
            await session.commit()
    if signed_in is None:
        return await _login_page(
            request, next_path=next_path, error="wrong", username=username, status=401
        )
    needs_code = signed_in.staff.role in SECOND_FACTOR_ROLES
    replace_session(
        request,
        PanelSession.signed_in(
            signed_in.staff.name, signed_in.credentials_stamp, now, second_factor=not needs_code
        ),
    )
    if needs_code:
        raise web.HTTPSeeOther(f"{SECOND_FACTOR_PATH}?next={quote(next_path, safe='/')}")
    raise web.HTTPSeeOther(next_path)


async def logout(request: web.Request) -> web.StreamResponse:
    staff = signed_in_staff(request)
    ending = panel_session(request)
    expires_at = ending.expires_at(request.app[PANEL].settings.panel)
    if staff is not None and expires_at is not None:
        async with request.app[SESSIONS]() as session:
            now = request.app[CLOCK].now()
            await end_session(session, ending.sid, now, expires_at)
            await audit(session, staff_actor(staff.name), "panel.logout", None, {}, now)
            await session.commit()
    replace_session(request, PanelSession.anonymous())
    raise web.HTTPSeeOther(f"{LOGIN_PATH}?reason=signed_out")


async def choose_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    language = form_text(form, "language")
    answer = web.HTTPSeeOther(safe_next(form_text(form, "next")))
    if language in PANEL_LANGUAGES:
        answer.set_cookie(
            LANGUAGE_COOKIE,
            language,
            path=COOKIE_PATH,
            max_age=LANGUAGE_COOKIE_SECONDS,
            httponly=True,
            samesite="Strict",
            secure=request.app[PANEL].secure_cookie,
        )
    raise answer


def routes() -> list[web.RouteDef]:
    return [
        web.get(LOGIN_PATH, login_form),
        web.post(LOGIN_PATH, login),
        web.post(LOGOUT_PATH, logout),
        web.post("/panel/language", choose_language),
    ]
