"""A clerk answers a hand-off in a real browser, and the resident's Telegram peer receives it.

The panel here is an app of its own on the live server's store, with the Telegram channel on
(the peer of `tests/peers/telegram.py`, the dispatcher running), so that the resident writes
through the webhook and reads what the outbox sent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from bot.channels.telegram import TELEGRAM_INBOUND
from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.i18n import render
from kernel.webkeys import SESSIONS, SETTINGS
from storage.handoffs import open_handoff_ticket
from storage.staff import Role
from tests.browser.conftest import NOW, LiveServer, Screenshot, panel_login, serving
from tests.channels.conftest import SECRET, TOKEN
from tests.panel_helpers import panel_settings
from tests.peers.telegram import TelegramPeer

pytestmark = pytest.mark.asyncio(loop_scope="package")

# A chat of its own for each run (the viewports): the store outlives a run, and Telegram's
# update ids start again with each peer.
CHATS = itertools.count(7770001)
WAIT = 20


@dataclass
class TelegramPanel:
    """The panel with Telegram on: its URL, the peer, and the live server's store."""

    url: str
    peer: TelegramPeer
    server: LiveServer
    chat: int = field(default_factory=lambda: next(CHATS))

    async def say(self, text: str) -> None:
        update = self.peer.text_update(self.chat, text)
        assert await self.peer.deliver(update, self.url) == 200

    async def messages(self, count: int) -> list[str]:
        async with asyncio.timeout(WAIT):
            sent = await self.peer.wait_for_messages(self.chat, count)
        return [message.text for message in sent]


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def telegram_panel(panel_server: LiveServer) -> AsyncIterator[TelegramPanel]:
    """One app for the package: on SQLite one outbox dispatcher holds the store's lease, and on
    the frozen clock a lease left by an app before would not run out."""
    peer = TelegramPeer(TOKEN)
    async with serving(peer.app()) as peer_url:
        settings = panel_settings(
            panel_server.app[SETTINGS].database.url,
            telegram={
                "token": TOKEN,
                "api_base_url": peer_url,
                "webhook_secret": SECRET,
                "rate_per_chat_per_second": 1000,
            },
            outbox={"idle_poll_seconds": 0.05},
        )
        app = init_app(settings, clock=FrozenClock(NOW))
        async with serving(app) as url:
            async with asyncio.timeout(WAIT):
                await app[TELEGRAM_INBOUND].started.wait()
            yield TelegramPanel(url, peer, panel_server)


@pytest.fixture
def resident(telegram_panel: TelegramPanel) -> TelegramPanel:
    """The panel's Telegram line, with a chat of this test's own."""
    return replace(telegram_panel, chat=next(CHATS))


async def test_a_clerk_answers_a_handoff_and_the_resident_reads_it_on_telegram(
    page: Page, resident: TelegramPanel, screenshot: Screenshot
) -> None:
    await resident.say(f"/start {await resident.server.link_token()}")
    await resident.say("chcę rozmawiać z człowiekiem")
    await resident.messages(3)
    async with resident.server.app[SESSIONS]() as session:
        ref = await open_handoff_ticket(session, "telegram", str(resident.chat))
    assert ref is not None
    await resident.say("Proszę o rozłożenie zaległości na raty")

    panel = LiveServer(resident.url, "sqlite", resident.server.app, resident.server.clock)
    await panel_login(page, panel, "olek.clerk", Role.CLERK)
    await page.get_by_role("navigation").get_by_role("link", name="Zgłoszenia").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Zgłoszenia")
    row = page.get_by_role("row").filter(has_text=ref)
    await expect(row).to_contain_text("Proszę o rozłożenie zaległości na raty")
    await screenshot(page, "panel-handoffs-inbox")

    await row.get_by_role("link", name=ref).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(ref)
    balance = page.get_by_role("table", name="Saldo na 10 maja 2027")
    await expect(balance).to_be_visible()
    await balance.scroll_into_view_if_needed()
    await screenshot(page, "panel-handoff-balance")
    await page.get_by_role("button", name="Weź zgłoszenie").click()
    await expect(page.get_by_role("status")).to_have_text("Zgłoszenie jest teraz Twoje.")
    await page.get_by_label("Twoja odpowiedź dla mieszkańca").fill(
        "Dzień dobry, wniosek o raty złoży Pani przez formularz w czacie."
    )
    await page.get_by_label("Twoja odpowiedź dla mieszkańca").scroll_into_view_if_needed()
    await screenshot(page, "panel-handoff-answering")
    await page.get_by_role("button", name="Wyślij odpowiedź").click()
    await expect(page.get_by_role("status")).to_have_text("Odpowiedź jest w drodze do mieszkańca.")
    answer = page.locator("ol.thread li.staff")
    await expect(answer).to_contain_text("wniosek o raty")
    await answer.scroll_into_view_if_needed()
    await screenshot(page, "panel-handoff-answered")

    answered = (await resident.messages(5))[4]
    assert answered == render(
        "handoff_staff_answer",
        "pl",
        {
            "ticket_ref": ref,
            "text": "Dzień dobry, wniosek o raty złoży Pani przez formularz w czacie.",
        },
    )
    await page.get_by_role("button", name="Zamknij zgłoszenie").click()
    await expect(page.get_by_role("status")).to_contain_text("Zgłoszenie jest zamknięte")
    await screenshot(page, "panel-handoff-closed")
    closed = (await resident.messages(6))[5]
    assert closed == render("handoff_closed", "pl", {"ticket_ref": ref})
