"""The panel's cases: the applications residents filed through forms, and moving them forward.

GET  /panel/cases               the list: `kind`, `status`, `ref` (a reference's beginning),
                                `order` newest|oldest, `after` (the next page's position)
GET  /panel/cases/{ref}         one case: its answers (PESEL masked), taxpayer, history, move form
POST /panel/cases/{ref}/move    `expected` (the status the clerk saw), `to`, `note`: 303 back to
                                the case; refused by the rules 400, moved meanwhile 409, each
                                showing the case again with nothing changed

Every page that shows a case audits the view (`panel.view.case`, `panel.view.case_list`): the
list writes one row per taxpayer whose cases it shows, naming those cases.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from bot.outbox import DISPATCHER
from bot.panel.audit import audit_view, audit_views
from bot.panel.auth import current_staff, requires
from bot.panel.render import N_, refusal, render
from bot.panel.state import NavItem
from kernel.errors import InputError, NotFoundError
from kernel.redact import mask_pesel_everywhere
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from notifier.quiet_hours import hold_until
from notifier.sms_segments import SmsMeter
from storage.case_moves import (
    NEXT_STATUSES,
    NOTE_REQUIRED,
    CaseMovedMeanwhile,
    CaseMoveRefused,
    move_case,
)
from storage.case_queue import Cursor, QueueFilter, StaffCase, case_queue, staff_case
from storage.casework import FORM_TYPES, CaseStatus, normalise_ref
from storage.outbox import NewMessage
from storage.staff import Role

CASES_PATH = "/panel/cases"
NAV: NavItem | None = NavItem(CASES_PATH, N_("Cases"), Role.CLERK)

# The kinds and statuses as staff read them (the panel's catalogue).
FORM_TYPE_NAMES = {
    "waste_declaration_change": N_("Waste declaration change"),
    "no_arrears_certificate": N_("Certificate of no arrears"),
    "installments": N_("Instalments or deferral"),
}
STATUS_NAMES = {
    CaseStatus.SUBMITTED: N_("received"),
    CaseStatus.IN_REVIEW: N_("in progress"),
    CaseStatus.DECIDED: N_("decided"),
    CaseStatus.REJECTED: N_("refused"),
}
# What each move is called on its button.
MOVE_NAMES = {
    CaseStatus.IN_REVIEW: N_("Take into progress"),
    CaseStatus.DECIDED: N_("Decide"),
    CaseStatus.REJECTED: N_("Refuse"),
}
# Why a move was refused, as staff read it.
REFUSALS = {
    "not_allowed": N_("This case cannot move there from where it is."),
    "note_required": N_("A refusal needs a note: the resident is told the reason."),
    "note_too_long": N_("The note is too long: at most 1000 characters."),
}
ORDERS = ("newest", "oldest")
PESEL_SHOWN_DIGITS = 4


def masked_pesel(pesel: str | None) -> str | None:
    """Enough of a PESEL to check it against a document, not enough to use it."""
    if not pesel:
        return None
    return "•" * (len(pesel) - PESEL_SHOWN_DIGITS) + pesel[-PESEL_SHOWN_DIGITS:]


def _queue_filter(query: Mapping[str, str]) -> QueueFilter:
    kind = query.get("kind") or None
    status = query.get("status") or None
    order = query.get("order") or "newest"
    if kind is not None and kind not in FORM_TYPES:
        raise InputError(f"unknown kind of case {kind[:40]!r}")
    if status is not None and status not in CaseStatus.__members__.values():
        raise InputError(f"unknown status {status[:40]!r}")
    if order not in ORDERS:
        raise InputError(f"unknown order {order[:40]!r}")
    return QueueFilter(
        form_type=kind,
        status=CaseStatus(status) if status else None,
        ref=(query.get("ref") or "").strip() or None,
        newest_first=order == "newest",
    )


def _filter_query(wanted: QueueFilter, after: Cursor | None = None) -> dict[str, str]:
    """The list's query string for these filters (and a page position)."""
    query = {
        "kind": wanted.form_type or "",
        "status": wanted.status.value if wanted.status else "",
        "ref": wanted.ref or "",
        "order": "newest" if wanted.newest_first else "oldest",
    }
    if after is not None:
        query["after"] = after.token()
    return {name: value for name, value in query.items() if value}


def _list_context(wanted: QueueFilter | None, query: Mapping[str, str]) -> dict[str, Any]:
    return {
        "kinds": FORM_TYPE_NAMES,
        "statuses": STATUS_NAMES,
        "chosen": {name: query.get(name, "") for name in ("kind", "status", "ref", "order")},
        "wanted": wanted,
    }


