"""Delivery in the panel: the outbox over a period, its failures, the reminder runs per day
(docs/panel-money.md). Read-only, for clerks and above.

    GET /panel/delivery             counts by channel, category and status over Warsaw days
    GET /panel/delivery/failures    failed messages newest first, recipients masked, no bodies
    GET /panel/delivery/reminders   each day's reminder run with its reminders by status

Filters are in the query string (`from`, `to` as YYYY-MM-DD, `channel`, `category`, `status`,
`before` for the failures' next page), so a page can be bookmarked and sent to a colleague.
No page here shows a taxpayer's data (no names, references, bodies; recipients masked), so none
writes a view to the audit.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.panel.auth import requires
from bot.panel.render import N_, render, translator
from bot.panel.state import NavItem
from kernel.clock import today_in_warsaw
from kernel.errors import InputError
from kernel.webkeys import CLOCK, SESSIONS
from storage.delivery_stats import (
    FAILURE_STATUSES,
    DeliveryFilter,
    Period,
    delivery_counts,
    delivery_failures,
    reminder_days,
)
from storage.outbox import Category, Status
from storage.staff import Role

PATH = "/panel/delivery"
NAV: NavItem | None = NavItem(PATH, N_("Delivery"), Role.CLERK)
CHANNELS = ("telegram", "sms", "email", "rest")
# The default span: a week ending today; the longest one a page may ask for.
DEFAULT_DAYS = 7
MAX_DAYS = 92
FAILURES_PER_PAGE = 50


def routes() -> list[web.RouteDef]:
    return [
        web.get(PATH, counts_page),
        web.get(PATH + "/failures", failures_page),
        web.get(PATH + "/reminders", reminders_page),
    ]


@dataclass(frozen=True)
class Query:
    """The filters of a delivery page, read from and written back to the query string."""

    first: date
    last: date
    narrowing: DeliveryFilter
    # The failures' next page: messages older than this id.
    before_id: int | None = None

    @property
    def period(self) -> Period:
        return Period.of_days(self.first, self.last)

    def query_string(self, **more: Any) -> str:
        values = {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "channel": self.narrowing.channel or "",
            "category": self.narrowing.category or "",
            "status": self.narrowing.status or "",
            **more,
        }
        return urlencode({key: value for key, value in values.items() if value})


class BadQuery(InputError):
    """A filter of the query string that cannot be read: its message (an msgid) and values."""

    def __init__(self, message: str, **values: str) -> None:
        super().__init__(message)
        self.message = message
        self.values = values


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name, "")
    if not value:
        return None
    if value not in allowed:
        raise BadQuery(N_("Unknown %(name)s: %(value)s."), name=name, value=value)
    return value


def read_query(request: web.Request) -> Query:
    """The page's filters; raises `BadQuery` naming the bad one."""
    today = today_in_warsaw(request.app[CLOCK])
    try:
        last = date.fromisoformat(request.query.get("to") or today.isoformat())
        first = date.fromisoformat(
            request.query.get("from") or (last - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        )
    except ValueError:
        raise BadQuery(N_("Dates are written YYYY-MM-DD.")) from None
    if last < first:
        raise BadQuery(N_("The period ends before it begins."))
    if (last - first).days >= MAX_DAYS:
        raise BadQuery(N_("A period is at most %(days)s days."), days=str(MAX_DAYS))
    before = request.query.get("before", "")
    if before and not before.isdigit():
        raise BadQuery(N_("Unknown %(name)s: %(value)s."), name="before", value=before)
    narrowing = DeliveryFilter(
        channel=_choice(request, "channel", CHANNELS),
        category=_choice(request, "category", tuple(Category)),
        status=_choice(request, "status", tuple(Status)),
    )
    return Query(first, last, narrowing, int(before) if before else None)


QueryPage = Callable[[web.Request, Query], Awaitable[web.StreamResponse]]


def reads_query(page: QueryPage) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The page gets its filters read; a bad one answers 400 with a page naming it, and
    nothing is read from the store."""

    @functools.wraps(page)
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            query = read_query(request)
        except BadQuery as bad:
            message = translator(request).gettext(bad.message) % bad.values
            return await render(
                request, "panel/delivery_bad_query.html", {"message": message}, status=400
            )
        return await page(request, query)

    return handler


def _filters_context(query: Query, *, with_dates: bool = True) -> dict[str, Any]:
    return {
        "query": query,
        "channels": CHANNELS,
        "categories": list(Category),
        "statuses": list(Status),
        "with_dates": with_dates,
    }


@requires(Role.CLERK)
@reads_query
async def counts_page(request: web.Request, query: Query) -> web.StreamResponse:
    async with request.app[SESSIONS]() as session:
        counts = await delivery_counts(session, query.period, query.narrowing)
    statuses = [status for status in Status if any(c.status == status for c in counts)]
    table: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for count in counts:
        table[(count.channel, count.category)][count.status] = count.count
    totals = {s: sum(row.get(s, 0) for row in table.values()) for s in statuses}
    return await render(
        request,
        "panel/delivery_counts.html",
        {
            **_filters_context(query),
            "statuses_shown": statuses,
            "table": sorted(table.items()),
            "totals": totals,
            "total": sum(totals.values()),
        },
    )


@requires(Role.CLERK)
@reads_query
async def failures_page(request: web.Request, query: Query) -> web.StreamResponse:
    async with request.app[SESSIONS]() as session:
        page = await delivery_failures(
            session, query.period, query.narrowing,
            before_id=query.before_id, limit=FAILURES_PER_PAGE,
        )  # fmt: skip
    return await render(
        request,
        "panel/delivery_failures.html",
        {
            **_filters_context(query),
            "statuses": list(FAILURE_STATUSES),
            "rows": page.rows,
            "next_page": query.query_string(before=page.next_before_id)
            if page.next_before_id
            else None,
        },
    )


@requires(Role.CLERK)
@reads_query
async def reminders_page(request: web.Request, query: Query) -> web.StreamResponse:
    async with request.app[SESSIONS]() as session:
        days = await reminder_days(session, query.first, query.last)
    statuses = sorted({status for day in days for _, status in day.counts})
    channels = sorted({channel for day in days for channel, _ in day.counts})
    return await render(
        request,
        "panel/delivery_reminders.html",
        {
            **_filters_context(query, with_dates=True),
            "days": days,
            "statuses_shown": statuses,
            "channels_shown": channels,
        },
    )
