"""End to end: a resident files a case in Telegram, a clerk moves it in the panel, and the
dispatcher running inside the app delivers the notice to the resident's chat on the Telegram peer
(through python-telegram-bot), in the resident's language, with the reference and the note."""

from __future__ import annotations

import asyncio
import re

from bot.channels.telegram import TELEGRAM_INBOUND
from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.i18n import render
from storage.staff import Role
from tests.channels.conftest import (
    TOKEN,
    ClientMaker,
    Line,
    ServerMaker,
)
from tests.conftest import Store
from tests.conversation_helpers import add_resident, link_token
from tests.panel.conftest import NOW, Panel
from tests.panel_helpers import panel_settings
from tests.peers.telegram import SentMessage, TelegramPeer

CHAT = 5550042
WAIT = 20
_CASE_REF = re.compile(r"RS-\d{4}-\d{6}")


async def _say(line: Line, text: str, language: str) -> list[SentMessage]:
    """Send `text` from the resident's chat; the answers that came of it."""
    before = len(line.peer.messages_to(CHAT))
    await line.peer.push(line.peer.text_update(CHAT, text, language_code=language))
    async with asyncio.timeout(WAIT):
        return (await line.peer.wait_for_messages(CHAT, before + 1))[before:]


async def test_a_clerk_moves_a_case_and_the_residents_telegram_chat_is_told(
    store: Store, aiohttp_server: ServerMaker, aiohttp_client: ClientMaker
) -> None:
    peer = TelegramPeer(TOKEN)
    peer_server = await aiohttp_server(peer.app(), access_log=None)
    line = Line(peer, str(peer_server.make_url("")).rstrip("/"))
    await add_resident(store, language="en")
    token = await link_token(store)
    settings = panel_settings(
        store.url,
        telegram={
            "token": TOKEN,
            "api_base_url": line.peer_url,
            # Polling: the panel's cookie is not `Secure` on the test's http:// address, where
            # a webhook would need an https:// public base URL.
            "mode": "polling",
            "rate_per_chat_per_second": 1000,
        },
        outbox={"idle_poll_seconds": 0.05},
    )
    clock = FrozenClock(NOW)
    app = init_app(settings, clock=clock)
    line.client = await aiohttp_client(app)
    async with asyncio.timeout(WAIT):
        await app[TELEGRAM_INBOUND].started.wait()

    await _say(line, f"/start {token}", "en")
    await _say(line, "I need a certificate of no tax arrears", "en")
    await _say(line, "for a bank loan", "en")
    filed = await _say(line, "yes", "en")
    found = _CASE_REF.search(" ".join(message.text for message in filed))
    assert found is not None, [message.text for message in filed]
    ref = found.group(0)
    told_before = len(line.peer.messages_to(CHAT))

    panel = Panel(store, app, clock, line.client.server, aiohttp_client)
    clerk = await panel.login("olek", Role.CLERK)
    for form in (
        {"expected": "submitted", "to": "in_review"},
        {"expected": "in_review", "to": "decided", "note": "Collect it at room 12."},
    ):
        moved = await clerk.post(f"/panel/cases/{ref}/move", form, allow_redirects=False)
        assert moved.status == 303

    async with asyncio.timeout(WAIT):
        notices = (await line.peer.wait_for_messages(CHAT, told_before + 2))[told_before:]
    values = {"case_ref": ref, "form_type": "no_arrears_certificate"}
    assert [notice.text for notice in notices] == [
        render("notice_case_moved", "en", {**values, "status": "in_review"}),
        render(
            "notice_case_moved_note",
            "en",
            {**values, "status": "decided", "note": "Collect it at room 12."},
        ),
    ]
    # The chat's answer about the case reads the same record.
    status = await _say(line, f"Status of case {ref}", "en")
    assert "Collect it at room 12." in status[0].text
