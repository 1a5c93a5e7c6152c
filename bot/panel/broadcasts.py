"""The panel's broadcasts: the pages over the one implementation `gmina broadcast` uses
(`storage.broadcasts` for the record and who may act, `notifier.broadcasts` for the preview and
the fan-out), so the panel and the command line cannot disagree. docs/broadcasts.md.

GET  /panel/broadcasts                       the latest 50, newest first, with their state
GET  /panel/broadcasts/new                   a form: the segment and the text per language
POST /panel/broadcasts/new                   draft it (errors beside their fields, 422)
GET  /panel/broadcasts/{id}                  the broadcast, its actions, the live counts per
                                             channel and status, the chart of deliveries
GET  /panel/broadcasts/{id}/edit, POST       change a draft
GET  /panel/broadcasts/{id}/preview          recipients per channel now, three rendered samples
POST /panel/broadcasts/{id}/approve          approver or admin past TOTP, not the author
POST /panel/broadcasts/{id}/send             starts the fan-out in the server's background
POST /panel/broadcasts/{id}/cancel           withdraws what is queued and not yet sent
GET  /panel/broadcasts/{id}/counts.json      the counts, for the status page's script
GET  /panel/broadcasts/{id}/chart            the chart alone, for the status page's script

No page shows who a message is for: counts, the texts as written and the samples' text only,
so none is a view of a taxpayer's data (nothing for `audit_view`); every change is audited by
the storage functions, as from the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.broadcast_runs import BROADCAST_RUNNER
from bot.panel.auth import SECURITY_HEADERS, current_staff, requires
from bot.panel.broadcast_chart import chart
from bot.panel.forms import form_text
from bot.panel.render import N_, render, translator
from bot.panel.state import NavItem
from kernel.errors import ConflictError, NotFoundError
from kernel.i18n import DEFAULT_LANGUAGE, LANGUAGES
from kernel.webkeys import CLOCK, SESSIONS
from notifier.broadcasts import preview_broadcast
from storage.broadcasts import (
    BadText,
    BroadcastError,
    BroadcastStatus,
    BroadcastView,
    UnknownBroadcast,
    approve_broadcast,
    begin_send,
    broadcast_counts,
    broadcast_timeline,
    cancel_broadcast,
    check_text,
    create_broadcast,
    get_broadcast,
    list_broadcasts,
    set_segment,
    set_text,
)
from storage.outbox import Status
from storage.segments import ANNOUNCEMENT_CHANNELS, BadSegment, parse_segment
from storage.staff import APPROVERS, NotAllowed, Role, Staff, StaffError

BASE = "/panel/broadcasts"
NAV: NavItem | None = NavItem(BASE, N_("Broadcasts"))
# The outbox's statuses in the order a message passes them, as the status page's rows.
STATUS_ORDER = [
    Status.CREATED,
    Status.SENDING,
    Status.TEMPORARY_FAILURE,
    Status.SENT,
    Status.DELIVERED,
    Status.PERMANENT_FAILURE,
    Status.TECHNICAL_FAILURE,
    Status.WITHDRAWN,
]
# The status page's script reads counts.json and the chart from this origin.
STATUS_PAGE_POLICY = SECURITY_HEADERS["Content-Security-Policy"] + "; connect-src 'self'"
# A message in one of these may still change: the status page keeps polling.
MOVING = frozenset({Status.CREATED, Status.SENDING, Status.TEMPORARY_FAILURE, Status.SENT})
# Words the pages show for the store's values, translated where shown.
STATE_NAMES = {
    BroadcastStatus.DRAFT: N_("draft"),
    BroadcastStatus.APPROVED: N_("approved"),
    BroadcastStatus.SENDING: N_("sending"),
    BroadcastStatus.SENT: N_("sent"),
    BroadcastStatus.CANCELLED: N_("cancelled"),
}
STATUS_NAMES = {
    Status.CREATED: N_("queued"),
    Status.SENDING: N_("being sent"),
    Status.TEMPORARY_FAILURE: N_("to retry"),
    Status.SENT: N_("sent"),
    Status.DELIVERED: N_("delivered"),
    Status.PERMANENT_FAILURE: N_("failed"),
    Status.TECHNICAL_FAILURE: N_("technical failure"),
    Status.WITHDRAWN: N_("withdrawn"),
}
CHANNEL_NAMES = {"telegram": N_("Telegram"), "sms": N_("SMS"), "email": N_("e-mail")}
LANGUAGE_NAMES = {"pl": N_("Polish"), "en": N_("English"), "uk": N_("Ukrainian")}
# The notice a redirect after an action asks the status page to show (`?done=`).
DONE = {
    "created": N_("The draft is saved. An approver other than its author approves it."),
    "edited": N_("The draft is changed."),
    "approved": N_("The broadcast is approved and may be sent."),
    "sending": N_(
        "Sending has started. It goes on in the server when you close this page; "
        "the counts below follow it."
    ),
}


def _url(broadcast_id: int, action: str = "") -> str:
    return f"{BASE}/{broadcast_id}" + (f"/{action}" if action else "")


def _broadcast_id(request: web.Request) -> int:
    return int(request.match_info["id"])


def _names() -> dict[str, Any]:
    return {
        "state_names": STATE_NAMES,
        "status_names": STATUS_NAMES,
        "channel_names": CHANNEL_NAMES,
        "language_names": LANGUAGE_NAMES,
    }


# --- refusals ------------------------------------------------------------------------------------


def _refusal_status(exc: Exception) -> int:
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    return 422


async def _refused(request: web.Request, broadcast_id: int, exc: Exception) -> web.Response:
    """The status page again with why the action was refused (nothing was changed: the
    storage function raised before its transaction was committed)."""
    if isinstance(exc, UnknownBroadcast):
        return await render(request, "panel/refused.html", {"status": 404}, status=404)
    return await _status_page(request, broadcast_id, problem=str(exc), status=_refusal_status(exc))


# --- the list ------------------------------------------------------------------------------------


@requires(Role.CLERK)
async def list_page(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONS]() as session:
        broadcasts = await list_broadcasts(session)
    return await render(request, "panel/broadcasts.html", {"broadcasts": broadcasts, **_names()})


# --- drafting ------------------------------------------------------------------------------------


def _form_values(form: MultiDictProxy[Any]) -> tuple[str, dict[str, str]]:
    segment = form_text(form, "segment").strip()
    texts = {language: form_text(form, f"text_{language}") for language in LANGUAGES}
    return segment, texts


def _form_errors(
    request: web.Request, segment: str, texts: Mapping[str, str], had: Mapping[str, str]
) -> dict[str, str]:
    """Each field's fault, by the checks the storage functions make when they write."""
    _ = translator(request).gettext
    errors: dict[str, str] = {}
    try:
        parse_segment(segment)
    except BadSegment as exc:
        errors["segment"] = str(exc)
    for language, text in texts.items():
        if text.strip():
            try:
                check_text(language, text)
            except BadText as exc:
                errors[f"text_{language}"] = str(exc)
        elif language in had:
            errors[f"text_{language}"] = _(
                "A text cannot be removed from a draft; write it again, or cancel the draft "
                "and draft a new one."
            )
    if not any(text.strip() for text in texts.values()):
        errors[f"text_{DEFAULT_LANGUAGE}"] = _(
            "Write the text in one language at least; the Polish one is needed before approval."
        )
    return errors