async def _refused_list(request: web.Request, refused: InputError) -> web.StreamResponse:
    """The filters again with the reason, 400; no case is shown, so no view is audited."""
    context = {**_list_context(None, request.query), "error": str(refused), "page": None}
    return await render(request, "panel/cases.html", context, status=400)


@requires(Role.CLERK)
async def case_list(request: web.Request) -> web.StreamResponse:
    try:
        wanted = _queue_filter(request.query)
        after = Cursor.parse(request.query["after"]) if request.query.get("after") else None
    except InputError as refused:
        return await _refused_list(request, refused)
    async with request.app[SESSIONS]() as session:
        try:
            page = await case_queue(session, wanted, after)
        except InputError as refused:
            return await _refused_list(request, refused)
        shown: dict[int, list[str]] = defaultdict(list)
        for case in page.cases:
            shown[case.taxpayer_id].append(case.ref)
        await audit_views(
            request,
            session,
            [(taxpayer_id, {"case_refs": refs}) for taxpayer_id, refs in shown.items()],
            "case_list",
        )
        await session.commit()
    next_query = _filter_query(wanted, page.next_cursor) if page.next_cursor else None
    context = {
        **_list_context(wanted, request.query),
        "error": None,
        "page": page,
        "next_url": request.rel_url.with_query(next_query) if next_query else None,
        "first_url": request.rel_url.with_query(_filter_query(wanted)) if after else None,
    }
    return await render(request, "panel/cases.html", context)


def _case_context(found: StaffCase) -> dict[str, Any]:
    return {
        "found": found,
        "data": mask_pesel_everywhere(found.data),
        "pesel": masked_pesel(found.taxpayer_pesel),
        "kinds": FORM_TYPE_NAMES,
        "statuses": STATUS_NAMES,
        "moves": [(status, MOVE_NAMES[status]) for status in NEXT_STATUSES[found.case.status]],
        "note_required": NOTE_REQUIRED,
    }


async def _show_case(
    request: web.Request, ref: str, status: int = 200, **extra: Any
) -> web.StreamResponse:
    async with request.app[SESSIONS]() as session:
        found = await staff_case(session, ref)
        if found is None:
            return await refusal(request, 404)
        await audit_view(
            request, session, found.case.taxpayer_id, "case", {"case_ref": found.case.ref}
        )
        await session.commit()
    context = {"error": None, "moved": False, "note": "", **_case_context(found), **extra}
    return await render(request, "panel/case.html", context, status=status)


@requires(Role.CLERK)
async def case_page(request: web.Request) -> web.StreamResponse:
    moved = request.query.get("moved") == "1"
    return await _show_case(request, request.match_info["ref"], moved=moved)


def _form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _notice_rules(request: web.Request) -> Callable[[NewMessage], NewMessage]:
    """What the office's notice needs before it is queued: unlike a chat reply it answers
    nothing the resident just wrote, so it waits out the quiet hours; an SMS is measured."""
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    meter = SmsMeter.from_settings(settings)

    def prepare(notice: NewMessage) -> NewMessage:
        held = hold_until(notice.channel, now, settings.reminders.quiet_hours)
        return meter.measured(replace(notice, not_before=held) if held else notice)

    return prepare


@requires(Role.CLERK)
async def move(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["ref"]
    form = await request.post()
    note = _form_text(form, "note")
    try:
        expected = CaseStatus(_form_text(form, "expected"))
        to = CaseStatus(_form_text(form, "to"))
    except ValueError:
        return await _show_case(request, ref, 400, error=REFUSALS["not_allowed"], note=note)
    staff = current_staff(request)
    async with request.app[SESSIONS]() as session:
        try:
            await move_case(
                session,
                ref,
                expected,
                to,
                note,
                staff.name,
                request.app[CLOCK].now(),
                prepare_notice=_notice_rules(request),
            )
        except NotFoundError:
            return await refusal(request, 404)
        except CaseMovedMeanwhile as conflict:
            await session.rollback()
            return await _show_case(request, ref, 409, conflict=conflict, note=note)
        except CaseMoveRefused as refused:
            await session.rollback()
            return await _show_case(request, ref, 400, error=REFUSALS[refused.why], note=note)
        await session.commit()
    dispatcher = request.app.get(DISPATCHER)
    if dispatcher is not None:
        dispatcher.wake()
    raise web.HTTPSeeOther(f"{CASES_PATH}/{normalise_ref(ref)}?moved=1")


def routes() -> list[web.RouteDef]:
    return [
        web.get(CASES_PATH, case_list),
        web.get(CASES_PATH + "/{ref}", case_page),
        web.post(CASES_PATH + "/{ref}/move", move),
    ]
