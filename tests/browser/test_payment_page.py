"""The payment page in Chromium, on a phone and a desktop, against the demo city: readable
without script, nothing wider than the screen, the QR code's field string in the page's data."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page

from kernel.clock import today_in_warsaw
from kernel.settings import Settings
from kernel.webkeys import SESSIONS, SETTINGS
from payments.links import hand_out_link
from storage.balances import taxpayer_balance
from storage.ledger import LedgerPolicy
from storage.taxpayers import taxpayer_id_by_ref
from tests.browser.conftest import LiveServer, Screenshot

pytestmark = pytest.mark.asyncio(loop_scope="package")

ZBP = re.compile(r"^\d{10}\|PL\|\d{26}\|\d{6}\|[^|]{1,20}\|[^|]{1,32}\|\|\|$")


async def _link_path(server: LiveServer) -> str:
    """A payment link to everything the demo's sample taxpayer owes, as the chat makes one."""
    settings: Settings = server.app[SETTINGS]
    async with server.app[SESSIONS]() as session:
        balance = await taxpayer_balance(
            session,
            server.sample_ref,
            today_in_warsaw(server.clock),
            LedgerPolicy.from_settings(settings.ledger),
        )
        assert balance is not None
        assert balance.obligations
        link = await hand_out_link(
            session,
            settings,
            await taxpayer_id_by_ref(session, server.sample_ref),
            [row.obligation_ref for row in balance.obligations[:2]],
            server.clock.now(),
            language="pl",
            source="chat",
        )
        await session.commit()
    return link.url.removeprefix(settings.web.public_base_url)


async def test_the_payment_page_reads_on_a_phone(
    live_server: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    await page.goto(live_server.url + await _link_path(live_server), wait_until="load")
    await page.wait_for_load_state("load")
    assert await page.locator("h1").inner_text() == "Płatność podatków i opłat lokalnych"
    assert await page.locator("html").get_attribute("lang") == "pl"
    # The total, the button and the transfer details are on the page.
    total = page.locator("#total")
    assert re.fullmatch(r"\d+\.\d{2}", await total.get_attribute("data-total") or "")
    await total.scroll_into_view_if_needed()
    assert await total.is_visible()
    button = page.get_by_role("button", name="Zapłać online")
    assert await button.is_visible()
    # The QR code: an SVG image, its field string for the banking app in the page's data.
    qr = page.locator("figure.qr").first
    payload = await qr.get_attribute("data-qr-payload")
    assert ZBP.match(payload or ""), payload
    box = await qr.locator("svg").bounding_box()
    assert box is not None
    assert box["width"] >= 150
    # Nothing is wider than the screen: no sideways scrolling on a phone.
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1]
    # Each due date stands on one line ("26 stycznia 2026" once wrapped over three on a desktop).
    lines_per_date = await page.locator("table.dues td.due").evaluate_all(
        "cells => cells.map(cell => { const range = document.createRange();"
        " range.selectNodeContents(cell); return range.getClientRects().length; })"
    )
    assert lines_per_date
    assert lines_per_date == [1] * len(lines_per_date)
    # …and the table keeps within the page's column.
    overflow = await page.locator("table.dues").evaluate(
        "table => table.getBoundingClientRect().width - table.parentElement.clientWidth"
    )
    assert overflow <= 0
    # The page's own style sheet applies (CSP allows only our own).
    weight = await button.evaluate("el => getComputedStyle(el).fontWeight")
    assert weight == "600"
    await screenshot(page, "payment-page")
    await qr.scroll_into_view_if_needed()
    await screenshot(page, "payment-page-qr")
