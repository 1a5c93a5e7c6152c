"""Money and delivery in the staff panel, in a real browser: an approver assigns an unmatched
credit after seeing whom to, then looks at delivery; both viewports, screenshots kept."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from playwright.async_api import Page, expect

from kernel.webkeys import SESSIONS
from storage.bookings import BANK_SOURCE, Credit, keep_unmatched
from storage.models import Payment, Taxpayer
from storage.outbox import (
    Category,
    NewMessage,
    Outcome,
    Status,
    claim_due,
    enqueue,
    record_outcomes,
)
from storage.reminder_plan import Coverage, mark_planned, record_coverage
from storage.staff import Role
from storage.taxpayers import taxpayer_id_by_ref
from tests.browser.conftest import LiveServer, Screenshot, Viewport, panel_login

pytestmark = pytest.mark.asyncio(loop_scope="package")

PHONE = "+48600777123"


async def _taxpayer_to_assign(server: LiveServer) -> str:
    """A demo taxpayer other than the sample one other tests pay for."""
    async with server.app[SESSIONS]() as session:
        ref = await session.scalar(
            sa.select(Taxpayer.ref)
            .where(Taxpayer.ref != server.sample_ref, Taxpayer.first_name != "")
            .order_by(Taxpayer.ref.desc())
            .limit(1)
        )
    assert ref is not None
    return ref


async def _credit_and_a_failure(server: LiveServer, bank_ref: str, taxpayer_ref: str) -> None:
    """The credit to assign, and today's reminder run with one SMS the carrier refused."""
    now = server.clock.now()
    async with server.app[SESSIONS]() as session:
        taxpayer_id = await taxpayer_id_by_ref(session, taxpayer_ref)
        credit = Credit(
            BANK_SOURCE, bank_ref, "", date(2027, 5, 7), Decimal("123.45"),
            counterparty="ANNA PRZYKLADOWA", counterparty_account="61109010140000071219812874",
            title="OPLATA ZA ODPADY 05/2027",
        )  # fmt: skip
        await keep_unmatched(session, [credit], "wyciag-2027-05-07.sta", now)
        key = f"browser-{bank_ref}"
        await enqueue(session, [NewMessage(key, "sms", PHONE, Category.REMINDER, "tekst")], now)
        coverage = Coverage(key, taxpayer_id, "sms", PHONE, now.date(), [])
        await record_coverage(session, [coverage], now)
        await mark_planned(session, now.date(), now)
        for claimed in await claim_due(session, ["sms"], now, timedelta(minutes=1), 50):
            error = "30003 unreachable handset" if claimed.key == key else None
            status = Status.PERMANENT_FAILURE if error else Status.SENT
            await record_outcomes(session, [Outcome(claimed.id, status, error=error)], now)
        await session.commit()


async def test_an_approver_assigns_a_credit_then_looks_at_delivery(
    page: Page, panel_server: LiveServer, screenshot: Screenshot, viewport: Viewport
) -> None:
    bank_ref = f"BRW-{viewport.name.upper()}"
    taxpayer_ref = await _taxpayer_to_assign(panel_server)
    await _credit_and_a_failure(panel_server, bank_ref, taxpayer_ref)
    await panel_login(page, panel_server, "ania.approver", Role.APPROVER)

    await page.get_by_role("link", name="Nieprzypisane wpłaty").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Nieprzypisane wpłaty")
    row = page.get_by_role("row").filter(has_text=bank_ref)
    await expect(row).to_contain_text("ANNA PRZYKLADOWA")
    await expect(row).to_contain_text("123,45")
    await screenshot(page, "panel-money-unmatched")

    await row.get_by_role("link", name=re.compile("Przypisz podatnikowi")).click()
    await page.get_by_label("Identyfikator podatnika").fill(taxpayer_ref)
    await page.get_by_role("button", name="Sprawdź podatnika").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Potwierdź przypisanie")
    await expect(page.locator("#booked-to")).to_contain_text(taxpayer_ref)
    await expect(page.locator("#booked-to")).to_contain_text(re.compile(r"\b\w\.\s\w\."))
    await screenshot(page, "panel-money-confirm")

    await page.get_by_role("button", name="Zaksięguj wpłatę").click()
    await expect(page.get_by_role("status")).to_contain_text(f"bank:{bank_ref}")
    await expect(page.get_by_role("row").filter(has_text=bank_ref)).to_have_count(0)
    await screenshot(page, "panel-money-booked")
    async with panel_server.app[SESSIONS]() as session:
        booked = await session.scalar(
            sa.select(sa.func.count()).select_from(Payment).where(Payment.ref == f"bank:{bank_ref}")
        )
    assert booked == 1

    await page.get_by_role("link", name="Doręczenia").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Doręczenia")
    await expect(page.get_by_role("table")).to_contain_text("permanent-failure")
    await screenshot(page, "panel-delivery-counts")
    await page.get_by_label("Kanał").select_option("sms")
    await page.get_by_role("button", name="Pokaż").click()
    await expect(page).to_have_url(re.compile(r"channel=sms"))
    await page.get_by_role("link", name="Niepowodzenia").click()
    failure = page.get_by_role("row").filter(has_text="30003 unreachable handset")
    await expect(failure.first).to_contain_text("***123")
    await expect(page.get_by_role("main")).not_to_contain_text(PHONE)
    await screenshot(page, "panel-delivery-failures")
    await page.get_by_role("link", name="Przebiegi przypomnień").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Przebiegi przypomnień")
    await expect(page.get_by_role("table")).to_contain_text("permanent-failure")
    await expect(page.get_by_role("row").filter(has_text="10 maja 2027")).to_be_visible()
    await screenshot(page, "panel-delivery-reminders")
