"""How the Telegram channel renders replies, and how photos and forged button keys fare."""

from __future__ import annotations

import asyncio

from bot.channels.telegram import TELEGRAM
from bot.dialogue import Button, OutboundMessage
from bot.outbox import DISPATCHER
from kernel.clock import SystemClock
from kernel.i18n import render
from storage.outbox import Category, NewMessage, enqueue
from tests.channels.conftest import ClientMaker, Line, start_app
from tests.conftest import Store

CHAT = 5550002
BUTTONS = (Button("Zapłać", "/pay"), Button("Terminy", "/list_deadlines"))


def test_a_long_answer_is_parts_at_line_ends_with_the_buttons_under_the_last() -> None:
    text = "\n".join(f"{n:03d} " + "ż" * 95 for n in range(100))
    parts = TELEGRAM.render(OutboundMessage("1", text, BUTTONS))
    assert len(parts) == 3
    assert all(len(part.text) <= 4096 for part in parts)
    assert "\n".join(part.text for part in parts) == text
    assert [part.buttons for part in parts] == [(), (), BUTTONS]


def test_an_image_is_a_photo_with_its_text_as_caption_when_that_fits() -> None:
    [photo] = TELEGRAM.render(OutboundMessage("1", "Kod QR", BUTTONS, image="https://x/qr.png"))
    assert (photo.text, photo.buttons, photo.image) == ("Kod QR", BUTTONS, "https://x/qr.png")
    long = "linia\n" * 300
    photo, *texts = TELEGRAM.render(OutboundMessage("1", long, BUTTONS, image="https://x/q.png"))
    assert (photo.text, photo.buttons, photo.image) == ("", (), "https://x/q.png")
    assert "\n".join(part.text for part in texts) == long.rstrip("\n")
    assert texts[-1].buttons == BUTTONS


async def test_a_queued_image_goes_as_sendphoto_with_an_escaped_caption(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    client = await start_app(store, line, aiohttp_client, clock=SystemClock())
    async with store.sessions() as session:
        message = NewMessage(
            "qr-1", "telegram", str(CHAT), Category.RECEIPT, "QR <b>", image="https://x/qr.png"
        )
        await enqueue(session, [message], SystemClock().now())
        await session.commit()
    client.app[DISPATCHER].wake()
    async with asyncio.timeout(20):
        [sent] = await line.peer.wait_for_messages(CHAT, 1)
    assert (sent.photo, sent.text, sent.parse_mode) == ("https://x/qr.png", "QR &lt;b&gt;", "HTML")


async def test_a_button_key_of_another_chats_message_does_nothing_but_say_so(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    await start_app(store, line, aiohttp_client)
    peer = line.peer
    assert await line.deliver(peer.text_update(CHAT, "/pomoc")) == 200
    async with asyncio.timeout(20):
        [help_message] = await peer.wait_for_messages(CHAT, 1)
    other = 5550003
    forged = peer.button_update(help_message, 0)
    forged["callback_query"]["message"]["chat"]["id"] = other
    forged["callback_query"]["from"]["id"] = other
    assert await line.deliver(forged) == 200
    [answer] = peer.callback_answers
    assert answer["text"] == render("telegram_button_expired", "pl", {})
    assert peer.messages_to(other) == []
