"""The panel's cases in Chromium: a clerk finds a case by its kind and status, reads it (PESEL
masked), moves it with a note; the resident's notice is
queued for their Telegram chat and their web chat's answer about the case tells the note."""

from __future__ import annotations

import uuid
from datetime import timedelta

import aiohttp
import pytest
import sqlalchemy as sa
from playwright.async_api import Page, expect

from kernel.webkeys import SESSIONS
from storage.bindings import create_link_token, redeem_link_token
from storage.casework import create_case
from storage.outbox_models import OutboxMessage
from storage.staff import Role
from storage.taxpayers import taxpayer_id_by_ref
from tests.browser.conftest import LiveServer, Screenshot, panel_login

pytestmark = pytest.mark.asyncio(loop_scope="package")

PESEL_IN_ANSWER = "44051401359"
NOTE = "Proszę dostarczyć zaświadczenie o dochodach do pokoju 12."


async def _filed_case(server: LiveServer) -> tuple[str, str]:
    """An instalments case of the demo's sample taxpayer, filed from their Telegram chat;
    (its reference, the chat id)."""
    chat = str(uuid.uuid4().int % 10**9 + 10**9)
    async with server.app[SESSIONS]() as session:
        taxpayer_id = await taxpayer_id_by_ref(session, server.sample_ref)
        token = await create_link_token(
            session, server.sample_ref, server.clock.now(), timedelta(1)
        )
        await redeem_link_token(session, token.token, "telegram", chat, server.clock.now())
        ref = await create_case(
            session,
            taxpayer_id,
            "installments",
            {"installments_count": 3, "installments_reason": f"choroba, PESEL {PESEL_IN_ANSWER}"},
            "telegram",
            server.clock.now(),
            sender_id=chat,
        )
        await session.commit()
    return ref, chat


async def _notices_to(server: LiveServer, chat: str) -> list[str]:
    async with server.app[SESSIONS]() as session:
        texts = await session.scalars(
            sa.select(OutboxMessage.content).where(
                OutboxMessage.channel == "telegram", OutboxMessage.recipient == chat
            )
        )
        return [content["text"] for content in texts]


async def _web_chat(server: LiveServer, text: str, sender: str) -> str:
    async with aiohttp.ClientSession() as client:
        async with client.post(
            f"{server.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
        ) as answer:
            assert answer.status == 200
            return "\n".join(reply.get("text") or "" for reply in await answer.json())


async def test_a_clerk_finds_reads_and_moves_a_case(
    page: Page, panel_server: LiveServer, screenshot: Screenshot
) -> None:
    ref, chat = await _filed_case(panel_server)
    await panel_login(page, panel_server, "ola.clerk", Role.CLERK)
    await page.get_by_role("link", name="Sprawy").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sprawy")
    await page.get_by_label("Rodzaj").select_option("installments")
    await page.get_by_label("Status").select_option("submitted")
    await page.get_by_role("button", name="Pokaż").click()
    await expect(page).to_have_url(
        f"{panel_server.url}/panel/cases?kind=installments&status=submitted&ref=&order=newest"
    )
    row = page.get_by_role("row").filter(has_text=ref)
    await expect(row).to_contain_text("przyjęta")
    await screenshot(page, "panel-cases-list")

    await row.get_by_role("link", name=ref).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Sprawa {ref}")
    main = page.get_by_role("main")
    await expect(main).not_to_contain_text(PESEL_IN_ANSWER)
    await expect(main).to_contain_text("PESEL ***")
    await screenshot(page, "panel-case")

    await page.get_by_label("Weź do rozpatrzenia → w toku").check()
    await page.get_by_label("Uwaga dla mieszkańca").fill(NOTE)
    await page.get_by_role("button", name="Przesuń", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Sprawa została przesunięta")
    history = page.get_by_role("region", name="Historia")
    await expect(history).to_contain_text(NOTE)
    await expect(history).to_contain_text("ola.clerk")
    await expect(history).to_contain_text("telegram")
    await screenshot(page, "panel-case-moved")
    await history.scroll_into_view_if_needed()
    await screenshot(page, "panel-case-history")

    # A refusal without a note is refused by the server (400): tests/panel/test_cases.py; the
    # page fixture takes any answer of 400 for an error of the page.
    await expect(page.get_by_label("Odmów → odmówiona")).to_be_enabled()

    (notice,) = await _notices_to(panel_server, chat)
    assert ref in notice
    assert NOTE in notice
    sender = uuid.uuid4().hex
    token = await panel_server.link_token()
    await _web_chat(panel_server, f"/start {token}", sender)
    answer = await _web_chat(panel_server, f"Status sprawy {ref}", sender)
    assert NOTE in answer
    assert "w trakcie rozpatrywania" in answer
