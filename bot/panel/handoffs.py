"""The panel's hand-offs: the inbox of open tickets, one ticket's thread, take / answer / close.

    GET  /panel/handoffs               open tickets oldest first (50 a page, `?after=` the last
                                       one's position), language, channel, waiting time, last turns
    GET  /panel/handoffs/{ref}         the whole thread, the taxpayer's balance (as `gmina balance`
                                       computes it), and the forms the ticket's state allows
    POST /panel/handoffs/{ref}/take    one clerk at a time; `reassign=1` (approvers) takes it over
    POST /panel/handoffs/{ref}/answer  `text` and the form's `answer_key`: the resident gets it
                                       through the outbox; the same form twice is one message
    POST /panel/handoffs/{ref}/close   the chat returns to the assistant; the resident is told

Texts are shown with PESEL-shaped numbers and activation codes masked. Every page audits each
taxpayer it shows (`audit_view`). A refused command answers the ticket's page with 409 and why.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from babel import Locale
from babel.dates import format_timedelta

from bot.handoffs import Handoffs
from bot.panel.audit import audit_view, audit_views
from bot.panel.auth import current_staff, requires
from bot.panel.render import N_, panel_language, refusal, render, translator
from bot.panel.state import NavItem, may
from kernel.clock import today_in_warsaw
from kernel.i18n import babel_locale
from kernel.i18n import render as resident_text
from kernel.redact import mask_secrets
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from storage.balances import Balance, taxpayer_balance
from storage.handoffs import (
    ANSWER_LIMIT,
    INBOX_PAGE,
    Author,
    Refusal,
    TicketRefused,
    TicketStatus,
    Turn,
    count_open_tickets,
    open_tickets,
    ticket,
    ticket_messages,
)
from storage.ledger import LedgerPolicy
from storage.staff import Role
from storage.taxpayers import TaxpayerSummary, taxpayer_summary

INBOX_PATH = "/panel/handoffs"
NAV: NavItem | None = NavItem(INBOX_PATH, N_("Hand-offs"))
# The answer form's key: made when the page is drawn, so a form sent twice is one answer.
_ANSWER_KEY = re.compile(r"^[0-9a-f]{32}$")
_REF = r"{ref:ZG-\d{4}-\d{6}}"

CHANNEL_NAMES = {"telegram": N_("Telegram"), "sms": N_("SMS"), "rest": N_("Web chat")}
AUTHOR_NAMES = {
    Author.RESIDENT: N_("Resident"),
    Author.ASSISTANT: N_("Assistant"),
    Author.STAFF: N_("Clerk"),
}
REFUSALS = {
    Refusal.UNKNOWN: N_("There is no such ticket."),
    Refusal.CLOSED: N_("This ticket is closed."),
    Refusal.TAKEN: N_("%(name)s has taken this ticket; ask an approver to reassign it."),
    Refusal.NOT_TAKEN_BY_YOU: N_("Take the ticket first: only the clerk who took it answers it."),
    Refusal.EMPTY: N_("The answer is empty."),
    Refusal.TOO_LONG: N_("The answer is longer than %(limit)s characters."),
}
DONE = {
    "taken": N_("You have taken this ticket."),
    "answered": N_("Your answer is on its way to the resident."),
    "closed": N_("The ticket is closed; the assistant answers the resident again."),
}


@dataclass(frozen=True)
class ShownTurn:
    """A line of a thread as the page shows it: masked, its author named."""

    author: str
    is_staff: bool
    text: str
    at: datetime | None


def _shown(turn: Turn, gettext: Any) -> ShownTurn:
    author = gettext(AUTHOR_NAMES[turn.author])
    if turn.author is Author.STAFF and turn.staff_name:
        author = f"{author} {turn.staff_name}"
    return ShownTurn(author, turn.author is Author.STAFF, mask_secrets(turn.text), turn.at)


@functools.cache
def _language_name(code: str, panel_lang: str) -> str:
    name = Locale.parse(babel_locale(code)).get_language_name(babel_locale(panel_lang))
    return name or code


def _after(value: str | None) -> tuple[datetime, int] | None:
    """The inbox position `<ISO moment>_<id>` of the previous page's last ticket."""
    if not value:
        return None
    moment, _, ticket_id = value.rpartition("_")
    try:
        return datetime.fromisoformat(moment), int(ticket_id)
    except ValueError:
        raise web.HTTPBadRequest(text="after: expected <ISO moment>_<id>") from None


