"""The audit trail for administrators (`GET /panel/audit`), read-only.

Filters (all optional, a GET form): `actor` (exactly, e.g. `staff:anna`), `action` (its start,
e.g. `panel.view`), `taxpayer` (a taxpayer's reference), `from` and `to` (days, Europe/Warsaw,
both included). Newest first, `PAGE_SIZE` rows a page; `before` (a row id) pages back. Viewing
the page is itself written to the trail (`panel.view.audit`, with the filters). No route of the
panel changes or deletes a row of the trail.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.panel.audit import audit_view
from bot.panel.auth import requires
from bot.panel.render import N_, render
from bot.panel.state import NavItem
from kernel.clock import WARSAW
from kernel.webkeys import SESSIONS
from storage.audit import AuditFilter, audit_page
from storage.staff import Role
from storage.taxpayers import UnknownTaxpayer, taxpayer_id_by_ref

PATH = "/panel/audit"
PAGE_SIZE = 50
NAV = NavItem(PATH, N_("Audit trail"), Role.ADMIN)
_FIELDS = ("actor", "action", "taxpayer", "from", "to")


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), WARSAW)


def _filters(query: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The filters as given (blank ones dropped), and the names of those that are not valid."""
    given = {name: query[name].strip() for name in _FIELDS if query.get(name, "").strip()}
    wrong: list[str] = []
    for name in ("from", "to"):
        if name in given:
            try:
                _day(given[name])
            except ValueError:
                wrong.append(name)
    if "before" in query and not query["before"].isdigit():
        wrong.append("before")
    return given, wrong


@requires(Role.ADMIN)
async def audit_trail(request: web.Request) -> web.StreamResponse:
    given, wrong = _filters(dict(request.query))
    context: dict[str, Any] = {
        "filters": given,
        "wrong": wrong,
        "lines": [],
        "older": None,
        "unknown_taxpayer": False,
        "paged": "before" in request.query,
    }
    if wrong:
        return await render(request, "panel/audit.html", context, status=400)
    before = int(request.query["before"]) if "before" in request.query else None
    async with request.app[SESSIONS]() as session:
        taxpayer_id = None
        if "taxpayer" in given:
            try:
                taxpayer_id = await taxpayer_id_by_ref(session, given["taxpayer"])
            except UnknownTaxpayer:
                context["unknown_taxpayer"] = True
        if not context["unknown_taxpayer"]:
            where = AuditFilter(
                actor=given.get("actor"),
                action=given.get("action"),
                taxpayer_id=taxpayer_id,
                since=_start_of(_day(given["from"])) if "from" in given else None,
                until=_start_of(_day(given["to"]) + timedelta(days=1)) if "to" in given else None,
            )
            lines = await audit_page(session, where, before_id=before, limit=PAGE_SIZE + 1)
            context["lines"] = lines[:PAGE_SIZE]
            if len(lines) > PAGE_SIZE:
                older = {**given, "before": str(lines[PAGE_SIZE - 1].id)}
                context["older"] = f"{PATH}?{urlencode(older)}"
        await audit_view(request, session, taxpayer_id, "audit", {"filters": given})
        await session.commit()
    return await render(request, "panel/audit.html", context)


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, audit_trail)]
