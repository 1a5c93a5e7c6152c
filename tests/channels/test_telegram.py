"""The Telegram channel through the real python-telegram-bot and the Telegram peer, in webhook
and in polling mode: binding, buttons, private chats only, refusals, replays, and the token."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bot.channels.telegram import ALLOWED_UPDATES, WEBHOOK_PATH, split_text
from bot.web import init_app
from kernel.clock import SystemClock
from kernel.errors import ConfigurationError
from kernel.i18n import format_money, render
from kernel.settings import Settings
from storage.outbox import is_unreachable
from storage.outbox_models import OutboxMessage
from tests.channels.conftest import PUBLIC_BASE_URL, SECRET, TOKEN, ClientMaker, Line, start_app
from tests.conftest import Store
from tests.conversation_helpers import add_resident, gmina_balance_json, link_token
from tests.peers.telegram import SECRET_HEADER, SentMessage

CHAT = 5550001
OFFICE = "Urząd Miasta Ruda Śląska"
# Long enough for a slow machine; the tests wait for an answer, they do not time one.
WAIT = 20


async def _answers(line: Line, chat: int, count: int) -> list[SentMessage]:
    async with asyncio.timeout(WAIT):
        return await line.peer.wait_for_messages(chat, count)


async def _send_webhook(line: Line, update: dict[str, object]) -> None:
    assert await line.deliver(update) == 200


async def _send_polling(line: Line, update: dict[str, object]) -> None:
    await line.peer.push(update)


SENDS = {"webhook": _send_webhook, "polling": _send_polling}


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_from_start_token_to_the_balance_with_a_button_pressed(
    store: Store, line: Line, aiohttp_client: ClientMaker, mode: str
) -> None:
    await add_resident(store)
    token = await link_token(store)
    await start_app(store, line, aiohttp_client, mode)
    send, peer = SENDS[mode], line.peer
    if mode == "webhook":
        assert peer.webhook == {
            "url": PUBLIC_BASE_URL + WEBHOOK_PATH,
            "secret_token": SECRET,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
    else:
        assert peer.webhook is None
        assert "deleteWebhook" in [method for method, *_ in peer.requests]
    assert [c["command"] for c in peer.commands["pl"]][:3] == ["start", "pomoc", "saldo"]
    assert peer.commands["uk"][2] == {"command": "balance", "description": "Скільки я винен"}

    await send(line, peer.text_update(CHAT, f"/start {token}"))
    [welcome] = await _answers(line, CHAT, 1)
    assert welcome.text.startswith("Dziękuję, Anna Nowak.")
    assert welcome.parse_mode == "HTML"

    await send(line, peer.text_update(CHAT, "/pomoc"))
    help_message = (await _answers(line, CHAT, 2))[1]
    assert help_message.text == render("utter_help", "pl", {})
    # Short server-side keys, never the payloads themselves.
    assert all(len(b["callback_data"].encode()) <= 24 for b in help_message.buttons)
    assert help_message.buttons[0]["text"] == render("label_intent_check_balance", "pl", {})

    await send(line, peer.button_update(help_message, 0))
    balance = (await _answers(line, CHAT, 3))[2]
    total = Decimal((await gmina_balance_json(store))["total"])
    assert format_money(total, "pl") in balance.text
    assert balance.text.startswith("Twoje należności na 10 maja 2027:")
    # The keyboard went before the turn ran, so before its answer.
    assert peer.keyboards_removed == [(CHAT, help_message.message_id)]
    assert len(peer.callback_answers) == 1


async def test_a_group_chat_gets_one_sentence_and_nothing_personal(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    token = await link_token(store)
    await start_app(store, line, aiohttp_client)
    group = -100200300
    await _send_webhook(line, line.peer.text_update(group, f"/start {token}", chat_type="group"))
    await _send_webhook(
        line, line.peer.text_update(group, "ile mam do zapłaty?", chat_type="supergroup")
    )
    answers = await _answers(line, group, 2)
    assert [a.text for a in answers] == [render("telegram_private_only", "pl", {})] * 2
    assert all(not a.buttons for a in answers)
    # The token was not redeemed: it still binds the resident's own private chat.
    await _send_webhook(line, line.peer.text_update(CHAT, f"/start {token}"))
    [welcome] = await _answers(line, CHAT, 1)
    assert welcome.text.startswith("Dziękuję, Anna Nowak.")


@pytest.mark.parametrize("header", [None, "", "wrong-secret", SECRET + "x"])
async def test_a_missing_or_wrong_secret_is_refused(
    store: Store, line: Line, aiohttp_client: ClientMaker, header: str | None
) -> None:
    client = await start_app(store, line, aiohttp_client)
    headers = {SECRET_HEADER: header} if header is not None else {}
    update = line.peer.text_update(CHAT, "pomoc")
    response = await client.post(WEBHOOK_PATH, json=update, headers=headers)
    assert response.status == 403
    async with store.sessions() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"message": {"text": "hej"}}',
        b'{"update_id": "7"}',
        b'{"update_id": -1}',
        b'{"update_id": 7, "message": "hej"}',
        b'{"update_id": 7, "message": {"message_id": 1}}',
        b'{"update_id": 7, "callback_query": {"id": 5}}',
        b'{"update_id": 7, "message": {"text": "\\ud800"}}',
    ],
)
async def test_a_malformed_update_is_400(
    store: Store, line: Line, aiohttp_client: ClientMaker, body: bytes
) -> None:
    client = await start_app(store, line, aiohttp_client)
    response = await client.post(WEBHOOK_PATH, data=body, headers={SECRET_HEADER: SECRET})
    assert response.status == 400
    assert "error" in await response.json()


async def test_a_replayed_update_gets_one_reply_also_after_a_restart(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    # A dispatcher stopped without a word keeps SQLite's dispatch lease this long.
    await start_app(store, line, aiohttp_client, clock=SystemClock(), lease_seconds=1)
    update = line.peer.text_update(CHAT, "pomoc")
    photo = line.peer.media_update(CHAT, "photo")
    for _ in range(2):
        await _send_webhook(line, update)
        await _send_webhook(line, photo)
    await line.client.close()  # type: ignore[union-attr]
    await start_app(store, line, aiohttp_client, clock=SystemClock(), lease_seconds=1)
    await _send_webhook(line, update)
    await _send_webhook(line, photo)
    await _send_webhook(line, line.peer.text_update(CHAT, "dziękuję"))
    answers = await _answers(line, CHAT, 3)
    assert [a.text for a in answers] == [
        render("utter_help", "pl", {}),
        render("telegram_text_only", "pl", {}),
        render("utter_thanks", "pl", {}),
    ]


@pytest.mark.parametrize("kind", ["photo", "sticker", "voice", "edited"])
async def test_what_is_not_a_new_text_gets_i_read_text(
    store: Store, line: Line, aiohttp_client: ClientMaker, kind: str
) -> None:
    await start_app(store, line, aiohttp_client)
    peer = line.peer
    update = (
        peer.text_update(CHAT, "pomoc", edited=True, language_code="uk")
        if kind == "edited"
        else peer.media_update(CHAT, kind, language_code="uk")
    )
    await _send_webhook(line, update)
    [answer] = await _answers(line, CHAT, 1)
    assert answer.text == render("telegram_text_only", "uk", {})


async def test_residents_text_is_escaped_and_long_answers_split_at_line_ends(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    await start_app(store, line, aiohttp_client)
    await _send_webhook(line, line.peer.text_update(CHAT, "<b>pomoc</b> & co?", language_code="en"))
    [answer] = await _answers(line, CHAT, 1)
    assert "<" not in answer.text.replace("&lt;", "")
    lines = [f"line {n:04d} " + "x" * 80 for n in range(100)]
    parts = split_text("\n".join(lines))
    assert len(parts) == 3
    assert all(len(part) <= 4096 for part in parts)
    assert "\n".join(parts) == "\n".join(lines)
    assert all(part.split("\n")[0].startswith("line ") for part in parts)


async def test_a_resident_who_blocked_the_bot_is_unreachable_without_retries(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    await start_app(store, line, aiohttp_client)
    line.peer.blocked_chats.add(CHAT)
    await _send_webhook(line, line.peer.text_update(CHAT, "pomoc"))
    async with asyncio.timeout(WAIT):
        while True:
            async with store.sessions() as session:
                if await is_unreachable(session, "telegram", str(CHAT)):
                    break
            await asyncio.sleep(0.02)
    async with store.sessions() as session:
        status, attempts = (
            await session.execute(sa.select(OutboxMessage.status, OutboxMessage.attempts))
        ).one()
    assert (status, attempts) == ("permanent-failure", 1)
    sends = [m for m, chat, _ in line.peer.requests if m == "sendMessage" and chat == CHAT]
    assert len(sends) == 1
    # Unblocked, the resident writes again: the chat reaches them once more.
    line.peer.blocked_chats.clear()
    await _send_webhook(line, line.peer.text_update(CHAT, "dziękuję"))
    [answer] = await _answers(line, CHAT, 1)
    assert answer.text == render("utter_thanks", "pl", {})
    async with store.sessions() as session:
        assert not await is_unreachable(session, "telegram", str(CHAT))


@pytest.mark.parametrize("language", ["en", "uk"])
async def test_the_residents_telegram_language_opens_the_conversation(
    store: Store, line: Line, aiohttp_client: ClientMaker, language: str
) -> None:
    await start_app(store, line, aiohttp_client)
    await _send_webhook(line, line.peer.text_update(CHAT, "/start", language_code=language))
    [greeting] = await _answers(line, CHAT, 1)
    assert greeting.text == render("utter_greet", language, {"office": OFFICE})


async def test_the_token_is_in_no_log_record_at_debug(
    store: Store, line: Line, aiohttp_client: ClientMaker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await add_resident(store)
    token = await link_token(store)
    # The real clock, so that the retry after the 502 falls due.
    await start_app(store, line, aiohttp_client, clock=SystemClock(), backoff_base_seconds=0.05)
    line.peer.fail_next(1, status=502)
    await _send_webhook(line, line.peer.text_update(CHAT, f"/start {token}"))
    await _answers(line, CHAT, 1)
    await line.client.close()  # type: ignore[union-attr]
    assert caplog.records
    secret = TOKEN.split(":", 1)[1]
    for record in caplog.records:
        text = record.getMessage() + str(record.args) + (record.exc_text or "")
        assert secret not in text, record.name


@pytest.mark.parametrize(
    ("telegram", "key"),
    [
        ({"mode": "webhook"}, "telegram.webhook_secret"),
        ({"mode": "polling", "webhook_secret": "s"}, "telegram.mode"),
    ],
)
def test_a_channel_that_could_not_work_safely_stops_start_up_naming_the_key(
    telegram: dict[str, str], key: str
) -> None:
    settings = Settings.model_validate(
        {"web": {"workers": 2}, "telegram": {"token": TOKEN, **telegram}}
    )
    with pytest.raises(ConfigurationError, match=f"^{key}: "):
        init_app(settings)