@requires(Role.CLERK)
async def inbox(request: web.Request) -> web.StreamResponse:
    after = _after(request.query.get("after"))
    language = panel_language(request)
    gettext = translator(request).gettext
    now = request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session:
        entries = await open_tickets(session, after)
        open_count = await count_open_tickets(session)
        shown = dict.fromkeys(e.ticket.taxpayer_id for e in entries if e.ticket.taxpayer_id)
        await audit_views(
            request, session, [(t, {}) for t in shown if t is not None], "handoff_inbox"
        )
        await session.commit()
    rows = [
        {
            "ticket": entry.ticket,
            "waiting": format_timedelta(
                now - entry.ticket.created_at, locale=babel_locale(language)
            ),
            "channel": gettext(CHANNEL_NAMES.get(entry.ticket.channel, entry.ticket.channel)),
            "language": _language_name(entry.ticket.language, language),
            "turns": [_shown(turn, gettext) for turn in entry.last_turns],
        }
        for entry in entries
    ]
    # A full page may have newer tickets after it: the next page starts after its last one.
    last = entries[-1].ticket if len(entries) == INBOX_PAGE else None
    following = f"{last.created_at.isoformat()}_{last.id}" if last is not None else None
    return await render(
        request,
        "panel/handoff_inbox.html",
        {"rows": rows, "open_count": open_count, "following": following, "first_page": not after},
    )


async def _ticket_page(
    request: web.Request, ref: str, *, refused: TicketRefused | None = None
) -> web.StreamResponse:
    language = panel_language(request)
    gettext = translator(request).gettext
    settings = request.app[SETTINGS]
    async with request.app[SESSIONS]() as session:
        found = await ticket(session, ref)
        if found is None:
            return await refusal(request, 404)
        thread = await ticket_messages(session, found.id)
        summary: TaxpayerSummary | None = None
        balance: Balance | None = None
        if found.taxpayer_id is not None:
            summary = await taxpayer_summary(session, found.taxpayer_id)
            if summary is not None:
                as_of = today_in_warsaw(request.app[CLOCK])
                policy = LedgerPolicy.from_settings(settings.ledger)
                balance = await taxpayer_balance(session, summary.ref, as_of, policy)
            await audit_view(request, session, found.taxpayer_id, "handoff", {"ticket_ref": ref})
        await session.commit()
    staff = current_staff(request)
    error = None
    if refused is not None:
        error = gettext(REFUSALS[refused.reason]) % {
            "name": refused.taken_by or "",
            "limit": ANSWER_LIMIT,
        }
    done = request.query.get("done")
    return await render(
        request,
        "panel/handoff_ticket.html",
        {
            "ticket": found,
            "open": found.status is TicketStatus.OPEN,
            "mine": found.taken_by == staff.name,
            "may_reassign": may(staff, Role.APPROVER),
            "channel": gettext(CHANNEL_NAMES.get(found.channel, found.channel)),
            "language": _language_name(found.language, language),
            "context": [_shown(turn, gettext) for turn in found.context],
            "thread": [_shown(turn, gettext) for turn in thread],
            "summary": summary,
            "balance": balance,
            "kind_name": lambda kind: resident_text(f"label_kind_{kind}", language),
            "answer_key": uuid.uuid4().hex,
            "answer_limit": ANSWER_LIMIT,
            "error": error,
            "done": gettext(DONE[done]) if done in DONE else None,
        },
        status=409 if refused is not None else 200,
    )


@requires(Role.CLERK)
async def ticket_page(request: web.Request) -> web.StreamResponse:
    return await _ticket_page(request, request.match_info["ref"])


def _done(ref: str, what: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{INBOX_PATH}/{ref}?done={what}")


@requires(Role.CLERK)
async def take(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["ref"]
    staff = current_staff(request)
    form = await request.post()
    reassign = form.get("reassign") == "1"
    if reassign and not may(staff, Role.APPROVER):
        return await refusal(request, 403)
    try:
        await Handoffs.of(request.app).take(ref, staff.name, reassign=reassign)
    except TicketRefused as refused:
        return await _refused(request, ref, refused)
    raise _done(ref, "taken")


@requires(Role.CLERK)
async def answer(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["ref"]
    form = await request.post()
    text, key = form.get("text"), form.get("answer_key")
    if not isinstance(text, str) or not isinstance(key, str) or not _ANSWER_KEY.match(key):
        raise web.HTTPBadRequest(text="expected the fields text and answer_key of the answer form")
    try:
        await Handoffs.of(request.app).answer(ref, current_staff(request).name, text, key)
    except TicketRefused as refused:
        return await _refused(request, ref, refused)
    raise _done(ref, "answered")


@requires(Role.CLERK)
async def close(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["ref"]
    try:
        await Handoffs.of(request.app).close(ref, current_staff(request).name)
    except TicketRefused as refused:
        return await _refused(request, ref, refused)
    raise _done(ref, "closed")


async def _refused(request: web.Request, ref: str, refused: TicketRefused) -> web.StreamResponse:
    if refused.reason is Refusal.UNKNOWN:
        return await refusal(request, 404)
    return await _ticket_page(request, ref, refused=refused)


def routes() -> list[web.RouteDef]:
    return [
        web.get(INBOX_PATH, inbox),
        web.get(f"{INBOX_PATH}/{_REF}", ticket_page),
        web.post(f"{INBOX_PATH}/{_REF}/take", take),
        web.post(f"{INBOX_PATH}/{_REF}/answer", answer),
        web.post(f"{INBOX_PATH}/{_REF}/close", close),
    ]
