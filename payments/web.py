"""The payment page and the gateway's routes, mounted by `bot.web` with `setup_payment_routes`.

    GET  /pay/{token}               the page: obligations, principal, interest as of today, total,
                                    transfer details with the bank QR code, a button to pay online
    POST /pay/{token}/online        registers a transaction at the gateway, 303 to its page
    GET  /pay/return/{session}      where the gateway sends the resident back: "being confirmed"
    POST /pay/notify/{gateway}      the gateway's signed notification (403 when the sign is wrong)
    GET|POST /pay/demo/{session}    the demo gateway's approve-or-decline page (gateway: demo)
    GET  /pay/assets/pay.css        the page's style sheet

Pages are Jinja2 templates in the link's language, readable without script. An unknown or
expired token gets a plain 404 page that says how to get a new link. The page and its button are
limited per client address by `web.rate_limit.payment_page`; notifications by `webhook`. No page
shows a name beyond initials; no log line at INFO or above carries a token, an amount or a name.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jinja2
from aiohttp import web
from yarl import URL

from kernel.clock import today_in_warsaw
from kernel.errors import InputError, ProviderError, RetryableError
from kernel.i18n import format_account, format_date, format_money, normalise_language, render
from kernel.money import format_plain
from kernel.ratelimit import rate_limited
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from payments.gateways import make_gateway
from payments.gateways.base import ForgedNotification, Gateway, Registration
from payments.gateways.demo import DEMO_PATH, DemoGateway
from payments.links import PAY_PATH
from payments.notifications import MeasureSms, Outcome, accept_notification
from payments.qr import AMOUNT_LIMIT, QrTransfer, fits_qr, qr_svg, zbp_payload
from payments.statement import LinkStatement, link_statement
from payments.titles import qr_title
from storage.balances import RateTableCache
from storage.ledger import LedgerPolicy
from storage.payment_links import (
    Transaction,
    find_transaction,
    open_payment_link,
    register_transaction,
)

log = logging.getLogger(__name__)

CURRENCY = "PLN"
NOTIFY_PATH = "/pay/notify/"
RETURN_PATH = "/pay/return/"
CSS_PATH = "/pay/assets/pay.css"
_HERE = Path(__file__).resolve().parent
# secrets.token_urlsafe(32): 43 characters; anything else is not a token of ours.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_SESSION = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class PaymentsRoom:
    """What the payment routes share: the ledger's rules, the gateway, the templates."""

    policy: LedgerPolicy
    rates: RateTableCache
    gateway: Gateway
    templates: jinja2.Environment
    http: aiohttp.ClientSession


PAYMENTS = web.AppKey("payments", PaymentsRoom)
# Set by the server (bot.web): how a receipt to an SMS chat is measured in segments.
RECEIPT_SMS_MEASURE: web.AppKey[MeasureSms] = web.AppKey("receipt_sms_measure")


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


async def _room_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, clock = app[SETTINGS], app[CLOCK]
    http = aiohttp.ClientSession()
    app[PAYMENTS] = PaymentsRoom(
        policy=LedgerPolicy.from_settings(settings.ledger),
        rates=RateTableCache(clock),
        gateway=make_gateway(settings, http, clock),
        templates=_templates(),
        http=http,
    )
    yield
    await http.close()


def _headers(request: web.Request) -> dict[str, str]:
    """No caching, no referrer (the URL holds the token), and forms only to us and the
    gateway (the online button's answer redirects there)."""
    gateway = URL(request.app[SETTINGS].payments.przelewy24.api_base_url)
    form_to = "'self'"
    if request.app[SETTINGS].payments.gateway == "przelewy24":
        form_to += f" {gateway.scheme}://{gateway.raw_authority}"
    return {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": f"default-src 'none'; style-src 'self'; img-src 'self' data:; "
        f"form-action {form_to}; base-uri 'none'; frame-ancestors 'none'",
    }


def _page(
    request: web.Request, name: str, language: str, values: Mapping[str, Any], status: int = 200
) -> web.Response:
    language = normalise_language(language)

    def t(key: str, **fill: Any) -> str:
        return render(key, language, fill)

    city = request.app[SETTINGS].city
    body = (
        request.app[PAYMENTS]
        .templates.get_template(name)
        .render(t=t, lang=language, office=city.office_name, css=CSS_PATH, **values)
    )
    return web.Response(
        text=body, content_type="text/html", status=status, headers=_headers(request)
    )


