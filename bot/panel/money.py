"""Unmatched bank credits in the panel, and assigning one to a taxpayer (docs/panel-money.md).

    GET  /panel/money/unmatched               the credits waiting, oldest payment first (clerk)
    GET  /panel/money/unmatched/{id}          one credit and the taxpayer-reference form (approver)
    POST /panel/money/unmatched/{id}/preview  whom it would be booked to: initials and reference
    POST /panel/money/unmatched/{id}/assign   book it (storage.bookings.assign_unmatched)

Assigning is for approvers: a payment once booked is never taken back by a booking, so moving
money onto a taxpayer's ledger takes the role that has passed the second factor. Clerks see the
list. A second submit of the same assignment (a double click) lands where the first did; a credit
assigned before to anyone else is refused with who assigned it and when.
"""

from __future__ import annotations

import logging
from datetime import date

from aiohttp import web

from bot.panel.audit import audit_view, staff_actor
from bot.panel.auth import current_staff, requires
from bot.panel.render import N_, render, translator
from bot.panel.state import NavItem
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from storage.bookings import (
    AlreadyAssigned,
    UnknownCredit,
    UnmatchedRow,
    assign_unmatched,
    count_unmatched,
    list_unmatched,
    unmatched_credit,
)
from storage.ledger import LedgerError, LedgerPolicy
from storage.staff import Role
from storage.taxpayers import UnknownTaxpayer, taxpayer_id_by_ref, taxpayer_summary

log = logging.getLogger(__name__)

LIST_PATH = "/panel/money/unmatched"
PAGE_SIZE = 50
NAV: NavItem | None = NavItem(LIST_PATH, N_("Unmatched payments"), Role.CLERK)


def routes() -> list[web.RouteDef]:
    return [
        web.get(LIST_PATH, unmatched_list),
        web.get(LIST_PATH + "/{credit_id:\\d+}", assign_form),
        web.post(LIST_PATH + "/{credit_id:\\d+}/preview", assign_preview),
        web.post(LIST_PATH + "/{credit_id:\\d+}/assign", assign),
    ]


def _cursor(text: str | None) -> tuple[date, int] | None:
    """`after=2027-03-01.42`: the (paid_on, id) of the last row of the page before."""
    if not text:
        return None
    day, _, credit_id = text.partition(".")
    try:
        return date.fromisoformat(day), int(credit_id)
    except ValueError:
        raise web.HTTPBadRequest(text="after= is DATE.ID, as the panel's own links give") from None


@requires(Role.CLERK)
async def unmatched_list(request: web.Request) -> web.StreamResponse:
    after = _cursor(request.query.get("after"))
    async with request.app[SESSIONS]() as session:
        found = await list_unmatched(session, after=after, limit=PAGE_SIZE + 1)
        waiting = await count_unmatched(session)
        booked = None
        if request.query.get("booked", "").isdigit():
            booked = await unmatched_credit(session, int(request.query["booked"]))
        rows = found[:PAGE_SIZE]
        # Payers' names and accounts are people's data, though of no taxpayer known yet.
        await audit_view(request, session, None, "unmatched", {"credits": [r.id for r in rows]})
        await session.commit()
    last = rows[-1] if len(found) > PAGE_SIZE else None
    return await render(
        request,
        "panel/money_unmatched.html",
        {
            "rows": rows,
            "waiting": waiting,
            "booked": booked,
            "next_page": f"{LIST_PATH}?after={last.paid_on.isoformat()}.{last.id}"
            if last
            else None,
            "may_assign": current_staff(request).role != Role.CLERK,
        },
    )


async def _credit_or_404(request: web.Request) -> UnmatchedRow:
    async with request.app[SESSIONS]() as session:
        credit = await unmatched_credit(session, int(request.match_info["credit_id"]))
    if credit is None:
        raise web.HTTPNotFound(text="no such unmatched credit")
    return credit


