"""A broadcast through the panel in Chromium, on a phone and a desktop: an approver drafts it
and is not offered its approval, another approver (past TOTP) approves and sends it, and the
status page's live counts reach what the Telegram, Twilio and SMTP peers answered, without a
reload. Screenshots of each page under var/test-artifacts/browser/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.webkeys import SESSIONS
from storage.migrate import upgrade
from storage.staff import Role
from tests.broadcast_peers import ACCOUNT_SID, AUTH_TOKEN, PUBLIC, TOKEN, delivering_panel_settings
from tests.browser.conftest import NOW, LiveServer, Screenshot, panel_login, serving
from tests.notifier.broadcast_city import build_city
from tests.peers.smtp import SmtpServer, start_smtp
from tests.peers.telegram import TelegramPeer
from tests.peers.twilio import TwilioPeer

pytestmark = pytest.mark.asyncio(loop_scope="package")

TEXT_PL = "Jutro ulica Główna będzie zamknięta od 8:00 do 16:00."
TEXT_EN = "Tomorrow Główna street is closed from 8:00 to 16:00."


@dataclass
class DeliveringCity:
    server: LiveServer
    telegram: TelegramPeer
    twilio: TwilioPeer
    smtp: SmtpServer


@pytest_asyncio.fixture(loop_scope="package")
async def city(tmp_path: Path) -> AsyncIterator[DeliveringCity]:
    """The five-household city of tests/notifier/broadcast_city.py in a database of its own
    (the package's live server keeps the demo city), served with the panel on and the
    dispatcher delivering to the three peers."""
    url = f"sqlite:///{tmp_path / 'broadcasts.db'}"
    upgrade(url)
    telegram = TelegramPeer(TOKEN)
    twilio = TwilioPeer(ACCOUNT_SID, AUTH_TOKEN)
    smtp = await start_smtp(tmp_path)
    async with serving(telegram.app()) as telegram_url, serving(twilio.app()) as twilio_url:
        settings = delivering_panel_settings(url, telegram_url, twilio_url, smtp)
        clock = FrozenClock(NOW)
        app = init_app(settings, clock=clock)
        async with serving(app) as base_url:
            twilio.proxy = (PUBLIC, base_url)
            async with app[SESSIONS]() as session:
                await build_city(session)
                await session.commit()
            yield DeliveringCity(LiveServer(base_url, "sqlite", app, clock), telegram, twilio, smtp)
    await twilio.close()
    await smtp.close()


async def _count(page: Page, key: str) -> str:
    return (await page.locator(f'[data-count="{key}"]').inner_text()).strip()


async def test_drafted_approved_by_another_and_delivered_live(
    page: Page, city: DeliveringCity, screenshot: Screenshot
) -> None:
    server = city.server
    await panel_login(page, server, "anna", Role.APPROVER)
    await page.get_by_role("link", name="Komunikaty").first.click()
    await page.get_by_role("link", name="Nowy komunikat").click()
    await page.locator("#segment").fill("all")
    await page.locator("#text_pl").fill(TEXT_PL)
    await page.locator("#text_en").fill(TEXT_EN)
    await page.get_by_role("button", name="Zapisz szkic").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Komunikat 1")
    # Its author is an approver, yet is not offered its approval.
    await expect(page.get_by_role("button", name="Zatwierdź")).to_have_count(0)
    await expect(page.get_by_text("musi go zatwierdzić inna osoba")).to_be_visible()
    await screenshot(page, "panel-broadcast-draft")

    await page.get_by_role("link", name="Podgląd").click()
    await expect(page.locator('[data-preview="total"]')).to_have_text("4")
    await screenshot(page, "panel-broadcast-preview")

    await page.context.clear_cookies()
    await panel_login(page, server, "piotr", Role.APPROVER)
    await page.goto(f"{server.url}/panel/broadcasts/1")
    await page.get_by_role("button", name="Zatwierdź").click()
    await expect(page.locator("[data-broadcast-status]")).to_have_text("zatwierdzony")
    await page.get_by_role("button", name="Wyślij").click()
    # The page polls counts.json: the numbers change without a reload.
    await expect(page.locator('[data-count="*/sent"]')).to_have_text("4")
    await expect(page.locator("[data-broadcast-status]")).to_have_text("wysłany")
    [sms] = city.twilio.created
    await city.twilio.status(sms.sid, "delivered")
    await page.goto(f"{server.url}/panel/broadcasts/1")
    assert await _count(page, "sms/delivered") == "1"
    assert await _count(page, "*/sent") == "3"
    assert await _count(page, "*/*") == "4"
    await screenshot(page, "panel-broadcast-status")
    await page.locator("#live").scroll_into_view_if_needed()
    await screenshot(page, "panel-broadcast-counts")
    chart = page.get_by_role("img", name="Wiadomości przekazane operatorom")
    await expect(chart).to_be_visible()
    await page.locator(".chart-data summary").click()
    await expect(page.locator(".chart-data table")).to_be_visible()
    await chart.scroll_into_view_if_needed()
    await screenshot(page, "panel-broadcast-chart")
    assert city.telegram.texts_to(101) == [TEXT_PL]
    assert len(city.smtp.peer.received) == 2