def _not_found(request: web.Request) -> web.Response:
    language = normalise_language(request.headers.get("Accept-Language"))
    values = {"heading": "paypage_not_found_title", "text": "paypage_not_found_text"}
    return _page(request, "message.html", language, values, status=404)


def _transfers(request: web.Request, statement: LinkStatement) -> list[dict[str, Any]]:
    """Each transfer's details, with its QR code's field string and SVG when it can carry it."""
    city = request.app[SETTINGS].city
    language = normalise_language(statement.link.language)
    account = statement.link.account_number
    shown: list[dict[str, Any]] = []
    for transfer in statement.transfers:
        item: dict[str, Any] = {
            "title": transfer.title,
            "amount": format_money(transfer.amount, language),
            "payload": None,
            "svg": None,
        }
        if account and fits_qr(transfer.amount):
            payload = zbp_payload(
                QrTransfer(
                    nip=city.recipient_nip,
                    account=account,
                    amount=transfer.amount,
                    recipient=city.office_name,
                    title=qr_title(transfer, statement.link.taxpayer_ref),
                )
            )
            item["payload"] = payload
            item["svg"] = qr_svg(payload)
        shown.append(item)
    return shown


async def _statement(request: web.Request, token: str) -> LinkStatement | None:
    """What the token's link pays today; None for a token that is not one of ours or expired."""
    if not _TOKEN.match(token):
        return None
    room = request.app[PAYMENTS]
    clock = request.app[CLOCK]
    async with request.app[SESSIONS]() as session:
        link = await open_payment_link(session, token, clock.now())
        if link is None:
            return None
        rates = await room.rates.get(session)
        return await link_statement(session, link, today_in_warsaw(clock), room.policy, rates)


def _pay_page(
    request: web.Request, token: str, statement: LinkStatement, problem: str | None = None
) -> web.Response:
    language = normalise_language(statement.link.language)
    rows = [
        {
            "ref": row["obligation_ref"],
            "kind": render(f"label_kind_{row['kind']}", language),
            "due": format_date(row["effective_due_date"], language),
            "principal": format_money(row["principal"], language),
            "interest": format_money(row["interest"], language),
            "total": format_money(row["total"], language),
        }
        for row in statement.rows
    ]
    account = statement.link.account_number
    values = {
        "token": token,
        "initials": statement.link.initials,
        "rows": rows,
        "as_of": statement.as_of.isoformat(),
        "total": format_money(statement.total, language),
        "total_plain": format_plain(statement.total),
        "recipient": request.app[SETTINGS].city.office_name,
        "account": format_account(account) if account else None,
        "transfers": _transfers(request, statement),
        "limit": str(AMOUNT_LIMIT),
        "problem": problem,
    }
    return _page(request, "pay.html", language, values, status=502 if problem else 200)


@rate_limited("payment_page")
async def payment_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    statement = await _statement(request, token)
    if statement is None:
        return _not_found(request)
    return _pay_page(request, token, statement)


