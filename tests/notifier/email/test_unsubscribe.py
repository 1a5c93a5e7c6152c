"""One-click unsubscribe end to end: the server sends a reminder through the SMTP peer, and the
link in its `List-Unsubscribe` header, posted as a mail client posts it, switches that
taxpayer's e-mail reminders off; the page's GET changes nothing; forged links are refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient

from bot.outbox import DISPATCHER
from bot.web import init_app
from kernel.clock import SystemClock
from kernel.settings import Settings
from notifier.unsubscribe_tokens import Unsubscribe, UnsubscribeTokens
from storage.outbox import Category, NewMessage, enqueue
from storage.preferences import delivery_channels, preference_history, record_consent
from tests.conftest import Store
from tests.conversation_helpers import ClientMaker
from tests.notifier.email.conftest import SECRET, email_settings
from tests.peers.smtp import SmtpServer, part
from tests.resident_helpers import add_taxpayer

EMAIL = "anna.nowak@example.org"
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
ONE_CLICK = {
    "data": "List-Unsubscribe=One-Click",
    "headers": {"Content-Type": "application/x-www-form-urlencoded"},
}


async def _consenting_resident(store: Store) -> int:
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session)
        await record_consent(session, taxpayer_id, "email", EMAIL, "import", NOW)
        await session.commit()
    return taxpayer_id


async def _channels(store: Store, taxpayer_id: int, category: str) -> list[str]:
    async with store.sessions() as session:
        found = await delivery_channels(session, [taxpayer_id], category)
    return [channel for channel, _ in found.get(taxpayer_id, [])]


async def _server(store: Store, smtp: SmtpServer, aiohttp_client: ClientMaker, **web: Any) -> Any:
    base = email_settings(smtp).model_dump(mode="json")
    settings = Settings.model_validate(
        {
            "database": {"url": store.url},
            "email": base["email"],
            "web": {**base["web"], **web},
            "outbox": {"idle_poll_seconds": 60},
        }
    )
    return await aiohttp_client(init_app(settings))


async def _reminder_link(
    store: Store, smtp: SmtpServer, client: TestClient[Any, Any], taxpayer_id: int
) -> str:
    """Queue a reminder for the taxpayer, let the server send it, and read its link's path."""
    async with store.sessions() as session:
        message = NewMessage(
            "reminder:anna:2027-03-08:email",
            "email",
            EMAIL,
            Category.REMINDER,
            "Przypominamy o racie do 15 marca 2027.",
            taxpayer_id=taxpayer_id,
        )
        await enqueue(session, [message], SystemClock().now())
        await session.commit()
    client.app[DISPATCHER].wake()
    for _ in range(250):
        if smtp.peer.received:
            break
        await asyncio.sleep(0.02)
    [letter] = smtp.peer.messages_to(EMAIL)
    assert letter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(letter["List-Unsubscribe"])
    assert header.startswith("<https://gmina.example/unsubscribe/")
    assert header[1:-1] in part(letter, "plain")
    return urlsplit(header[1:-1]).path


async def _a_reminder_sent(
    store: Store, smtp: SmtpServer, aiohttp_client: ClientMaker
) -> tuple[TestClient[Any, Any], int, str]:
    """A consenting resident, the server, and the path of the link in the reminder it sent."""
    taxpayer_id = await _consenting_resident(store)
    client = await _server(store, smtp, aiohttp_client)
    return client, taxpayer_id, await _reminder_link(store, smtp, client, taxpayer_id)


async def test_one_click_unsubscribe_switches_email_reminders_off(
    store: Store, smtp: SmtpServer, aiohttp_client: ClientMaker
) -> None:
    client, taxpayer_id, path = await _a_reminder_sent(store, smtp, aiohttp_client)

    # A mail scanner opening the link changes nothing: the page asks, with one button.
    page = await client.get(path)
    assert page.status == 200
    html = await page.text()
    assert "Czy nie chcesz już otrzymywać e-mailem: przypomnienia o płatnościach?" in html
    assert '<form method="post">' in html
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in html
    assert "<script" not in html
    assert await _channels(store, taxpayer_id, "reminders") == ["email"]

    done = await client.post(path, **ONE_CLICK)
    assert done.status == 200
    assert "Gotowe: nie będziesz już otrzymywać e-mailem" in await done.text()
    assert await _channels(store, taxpayer_id, "reminders") == []
    # Only what the e-mail was about: announcements still come.
    assert await _channels(store, taxpayer_id, "announcements") == ["email"]
    async with store.sessions() as session:
        last = (await preference_history(session, taxpayer_id))[-1]
    assert (last.category, last.channel, last.change, last.source) == (
        "reminders",
        "email",
        "opt-out",
        "unsubscribe",
    )

    # Posting again (a client retrying, whatever its body) is harmless.
    again = await client.post(
        path, data=b"\xff\x00--", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert again.status == 200
    assert await _channels(store, taxpayer_id, "reminders") == []


async def test_forged_and_unknown_links_are_refused_with_a_page(
    store: Store, smtp: SmtpServer, aiohttp_client: ClientMaker
) -> None:
    client, taxpayer_id, path = await _a_reminder_sent(store, smtp, aiohttp_client)
    token = path.rsplit("/", 1)[1]
    payload, _, signature = token.partition(".")
    other = UnsubscribeTokens("another-secret").sign(Unsubscribe(1, "reminders", "pl"))
    gone = UnsubscribeTokens(SECRET).sign(Unsubscribe(987654, "reminders", "pl"))
    forged = [
        f"{payload}.{signature[::-1]}",  # a signature that is not ours
        other,  # signed with another key
        "bm90LWEtdG9rZW4",  # no signature at all
        "%C4%85%00",  # not even text
        token + "x",
    ]
    for bad in forged:
        for answer in (
            await client.get(f"/unsubscribe/{bad}"),
            await client.post(f"/unsubscribe/{bad}", **ONE_CLICK),
        ):
            assert answer.status == 404, bad
            assert "Ten link do wypisania się jest nieprawidłowy" in await answer.text()
    # Signed by us, but for a message that is not in the outbox.
    missing = await client.post(f"/unsubscribe/{gone}", **ONE_CLICK)
    assert missing.status == 404
    assert await _channels(store, taxpayer_id, "reminders") == ["email"]


async def test_the_unsubscribe_routes_are_rate_limited(
    store: Store, smtp: SmtpServer, aiohttp_client: ClientMaker
) -> None:
    limits = {"exempt": [], "unsubscribe": {"per_minute": 1, "burst": 2}}
    client = await _server(store, smtp, aiohttp_client, rate_limit=limits)
    statuses = [(await client.post("/unsubscribe/x", **ONE_CLICK)).status for _ in range(3)]
    assert statuses == [404, 404, 429]
    refused = await client.get("/unsubscribe/x")
    assert refused.status == 429
    assert "Retry-After" in refused.headers


async def test_the_page_speaks_the_language_the_email_was_in(
    store: Store, smtp: SmtpServer, aiohttp_client: ClientMaker
) -> None:
    client, taxpayer_id, path = await _a_reminder_sent(store, smtp, aiohttp_client)
    tokens = UnsubscribeTokens(SECRET)
    sent = tokens.read(path.rsplit("/", 1)[1])
    assert sent is not None
    for language, question in [
        ("en", "Stop receiving city announcements by e-mail?"),
        ("uk", "Більше не отримувати електронною поштою: оголошення міста?"),
    ]:
        token = tokens.sign(Unsubscribe(sent.message_id, "announcements", language))
        page = await client.get(f"/unsubscribe/{token}")
        html = await page.text()
        assert f'<html lang="{language}">' in html
        assert question in html
