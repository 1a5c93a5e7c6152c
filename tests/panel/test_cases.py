"""The panel's cases: the list, a case's page, moving it; every view audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from actions.forms import FORMS
from storage.bindings import create_link_token, redeem_link_token
from storage.case_queue import PAGE_SIZE
from storage.casework import FORM_TYPES, CaseStatus, create_case
from storage.conversation_models import Case
from storage.demo_cases import file_sample_cases
from storage.outbox_models import OutboxMessage
from storage.staff import Role
from tests.panel.conftest import NOW, Panel
from tests.resident_helpers import OTHER_PESEL, PESEL, add_taxpayer

CHAT = "7770001"
_ROW_REF = re.compile(r'<th scope="row"><a href="/panel/cases/(RS-\d{4}-\d{6})">')


async def _city(panel: Panel) -> tuple[int, int, list[str]]:
    """Two taxpayers; the first's Telegram chat bound; six cases filed a minute apart:
    installments, certificate, waste change, in turn (the first taxpayer's the even ones)."""
    async with panel.store.sessions() as session:
        first = await add_taxpayer(session, "T-0001", first_name="Anna", last_name="Nowak")
        second = await add_taxpayer(session, "T-0002", pesel=OTHER_PESEL, last_name="Lis")
        token = await create_link_token(session, "T-0001", NOW, timedelta(hours=1))
        await redeem_link_token(session, token.token, "telegram", CHAT, NOW)
        refs = []
        for n in range(6):
            owner = first if n % 2 == 0 else second
            kind = ("installments", "no_arrears_certificate", "waste_declaration_change")[n % 3]
            data = {"purpose": f"bank, PESEL {PESEL}"} if n == 0 else {"residents_count": n}
            refs.append(
                await create_case(
                    session,
                    owner,
                    kind,
                    data,
                    "telegram",
                    NOW - timedelta(minutes=6 - n),
                    sender_id=CHAT if owner == first else None,
                )  # fmt: skip
            )
        await session.commit()
    return first, second, refs


def _listed(html: str) -> list[str]:
    return _ROW_REF.findall(html)


async def _status(panel: Panel, ref: str) -> str:
    async with panel.store.sessions() as session:
        status = await session.scalar(sa.select(Case.status).where(Case.ref == ref))
    return str(status)


async def _outbox_keys(panel: Panel) -> list[str]:
    async with panel.store.sessions() as session:
        keys = await session.scalars(sa.select(OutboxMessage.key).order_by(OutboxMessage.id))
        return list(keys)


def test_the_panel_filters_by_every_kind_the_forms_file() -> None:
    assert set(FORM_TYPES) == set(FORMS)


async def test_the_list_filters_orders_and_audits_one_row_per_taxpayer(panel: Panel) -> None:
    first, second, refs = await _city(panel)
    clerk = await panel.login("olek", Role.CLERK)

    page = await clerk.get("/panel/cases")
    assert page.status == 200
    html = await page.text()
    assert _listed(html) == refs[::-1]
    assert "Anna Nowak" in html
    assert PESEL not in html
    views = await panel.audit_rows(action="panel.view.case_list")
    assert sorted((row.taxpayer_id, tuple(row.details["case_refs"])) for row in views) == sorted(
        [(first, tuple(refs[4::-2])), (second, tuple(refs[5::-2]))]
    )
    assert {row.actor for row in views} == {"staff:olek"}

    oldest = await clerk.get("/panel/cases?order=oldest&kind=installments&status=submitted")
    assert _listed(await oldest.text()) == [refs[0], refs[3]]
    by_ref = await clerk.get(f"/panel/cases?ref={refs[2].lower()}")
    assert _listed(await by_ref.text()) == [refs[2]]
    # A page that shows one taxpayer's cases is one more audit row, not one per taxpayer.
    assert len(await panel.audit_rows(action="panel.view.case_list")) == 2 + 2 + 1


async def test_the_list_pages_by_keyset(panel: Panel) -> None:
    _, _, refs = await _city(panel)
    async with panel.store.sessions() as session:
        await file_sample_cases(session, PAGE_SIZE, NOW - timedelta(days=1), days=30)
        await session.commit()
    clerk = await panel.login("olek", Role.CLERK)
    pages: list[list[str]] = []
    path: str | None = "/panel/cases?order=oldest"
    while path is not None:
        html = await (await clerk.get(path)).text()
        pages.append(_listed(html))
        found = re.search(r'<a href="([^"]+)" rel="next">', html)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert [len(page) for page in pages] == [PAGE_SIZE, 6]
    assert pages[1] == refs
    seen = [ref for page in pages for ref in page]
    assert len(set(seen)) == len(seen)


async def test_a_bad_filter_is_a_clear_400(panel: Panel) -> None:
    await _city(panel)
    clerk = await panel.login("olek", Role.CLERK)
    for query in ("kind=parking", "status=lost", "order=random", "after=yesterday"):
        answer = await clerk.get(f"/panel/cases?{query}")
        assert answer.status == 400, query
        assert 'class="error"' in await answer.text()
    assert await panel.audit_rows(action="panel.view.case_list") == []


async def test_the_case_page_masks_pesel_shows_history_and_is_audited(panel: Panel) -> None:
    first, _, refs = await _city(panel)
    clerk = await panel.login("olek", Role.CLERK)
    answer = await clerk.get(f"/panel/cases/{refs[0]}")
    assert answer.status == 200
    html = await answer.text()
    assert PESEL not in html
    assert PESEL[-4:] in html
    assert "bank, PESEL" in html
    assert 'name="expected" value="submitted"' in html
    assert 'name="csrf_token"' in html
    (view,) = await panel.audit_rows(action="panel.view.case")
    assert (view.taxpayer_id, view.details, view.actor) == (
        first, {"case_ref": refs[0]}, "staff:olek",
    )  # fmt: skip
    missing = await clerk.get("/panel/cases/RS-2026-999999")
    assert missing.status == 404


async def test_a_clerk_moves_a_case_and_the_resident_notice_is_queued(panel: Panel) -> None:
    first, _, refs = await _city(panel)
    clerk = await panel.login("olek", Role.CLERK)
    moved = await clerk.post(
        f"/panel/cases/{refs[0]}/move",
        {"expected": "submitted", "to": "in_review", "note": "Sprawdzamy."},
        allow_redirects=False,
    )
    assert moved.status == 303
    assert moved.headers["Location"] == f"/panel/cases/{refs[0]}?moved=1"
    assert await _status(panel, refs[0]) == CaseStatus.IN_REVIEW
    (key,) = await _outbox_keys(panel)
    assert key.startswith("case-move:")
    (audited,) = await panel.audit_rows(action="case.moved")
    assert (audited.actor, audited.taxpayer_id, audited.details["notice_channel"]) == (
        "staff:olek", first, "telegram",
    )  # fmt: skip
    page = await (await clerk.get(moved.headers["Location"])).text()
    assert "Sprawdzamy." in page
    assert 'name="expected" value="in_review"' in page


async def test_a_case_moved_in_the_evening_is_told_when_the_quiet_hours_end(panel: Panel) -> None:
    _, _, refs = await _city(panel)
    panel.clock.advance(timedelta(hours=10))  # 22:00 in Warsaw, inside 20:00-08:00
    clerk = await panel.login("olek", Role.CLERK)
    await clerk.post(f"/panel/cases/{refs[0]}/move", {"expected": "submitted", "to": "in_review"})
    async with panel.store.sessions() as session:
        (not_before,) = await session.scalars(sa.select(OutboxMessage.not_before))
    # 08:00 the next morning in Warsaw (summer time: UTC+2).
    assert not_before == datetime(2027, 5, 11, 6, 0, tzinfo=UTC)


async def test_a_refusal_without_a_note_is_refused_and_changes_nothing(panel: Panel) -> None:
    _, _, refs = await _city(panel)
    clerk = await panel.login("olek", Role.CLERK)
    await clerk.post(f"/panel/cases/{refs[0]}/move", {"expected": "submitted", "to": "in_review"})
    before = await _outbox_keys(panel)
    for form in (
        {"expected": "in_review", "to": "rejected", "note": "  "},
        {"expected": "in_review", "to": "submitted"},
        {"expected": "in_review", "to": "lost"},
    ):
        answer = await clerk.post(f"/panel/cases/{refs[0]}/move", form)
        assert answer.status == 400, form
        assert 'class="error"' in await answer.text()
    assert await _status(panel, refs[0]) == CaseStatus.IN_REVIEW
    assert await _outbox_keys(panel) == before
    assert len(await panel.audit_rows(action="case.moved")) == 1


async def test_two_clerks_moving_one_case_the_second_is_told_of_the_conflict(
    panel: Panel,
) -> None:
    _, _, refs = await _city(panel)
    olek = await panel.login("olek", Role.CLERK)
    ewa = await panel.login("ewa", Role.CLERK)
    form = {"expected": "submitted", "to": "in_review"}
    assert (await olek.post(f"/panel/cases/{refs[1]}/move", form)).status == 200
    answer = await ewa.post(f"/panel/cases/{refs[1]}/move", form)
    assert answer.status == 409
    assert "olek" in await answer.text()
    assert len(await panel.audit_rows(action="case.moved")) == 1


async def test_a_move_without_the_csrf_token_is_403_and_changes_nothing(panel: Panel) -> None:
    _, _, refs = await _city(panel)
    clerk = await panel.login("olek", Role.CLERK)
    answer = await clerk.client.post(
        f"/panel/cases/{refs[0]}/move", data={"expected": "submitted", "to": "in_review"}
    )
    assert answer.status == 403
    assert await _status(panel, refs[0]) == CaseStatus.SUBMITTED
    assert await _outbox_keys(panel) == []


async def test_signed_out_the_cases_are_not_shown(panel: Panel) -> None:
    _, _, refs = await _city(panel)
    browser = await panel.browser()
    answer = await browser.get(f"/panel/cases/{refs[0]}", allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"].startswith("/panel/login")
    assert await panel.audit_rows(action_prefix="panel.view.") == []