@rate_limited("payment_page")
async def start_online_payment(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    statement = await _statement(request, token)
    if statement is None:
        return _not_found(request)
    if statement.total <= 0:
        return _pay_page(request, token, statement)
    settings, room = request.app[SETTINGS], request.app[PAYMENTS]
    session_id = secrets.token_hex(16)
    async with request.app[SESSIONS]() as session:
        await register_transaction(
            session,
            link_id=statement.link.id,
            taxpayer_id=statement.link.taxpayer_id,
            session_id=session_id,
            gateway=room.gateway.name,
            amount=statement.total,
            currency=CURRENCY,
            now=request.app[CLOCK].now(),
        )
        await session.commit()
    base = settings.web.public_base_url
    registration = Registration(
        session_id=session_id,
        amount=statement.total,
        currency=CURRENCY,
        description="; ".join(transfer.title for transfer in statement.transfers),
        language=normalise_language(statement.link.language),
        return_url=f"{base}{RETURN_PATH}{session_id}",
        notify_url=f"{base}{NOTIFY_PATH}{room.gateway.name}",
    )
    try:
        url = await room.gateway.register(registration)
    except ProviderError as exc:
        log.warning("payments: %s could not register a transaction: %s", room.gateway.name, exc)
        return _pay_page(request, token, statement, problem="paypage_start_failed")
    log.info("payments: transaction registered at %s", room.gateway.name)
    raise web.HTTPSeeOther(url)


async def returned(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    language = normalise_language(request.headers.get("Accept-Language"))
    if _SESSION.match(session_id):
        async with request.app[SESSIONS]() as session:
            found = await find_transaction(session, session_id)
        if found is not None:
            language = found.language
    values = {"heading": "paypage_returned_title", "text": "paypage_returned_text"}
    return _page(request, "message.html", language, values)


_STATUS = {
    Outcome.BOOKED: 200,
    Outcome.REPEATED: 200,
    Outcome.UNKNOWN_SESSION: 404,
    Outcome.MISMATCH: 400,
}


@rate_limited("webhook")
async def notification(request: web.Request) -> web.Response:
    room = request.app[PAYMENTS]
    if request.match_info["gateway"] != room.gateway.name:
        return web.json_response({"error": "unknown_gateway"}, status=404)
    try:
        notified = room.gateway.read(await request.read())
    except ForgedNotification:
        log.warning(
            "payments: a %s notification refused: its sign does not hold", room.gateway.name
        )
        return web.json_response({"error": "forbidden"}, status=403)
    except InputError as exc:
        log.warning("payments: a malformed %s notification: %s", room.gateway.name, exc)
        return web.json_response({"error": "bad_request", "detail": str(exc)}, status=400)
    try:
        outcome = await accept_notification(
            request.app[SESSIONS],
            room.gateway,
            request.app[CLOCK],
            room.policy,
            room.rates,
            notified,
            request.app.get(RECEIPT_SMS_MEASURE),
        )
    except RetryableError as exc:
        log.warning("payments: %s could not confirm a payment now: %s", room.gateway.name, exc)
        return web.json_response({"error": "try_again"}, status=503)
    except ProviderError as exc:
        log.warning("payments: %s refused to confirm a payment: %s", room.gateway.name, exc)
        return web.json_response({"error": "not_confirmed"}, status=502)
    return web.json_response({"status": str(outcome)}, status=_STATUS[outcome])


def _demo_gateway(request: web.Request) -> DemoGateway:
    gateway = request.app[PAYMENTS].gateway
    if not isinstance(gateway, DemoGateway):
        raise web.HTTPNotFound()
    return gateway


async def _demo_transaction(request: web.Request) -> Transaction | None:
    """The transaction the demo gateway's page is about; 404 when the demo is not the gateway."""
    _demo_gateway(request)
    session_id = request.match_info["session_id"]
    if not _SESSION.match(session_id):
        return None
    async with request.app[SESSIONS]() as session:
        return await find_transaction(session, session_id)


@rate_limited("payment_page")
async def demo_page(request: web.Request) -> web.Response:
    found = await _demo_transaction(request)
    if found is None:
        return _not_found(request)
    session_id = found.session_id
    values = {"amount": format_plain(found.amount), "session_id": session_id}
    return _page(request, "demo.html", found.language, values)


@rate_limited("payment_page")
async def demo_decision(request: web.Request) -> web.Response:
    """Approve: post the signed notification to our own route, as the operator would, then
    send the resident back; decline: just send them back, nothing changes."""
    gateway = _demo_gateway(request)
    found = await _demo_transaction(request)
    if found is None:
        return _not_found(request)
    session_id = found.session_id
    base = request.app[SETTINGS].web.public_base_url
    form = await request.post()
    if form.get("decision") == "approve":
        body = gateway.notification(session_id, found.amount, found.currency)
        async with request.app[PAYMENTS].http.post(
            f"{base}{NOTIFY_PATH}{gateway.name}", json=body
        ) as answer:
            log.info("payments: the demo gateway notified a payment: %s", answer.status)
    raise web.HTTPSeeOther(f"{base}{RETURN_PATH}{session_id}")


async def stylesheet(_request: web.Request) -> web.Response:
    return web.Response(
        text=(_HERE / "templates" / "pay.css").read_text(encoding="utf-8"),
        content_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def setup_payment_routes(app: web.Application) -> None:
    """Call after the store's context is registered: the routes need its session factory."""
    app.cleanup_ctx.append(_room_ctx)
    app.router.add_get(CSS_PATH, stylesheet)
    app.router.add_post(NOTIFY_PATH + "{gateway}", notification)
    app.router.add_get(RETURN_PATH + "{session_id}", returned)
    app.router.add_get(DEMO_PATH + "{session_id}", demo_page)
    app.router.add_post(DEMO_PATH + "{session_id}", demo_decision)
    app.router.add_get(PAY_PATH + "{token}", payment_page)
    app.router.add_post(PAY_PATH + "{token}/online", start_online_payment)
