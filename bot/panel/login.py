"""Signing in and out, and the language switch.

GET  /panel/login      the login form (username, password, csrf_token)
POST /panel/login      a good login: 303 to the page asked for (or /panel/) with a new
                       session cookie; a bad one: the form again, 401, nothing kept
POST /panel/logout     ends the session: 303 to the login form
POST /panel/language   `language` pl|en: the panel's language in this browser (a cookie)
"""

from __future__ import annotations

from aiohttp import web

from bot.panel.audit import staff_actor
from bot.panel.auth import (
    HOME_PATH,
    LOGIN_PATH,
    LOGOUT_PATH,
    SECOND_FACTOR_ROLES,
    panel_session,
    replace_session,
    safe_next,
)
from bot.panel.forms import form_text
from bot.panel.render import LANGUAGE_COOKIE, PANEL_LANGUAGES, render
from bot.panel.sessions import COOKIE_PATH, PanelSession
from bot.panel.state import PANEL, signed_in_staff
from kernel.webkeys import CLOCK, SESSIONS
from storage.audit import audit
from storage.staff import MAX_PASSWORD_LENGTH, authenticate, signed_in_state

# Why the login form is shown again: `reason` in its query.
REASONS = frozenset({"expired", "ended", "signed_out"})
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


async def login_form(request: web.Request) -> web.StreamResponse:
    if signed_in_staff(request) is not None and panel_session(request).second_factor:
        raise web.HTTPSeeOther(HOME_PATH)
    reason = request.query.get("reason")
    return await render(
        request,
        "panel/login.html",
        {
            "next": safe_next(request.query.get("next")),
            "reason": reason if reason in REASONS else None,
            "error": None,
            "username": "",
        },
    )


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = form_text(form, "username").strip()
    password = form_text(form, "password")
    next_path = safe_next(form_text(form, "next"))
    now = request.app[CLOCK].now()
    signed_in = None
    if username and password and len(username) <= 64 and len(password) <= MAX_PASSWORD_LENGTH:
        async with request.app[SESSIONS]() as session:
            staff = await authenticate(session, username, password, now)
            state = await signed_in_state(session, username) if staff is not None else None
            if state is not None:
                await audit(session, staff_actor(username), "panel.login", None, {}, now)
                await session.commit()
                signed_in = state
    if signed_in is None:
        context = {"next": next_path, "reason": None, "error": "wrong", "username": username}
        return await render(request, "panel/login.html", context, status=401)
    replace_session(
        request,
        PanelSession.signed_in(
            signed_in.staff.name,
            signed_in.password_changed_at,
            now,
            second_factor=signed_in.staff.role not in SECOND_FACTOR_ROLES,
        ),
    )
    raise web.HTTPSeeOther(next_path)


async def logout(request: web.Request) -> web.StreamResponse:
    staff = signed_in_staff(request)
    if staff is not None:
        async with request.app[SESSIONS]() as session:
            now = request.app[CLOCK].now()
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
