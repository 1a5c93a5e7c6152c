"""The second factor for approvers and admins: enrolment at the first login, a code at every one.

    GET  /panel/login/second-factor         enrolment (first time: the secret, its otpauth URI
                                            and QR code) or the code form
    POST /panel/login/second-factor/enrol   `code` from the new secret: confirms it and shows the
                                            ten recovery codes, once
    POST /panel/login/second-factor         `code`: six digits from the app, or a recovery code

A code is accepted once (`storage.second_factor.accept_step`); a wrong one counts as a failed
sign-in for the throttle like a wrong password, and nothing else changes.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from bot.panel.audit import staff_actor
from bot.panel.auth import (
    HOME_PATH,
    SECOND_FACTOR_PATH,
    current_staff,
    panel_session,
    replace_session,
    safe_next,
)
from bot.panel.forms import form_text
from bot.panel.render import render
from bot.panel.state import PANEL
from bot.panel.throttle import TOO_MANY, address_of, minutes_until, throttle_policy
from bot.panel.totp import (
    grouped,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
    provisioning_uri,
    qr_svg,
)
from kernel.webkeys import CLOCK, SESSIONS
from storage.audit import audit
from storage.panel_security import (
    forget_login_failures,
    login_paused_until,
    record_login_failure,
)
from storage.second_factor import (
    accept_step,
    begin_enrolment,
    confirm_enrolment,
    second_factor,
    use_recovery_code,
)
from storage.staff import Staff

ENROL_PATH = f"{SECOND_FACTOR_PATH}/enrol"
CODE_LENGTH = 64


def _passed(request: web.Request) -> bool:
    return panel_session(request).second_factor


async def _pending_secret(request: web.Request, staff: Staff) -> str:
    """The secret being enrolled: the one kept already, or a new one (kept sealed)."""
    box = request.app[PANEL].secrets
    async with request.app[SESSIONS]() as session:
        stored = await second_factor(session, staff.name)
        kept = box.open(staff.name, stored.encrypted_secret) if stored.encrypted_secret else None
        if kept is not None:
            return kept
        secret = new_secret()
        now = request.app[CLOCK].now()
        await begin_enrolment(session, staff.name, box.seal(staff.name, secret), now)
        await session.commit()
        return secret


async def _enrol_page(
    request: web.Request, staff: Staff, next_path: str, error: str | None, status: int = 200
) -> web.Response:
    secret = await _pending_secret(request, staff)
    uri = provisioning_uri(secret, staff.name, request.app[PANEL].settings.city.office_name)
    context = {
        "secret": grouped(secret),
        "uri": uri,
        "qr": qr_svg(uri),
        "next": next_path,
        "error": error,
    }
    return await render(request, "panel/enrol.html", context, status=status)


async def _code_page(
    request: web.Request,
    next_path: str,
    error: str | None,
    status: int = 200,
    retry_minutes: int = 0,
) -> web.Response:
    context = {"next": next_path, "error": error, "retry_minutes": retry_minutes}
    return await render(request, "panel/second_factor.html", context, status=status)


async def second_factor_page(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    next_path = safe_next(request.query.get("next"))
    if _passed(request):
        raise web.HTTPSeeOther(next_path)
    async with request.app[SESSIONS]() as session:
        confirmed = (await second_factor(session, staff.name)).confirmed
    if confirmed:
        return await _code_page(request, next_path, None)
    return await _enrol_page(request, staff, next_path, None)


async def _paused_minutes(request: web.Request, staff: Staff) -> int | None:
    settings = request.app[PANEL].settings
    now = request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session:
        until = await login_paused_until(
            session, staff.name, address_of(request, settings), now, throttle_policy(settings)
        )
    return None if until is None else minutes_until(until, now)


async def _record_failure(request: web.Request, staff: Staff) -> None:
    settings = request.app[PANEL].settings
    async with request.app[SESSIONS]() as session:
        await record_login_failure(
            session,
            staff.name,
            address_of(request, settings),
            request.app[CLOCK].now(),
            throttle_policy(settings),
        )
        await session.commit()


async def enrol(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    form = await request.post()
    next_path = safe_next(form_text(form, "next"))
    if _passed(request):
        raise web.HTTPSeeOther(next_path)
    paused = await _paused_minutes(request, staff)
    if paused is not None:
        return await _code_page(request, next_path, "throttled", TOO_MANY, paused)
    box = request.app[PANEL].secrets
    now = request.app[CLOCK].now()
    codes = new_recovery_codes()
    async with request.app[SESSIONS]() as session:
        stored = await second_factor(session, staff.name)
        if stored.confirmed:
            raise web.HTTPSeeOther(f"{SECOND_FACTOR_PATH}?next={quote(next_path, safe='/')}")
        secret = box.open(staff.name, stored.encrypted_secret) if stored.encrypted_secret else None
        step = matching_step(secret, form_text(form, "code")[:CODE_LENGTH], now) if secret else None
        accepted = step is not None and await accept_step(session, staff.name, step)
        if accepted:
            actor = staff_actor(staff.name)
            await confirm_enrolment(session, staff.name, codes, actor=actor, now=now)
            await forget_login_failures(session, staff.name)
            await session.commit()
    if not accepted:
        await _record_failure(request, staff)
        return await _enrol_page(request, staff, next_path, "wrong", status=401)
    replace_session(request, panel_session(request).passed_second_factor())
    return await render(request, "panel/recovery_codes.html", {"codes": codes, "next": next_path})


async def verify(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    form = await request.post()
    next_path = safe_next(form_text(form, "next"))
    if _passed(request):
        raise web.HTTPSeeOther(next_path)
    paused = await _paused_minutes(request, staff)
    if paused is not None:
        return await _code_page(request, next_path, "throttled", TOO_MANY, paused)
    code = form_text(form, "code")[:CODE_LENGTH]
    box = request.app[PANEL].secrets
    now = request.app[CLOCK].now()
    actor = staff_actor(staff.name)
    async with request.app[SESSIONS]() as session:
        stored = await second_factor(session, staff.name)
        if not stored.confirmed:
            raise web.HTTPSeeOther(f"{SECOND_FACTOR_PATH}?next={quote(next_path, safe='/')}")
        secret = box.open(staff.name, stored.encrypted_secret) if stored.encrypted_secret else None
        step = matching_step(secret, code, now) if secret else None
        if step is not None:
            accepted = await accept_step(session, staff.name, step)
        else:
            recovery = normalise_recovery_code(code)
            accepted = len(recovery) == 11 and await use_recovery_code(
                session, staff.name, recovery, actor=actor, now=now
            )
        if accepted:
            await forget_login_failures(session, staff.name)
            await audit(session, actor, "panel.second_factor", None, {}, now)
            await session.commit()
    if not accepted:
        await _record_failure(request, staff)
        return await _code_page(request, next_path, "wrong", status=401)
    replace_session(request, panel_session(request).passed_second_factor())
    raise web.HTTPSeeOther(next_path or HOME_PATH)


def routes() -> list[web.RouteDef]:
    return [
        web.get(SECOND_FACTOR_PATH, second_factor_page),
        web.post(SECOND_FACTOR_PATH, verify),
        web.post(ENROL_PATH, enrol),
    ]