async def _form(
    request: web.Request, credit: UnmatchedRow, *, taxpayer_ref: str = "", error: str = "",
    status: int = 200,
) -> web.StreamResponse:  # fmt: skip
    """The credit and the reference field; the payer's data shown is audited as the list's is."""
    async with request.app[SESSIONS]() as session:
        await audit_view(request, session, None, "unmatched", {"credits": [credit.id]})
        await session.commit()
    return await render(
        request,
        "panel/money_assign.html",
        {"credit": credit, "taxpayer_ref": taxpayer_ref, "error": error},
        status=status,
    )


@requires(Role.APPROVER)
async def assign_form(request: web.Request) -> web.StreamResponse:
    return await _form(request, await _credit_or_404(request))


def initials(display_name: str) -> str:
    """`Jan Kowalski` → `J. K.` (a no-break space inside): enough to check a reference against,
    not a name to read out."""
    return "\u00a0".join(f"{word[0]}." for word in display_name.split()[:3] if word[:1].isalnum())


@requires(Role.APPROVER)
async def assign_preview(request: web.Request) -> web.StreamResponse:
    credit = await _credit_or_404(request)
    taxpayer_ref = str((await request.post()).get("taxpayer_ref", "")).strip()
    if credit.assigned_at is not None:
        return await _refused(request, credit)
    if not taxpayer_ref:
        error = translator(request).gettext("Enter the taxpayer's reference.")
        return await _form(request, credit, error=error, status=422)
    async with request.app[SESSIONS]() as session:
        try:
            taxpayer_id = await taxpayer_id_by_ref(session, taxpayer_ref)
        except UnknownTaxpayer:
            return await _unknown_taxpayer(request, credit, taxpayer_ref)
        summary = await taxpayer_summary(session, taxpayer_id)
        await audit_view(request, session, taxpayer_id, "assign_preview", {"credit": credit.id})
        await session.commit()
    return await render(
        request,
        "panel/money_confirm.html",
        {
            "credit": credit,
            "taxpayer_ref": taxpayer_ref,
            "initials": initials(summary.display_name) if summary else "",
        },
    )


async def _unknown_taxpayer(
    request: web.Request, credit: UnmatchedRow, taxpayer_ref: str
) -> web.StreamResponse:
    message = translator(request).gettext("No taxpayer has the reference %(ref)s.")
    return await _form(
        request, credit, taxpayer_ref=taxpayer_ref, error=message % {"ref": taxpayer_ref},
        status=422,
    )  # fmt: skip


async def _refused(request: web.Request, credit: UnmatchedRow) -> web.StreamResponse:
    return await render(request, "panel/money_assigned_before.html", {"credit": credit}, status=409)


@requires(Role.APPROVER)
async def assign(request: web.Request) -> web.StreamResponse:
    credit = await _credit_or_404(request)
    taxpayer_ref = str((await request.post()).get("taxpayer_ref", "")).strip()
    staff = current_staff(request)
    settings = request.app[SETTINGS]
    done = web.HTTPSeeOther(f"{LIST_PATH}?booked={credit.id}")
    async with request.app[SESSIONS]() as session:
        try:
            await assign_unmatched(
                session, credit.external_ref, taxpayer_ref, actor=staff_actor(staff.name),
                policy=LedgerPolicy.from_settings(settings.ledger), now=request.app[CLOCK].now(),
                source=credit.source,
            )  # fmt: skip
            await session.commit()
        except UnknownTaxpayer:
            await session.rollback()
            return await _unknown_taxpayer(request, credit, taxpayer_ref)
        except LedgerError as exc:
            # The ledger could not allocate it (a rate missing for a date): nothing is booked.
            await session.rollback()
            log.warning("panel: credit %s not assigned: %s", credit.id, exc)
            error = translator(request).gettext("The ledger could not book this payment: %(why)s")
            return await _form(
                request, credit, taxpayer_ref=taxpayer_ref, error=error % {"why": exc},
                status=422,
            )  # fmt: skip
        except (AlreadyAssigned, UnknownCredit):
            await session.rollback()
            now_as = await unmatched_credit(session, credit.id)
            # The same assignment sent twice (a double click, a reload): it is done already.
            if now_as is not None and now_as.taxpayer_ref == taxpayer_ref:
                raise done from None
            return await _refused(request, now_as or credit)
    log.info("panel: credit %s assigned by %s", credit.id, staff.name)
    raise done