async def _form_page(
    request: web.Request,
    *,
    broadcast: BroadcastView | None,
    segment: str,
    texts: Mapping[str, str],
    errors: Mapping[str, str],
    status: int = 200,
) -> web.Response:
    context = {
        "broadcast": broadcast,
        "segment": segment,
        "texts": texts,
        "errors": errors,
        "text_languages": LANGUAGES,
        "action": _url(broadcast.id, "edit") if broadcast else f"{BASE}/new",
        **_names(),
    }
    return await render(request, "panel/broadcast_form.html", context, status=status)


@requires(Role.CLERK)
async def new_form(request: web.Request) -> web.StreamResponse:
    blank = dict.fromkeys(LANGUAGES, "")
    return await _form_page(request, broadcast=None, segment="all", texts=blank, errors={})


@requires(Role.CLERK)
async def create(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    segment, texts = _form_values(await request.post())
    errors = _form_errors(request, segment, texts, {})
    if errors:
        return await _form_page(
            request, broadcast=None, segment=segment, texts=texts, errors=errors, status=422
        )
    given = [(language, text) for language, text in texts.items() if text.strip()]
    now = request.app[CLOCK].now()
    try:
        async with request.app[SESSIONS]() as session:
            (first_language, first_text), *others = given
            made = await create_broadcast(
                session, segment, first_language, first_text, staff=staff.name, now=now
            )
            for language, text in others:
                await set_text(session, made.id, language, text, staff=staff.name, now=now)
            await session.commit()
    except (BroadcastError, StaffError) as exc:
        errors = {"segment": str(exc)}
        return await _form_page(
            request, broadcast=None, segment=segment, texts=texts, errors=errors, status=422
        )
    raise web.HTTPSeeOther(_url(made.id) + "?done=created")


@requires(Role.CLERK)
async def edit_form(request: web.Request) -> web.StreamResponse:
    broadcast_id = _broadcast_id(request)
    try:
        async with request.app[SESSIONS]() as session:
            broadcast = await get_broadcast(session, broadcast_id)
    except UnknownBroadcast as exc:
        return await _refused(request, broadcast_id, exc)
    if broadcast.status != BroadcastStatus.DRAFT:
        raise web.HTTPSeeOther(_url(broadcast_id))
    texts = {language: broadcast.texts.get(language, "") for language in LANGUAGES}
    return await _form_page(
        request, broadcast=broadcast, segment=broadcast.segment, texts=texts, errors={}
    )


@requires(Role.CLERK)
async def edit(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    broadcast_id = _broadcast_id(request)
    segment, texts = _form_values(await request.post())
    now = request.app[CLOCK].now()
    try:
        async with request.app[SESSIONS]() as session:
            broadcast = await get_broadcast(session, broadcast_id)
            errors = _form_errors(request, segment, texts, broadcast.texts)
            if errors:
                return await _form_page(
                    request,
                    broadcast=broadcast,
                    segment=segment,
                    texts=texts,
                    errors=errors,
                    status=422,
                )
            if parse_segment(segment).spec != broadcast.segment:
                await set_segment(session, broadcast_id, segment, staff=staff.name, now=now)
            for language, text in texts.items():
                if text.strip() and text.strip() != broadcast.texts.get(language):
                    await set_text(session, broadcast_id, language, text, staff=staff.name, now=now)
            await session.commit()
    except (BroadcastError, StaffError) as exc:
        return await _refused(request, broadcast_id, exc)
    raise web.HTTPSeeOther(_url(broadcast_id) + "?done=edited")


# --- preview -------------------------------------------------------------------------------------


@requires(Role.CLERK)
async def preview_page(request: web.Request) -> web.StreamResponse:
    broadcast_id = _broadcast_id(request)
    try:
        preview = await preview_broadcast(request.app[SESSIONS], broadcast_id, request.app[CLOCK])
    except (UnknownBroadcast, BadSegment) as exc:
        return await _refused(request, broadcast_id, exc)
    return await render(request, "panel/broadcast_preview.html", {"preview": preview, **_names()})


# --- approving, sending, cancelling --------------------------------------------------------------


@requires(Role.APPROVER)
async def approve(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    broadcast_id = _broadcast_id(request)
    try:
        async with request.app[SESSIONS]() as session:
            await approve_broadcast(
                session, broadcast_id, staff=staff.name, now=request.app[CLOCK].now()
            )
            await session.commit()
    except (BroadcastError, StaffError) as exc:
        return await _refused(request, broadcast_id, exc)
    raise web.HTTPSeeOther(_url(broadcast_id) + "?done=approved")


@requires(Role.CLERK)
async def send(request: web.Request) -> web.StreamResponse:
    """approved → sending here; the fan-out runs in the server (started twice, it runs once)."""
    staff = current_staff(request)
    broadcast_id = _broadcast_id(request)
    try:
        async with request.app[SESSIONS]() as session:
            await begin_send(session, broadcast_id, staff=staff.name, now=request.app[CLOCK].now())
            await session.commit()
    except (BroadcastError, StaffError) as exc:
        return await _refused(request, broadcast_id, exc)
    request.app[BROADCAST_RUNNER].start(broadcast_id)
    raise web.HTTPSeeOther(_url(broadcast_id) + "?done=sending")


@requires(Role.CLERK)
async def cancel(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    broadcast_id = _broadcast_id(request)
    try:
        async with request.app[SESSIONS]() as session:
            withdrawn = await cancel_broadcast(
                session, broadcast_id, staff=staff.name, now=request.app[CLOCK].now()
            )
            await session.commit()
    except (BroadcastError, StaffError) as exc:
        return await _refused(request, broadcast_id, exc)
    raise web.HTTPSeeOther(_url(broadcast_id) + f"?done=cancelled&withdrawn={withdrawn}")


# --- status --------------------------------------------------------------------------------------


async def _counts(
    request: web.Request, broadcast_id: int
) -> tuple[BroadcastView, dict[str, dict[str, int]]]:
    """The broadcast and its messages' counts: channel → status → count, every announcement
    channel and status present (zeros too), so the page's cells are always there to update."""
    async with request.app[SESSIONS]() as session:
        broadcast = await get_broadcast(session, broadcast_id)
        rows = await broadcast_counts(session, broadcast_id)
    statuses = [str(status) for status in STATUS_ORDER]
    counts = {channel: dict.fromkeys(statuses, 0) for channel in ANNOUNCEMENT_CHANNELS}
    for channel, status, count in rows:
        counts.setdefault(channel, dict.fromkeys(statuses, 0))[status] = count
    return broadcast, counts


def _totals(counts: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """The table's margins: per channel, per status, and all of them."""
    statuses = {str(s): sum(by[str(s)] for by in counts.values()) for s in STATUS_ORDER}
    return {
        "channels": {channel: sum(by.values()) for channel, by in counts.items()},
        "statuses": statuses,
        "all": sum(statuses.values()),
    }


def _moving(
    broadcast: BroadcastView, counts: Mapping[str, Mapping[str, int]], running: bool
) -> bool:
    """Whether the counts may still change: the status page polls until they cannot."""
    if running or broadcast.status == BroadcastStatus.SENDING:
        return True
    return any(by[str(status)] for by in counts.values() for status in MOVING - {Status.SENT})


async def _chart_context(request: web.Request, broadcast_id: int) -> dict[str, Any]:
    async with request.app[SESSIONS]() as session:
        timeline = await broadcast_timeline(session, broadcast_id)
    return {"chart": chart(timeline) if timeline is not None else None, **_names()}


def _actions(staff: Staff, broadcast: BroadcastView, running: bool) -> dict[str, bool]:
    """Which buttons the page offers; the storage functions decide again when one is pressed."""
    state = broadcast.status
    return {
        "edit": state == BroadcastStatus.DRAFT,
        "approve": state == BroadcastStatus.DRAFT and staff.role in APPROVERS,
        "own": broadcast.author == staff.name,
        "send": state == BroadcastStatus.APPROVED,
        "resume": state == BroadcastStatus.SENDING and not running,
        "cancel": state != BroadcastStatus.CANCELLED,
    }


async def _status_page(
    request: web.Request, broadcast_id: int, *, problem: str | None = None, status: int = 200
) -> web.Response:
    try:
        broadcast, counts = await _counts(request, broadcast_id)
    except UnknownBroadcast:
        return await render(request, "panel/refused.html", {"status": 404}, status=404)
    running = request.app[BROADCAST_RUNNER].running(broadcast_id)
    done = request.query.get("done", "")
    withdrawn = request.query.get("withdrawn", "")
    context = {
        "broadcast": broadcast,
        "counts": counts,
        "totals": _totals(counts),
        "statuses": [str(status) for status in STATUS_ORDER],
        "running": running,
        "moving": _moving(broadcast, counts, running),
        "actions": _actions(current_staff(request), broadcast, running),
        "problem": problem,
        "done": DONE.get(done),
        "withdrawn": int(withdrawn) if done == "cancelled" and withdrawn.isdigit() else None,
        "text_languages": LANGUAGES,
        **await _chart_context(request, broadcast_id),
    }
    page = await render(request, "panel/broadcast.html", context, status=status)
    page.headers["Content-Security-Policy"] = STATUS_PAGE_POLICY
    return page


@requires(Role.CLERK)
async def status_page(request: web.Request) -> web.StreamResponse:
    return await _status_page(request, _broadcast_id(request))


@requires(Role.CLERK)
async def counts_json(request: web.Request) -> web.StreamResponse:
    broadcast_id = _broadcast_id(request)
    try:
        broadcast, counts = await _counts(request, broadcast_id)
    except UnknownBroadcast:
        raise web.HTTPNotFound() from None
    running = request.app[BROADCAST_RUNNER].running(broadcast_id)
    gettext = translator(request).gettext
    return web.json_response(
        {
            "id": broadcast.id,
            "status": str(broadcast.status),
            "status_name": gettext(STATE_NAMES[broadcast.status]),
            "running": running,
            "moving": _moving(broadcast, counts, running),
            "counts": counts,
        },
        headers={"Cache-Control": "no-store"},
    )


@requires(Role.CLERK)
async def chart_fragment(request: web.Request) -> web.StreamResponse:
    broadcast_id = _broadcast_id(request)
    try:
        async with request.app[SESSIONS]() as session:
            await get_broadcast(session, broadcast_id)
    except UnknownBroadcast:
        raise web.HTTPNotFound() from None
    context = await _chart_context(request, broadcast_id)
    return await render(request, "panel/broadcast_chart.html", context)


def routes() -> list[web.RouteDef]:
    one = BASE + r"/{id:\d{1,18}}"
    return [
        web.get(BASE, list_page),
        web.get(f"{BASE}/new", new_form),
        web.post(f"{BASE}/new", create),
        web.get(one, status_page),
        web.get(f"{one}/edit", edit_form),
        web.post(f"{one}/edit", edit),
        web.get(f"{one}/preview", preview_page),
        web.post(f"{one}/approve", approve),
        web.post(f"{one}/send", send),
        web.post(f"{one}/cancel", cancel),
        web.get(f"{one}/counts.json", counts_json),
        web.get(f"{one}/chart", chart_fragment),
    ]
