"""Broadcasts in the panel on both engines, against the Telegram, Twilio and SMTP peers with the
server's dispatcher running: draft, the author refused as approver, approval, sending in the
background, counts reaching the providers' last word, cancelling, the JSON and the chart."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from bot.broadcast_runs import BROADCAST_RUNNER
from bot.panel.app import PANEL_SITE
from bot.web import init_app
from kernel.clock import FrozenClock
from storage.broadcasts import (
    approve_broadcast,
    broadcast_counts,
    create_broadcast,
    get_broadcast,
)
from storage.staff import Role
from storage.staff_models import Broadcast
from tests.broadcast_peers import ACCOUNT_SID, AUTH_TOKEN, PUBLIC, TOKEN, delivering_panel_settings
from tests.conftest import Store
from tests.notifier.broadcast_city import PASSWORD as QUICK_PASSWORD
from tests.notifier.broadcast_city import add_team, build_city
from tests.panel.conftest import NOW, ClientMaker, Panel, StaffClient, csrf_token_of
from tests.panel_helpers import panel_settings
from tests.peers.smtp import SmtpServer, start_smtp
from tests.peers.telegram import TelegramPeer
from tests.peers.twilio import TwilioPeer

TEXT_PL = "Jutro ulica Główna będzie zamknięta od 8:00 do 16:00."
TEXT_EN = "Tomorrow Główna street is closed from 8:00 to 16:00."
ServerMaker = Callable[..., Awaitable[TestServer]]


@dataclass
class City:
    panel: Panel
    telegram: TelegramPeer
    twilio: TwilioPeer
    smtp: SmtpServer


@pytest.fixture
async def city(
    store: Store, aiohttp_server: ServerMaker, aiohttp_client: ClientMaker, tmp_path: Path
) -> AsyncIterator[City]:
    """The five-household city (tests/notifier/broadcast_city.py) behind a panel whose server
    delivers to the three peers: `all` reaches A on Telegram, B by SMS, C and D by e-mail."""
    async with store.sessions() as session:
        await build_city(session)
        await session.commit()
    telegram = TelegramPeer(TOKEN)
    telegram_server = await aiohttp_server(telegram.app(), access_log=None)
    twilio = TwilioPeer(ACCOUNT_SID, AUTH_TOKEN)
    twilio_server = await aiohttp_server(twilio.app(), access_log=None)
    smtp = await start_smtp(tmp_path)
    settings = delivering_panel_settings(
        store.url,
        str(telegram_server.make_url("")).rstrip("/"),
        str(twilio_server.make_url("")).rstrip("/"),
        smtp,
    )
    clock = FrozenClock(NOW)
    app = init_app(settings, clock=clock)
    first = await aiohttp_client(app)
    twilio.proxy = (PUBLIC, str(first.make_url("")).rstrip("/"))
    yield City(Panel(store, app, clock, first.server, aiohttp_client), telegram, twilio, smtp)
    await twilio.close()
    await smtp.close()


def _id_from(location: str) -> int:
    found = re.fullmatch(r"/panel/broadcasts/(\d+)\?done=created", location)
    assert found, location
    return int(found.group(1))


async def _draft(author: StaffClient, segment: str = "all") -> int:
    answer = await author.post(
        "/panel/broadcasts/new",
        {"segment": segment, "text_pl": TEXT_PL, "text_en": TEXT_EN, "text_uk": ""},
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    return _id_from(answer.headers["Location"])


async def _approve(city: City, broadcast_id: int) -> None:
    """piotr, an approver past his second factor, approves it in the panel."""
    piotr = await city.panel.login("piotr", Role.APPROVER)
    answer = await piotr.post(f"/panel/broadcasts/{broadcast_id}/approve", allow_redirects=False)
    assert answer.status == 303, await answer.text()


async def _counts(client: StaffClient, broadcast_id: int) -> dict[str, Any]:
    answer = await client.get(f"/panel/broadcasts/{broadcast_id}/counts.json")
    assert answer.status == 200
    data: dict[str, Any] = await answer.json()
    return data


def _nonzero(data: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        channel: {status: n for status, n in by.items() if n}
        for channel, by in data["counts"].items()
        if any(by.values())
    }


async def _wait_for(
    client: StaffClient, broadcast_id: int, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            data = await _counts(client, broadcast_id)
            if done(data):
                return data
            await asyncio.sleep(0.05)


async def _broadcast_rows(store: Store) -> int:
    async with store.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Broadcast)))


async def test_a_draft_with_faults_shows_each_beside_its_field_and_keeps_nothing(
    city: City,
) -> None:
    clerk = await city.panel.login("kasia", Role.CLERK)
    answer = await clerk.post(
        "/panel/broadcasts/new",
        {"segment": "district:Halemba,colour:red", "text_pl": "", "text_en": "x" * 4097},
    )
    assert answer.status == 422
    html = await answer.text()
    assert 'id="segment-error"' in html
    assert "column 18: unknown condition &#39;colour&#39;" in html
    assert 'id="text_en-error"' in html
    assert "at most 4096" in html
    assert 'aria-invalid="true"' in html
    # What was typed stays in the form.
    assert 'value="district:Halemba,colour:red"' in html
    assert await _broadcast_rows(city.panel.store) == 0
    assert await city.panel.audit_rows(action_prefix="broadcast.") == []


async def test_the_author_cannot_approve_their_own_and_another_approver_can(city: City) -> None:
    anna = await city.panel.login("anna", Role.APPROVER)
    broadcast_id = await _draft(anna)
    page = await anna.get(f"/panel/broadcasts/{broadcast_id}")
    html = await page.text()
    assert f"/panel/broadcasts/{broadcast_id}/approve" not in html
    # The panel speaks Polish unless asked otherwise.
    assert "musi go zatwierdzić inna osoba zatwierdzająca" in html

    refused = await anna.post(f"/panel/broadcasts/{broadcast_id}/approve")
    assert refused.status == 403
    assert "anna wrote broadcast" in await refused.text()
    async with city.panel.store.sessions() as session:
        assert (await get_broadcast(session, broadcast_id)).status == "draft"
    assert await city.panel.audit_rows(action="broadcast.approve") == []

    kasia = await city.panel.login("kasia", Role.CLERK)
    clerk_refused = await kasia.post(f"/panel/broadcasts/{broadcast_id}/approve")
    assert clerk_refused.status == 403

    piotr = await city.panel.login("piotr", Role.APPROVER)
    approved = await piotr.post(f"/panel/broadcasts/{broadcast_id}/approve", allow_redirects=False)
    assert approved.status == 303
    async with city.panel.store.sessions() as session:
        broadcast = await get_broadcast(session, broadcast_id)
    assert (broadcast.status, broadcast.approved_by) == ("approved", "piotr")
    assert [row.actor for row in await city.panel.audit_rows(action="broadcast.approve")] == [
        "staff:piotr"
    ]


async def test_sent_from_the_panel_the_counts_reach_the_providers_last_word(city: City) -> None:
    kasia = await city.panel.login("kasia", Role.CLERK)
    broadcast_id = await _draft(kasia)
    await _approve(city, broadcast_id)

    preview = await kasia.get(f"/panel/broadcasts/{broadcast_id}/preview")
    html = await preview.text()
    per_channel = dict(re.findall(r'data-preview="(\w+)">(\d+)<', html))
    assert per_channel == {"email": "2", "sms": "1", "telegram": "1", "total": "4"}
    # Samples carry the text only, never who it is for.
    assert TEXT_PL in html
    assert TEXT_EN in html
    assert "Household" not in html
    assert "example.org" not in html
    assert "+48" not in html

    sent = await kasia.post(f"/panel/broadcasts/{broadcast_id}/send", allow_redirects=False)
    assert sent.status == 303
    assert sent.headers["Location"] == f"/panel/broadcasts/{broadcast_id}?done=sending"
    # Pressed again: it runs once.
    again = await kasia.post(f"/panel/broadcasts/{broadcast_id}/send", allow_redirects=False)
    assert again.status in (303, 409)

    def all_handed_over(data: dict[str, Any]) -> bool:
        return data["status"] == "sent" and not data["moving"]

    data = await _wait_for(kasia, broadcast_id, all_handed_over)
    assert _nonzero(data) == {
        "email": {"sent": 2},
        "sms": {"sent": 1},
        "telegram": {"sent": 1},
    }
    # Twilio's callback says the SMS was delivered.
    [sms] = city.twilio.created
    assert sms.to == "+48500000002"
    callback = await city.twilio.status(sms.sid, "delivered")
    assert callback.status == 204
    data = await _counts(kasia, broadcast_id)
    delivered = _nonzero(data)
    assert delivered == {"email": {"sent": 2}, "sms": {"delivered": 1}, "telegram": {"sent": 1}}
    # Preview counts equal what reached the providers.
    assert {c: sum(by.values()) for c, by in delivered.items()} == {
        c: int(n) for c, n in per_channel.items() if c != "total"
    }
    assert city.telegram.texts_to(101) == [TEXT_PL]
    assert {m.message()["To"] for m in city.smtp.peer.received} == {
        "c@example.org",
        "d@example.org",
    }

    status_page = await kasia.get(f"/panel/broadcasts/{broadcast_id}")
    page = await status_page.text()
    assert 'data-count="sms/delivered">1<' in page
    assert 'data-count="*/*">4<' in page
    assert "<svg" in page
    assert 'role="img"' in page
    assert "<desc" in page
    chart = await kasia.get(f"/panel/broadcasts/{broadcast_id}/chart")
    assert "<table>" in await chart.text()
    audit = [row.action for row in await city.panel.audit_rows(action_prefix="broadcast.")]
    assert audit[:3] == ["broadcast.create", "broadcast.text", "broadcast.approve"]
    assert "broadcast.send" in audit
    # No view of a taxpayer's data: nothing for the panel's view audit.
    assert await city.panel.audit_rows(action_prefix="panel.view.") == []


async def test_cancel_withdraws_what_quiet_hours_hold(city: City) -> None:
    # 21:30 in Warsaw: SMS and Telegram wait for 08:00 (reminders.quiet_hours), e-mail goes.
    city.panel.clock.advance(timedelta(hours=9, minutes=30))
    kasia = await city.panel.login("kasia", Role.CLERK)
    broadcast_id = await _draft(kasia)
    await _approve(city, broadcast_id)
    await kasia.post(f"/panel/broadcasts/{broadcast_id}/send")

    def e_mail_gone(data: dict[str, Any]) -> bool:
        return data["status"] == "sent" and data["counts"]["email"]["sent"] == 2

    held = await _wait_for(kasia, broadcast_id, e_mail_gone)
    assert held["moving"] is True
    assert _nonzero(held) == {
        "email": {"sent": 2},
        "sms": {"created": 1},
        "telegram": {"created": 1},
    }
    answer = await kasia.post(f"/panel/broadcasts/{broadcast_id}/cancel", allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"].endswith("?done=cancelled&withdrawn=2")
    page = await (await kasia.get(answer.headers["Location"])).text()
    assert "Komunikat anulowany: wycofano 2 wiadomości z kolejki." in page
    data = await _counts(kasia, broadcast_id)
    assert (data["status"], data["moving"]) == ("cancelled", False)
    assert _nonzero(data) == {
        "email": {"sent": 2},
        "sms": {"withdrawn": 1},
        "telegram": {"withdrawn": 1},
    }
    again = await kasia.post(f"/panel/broadcasts/{broadcast_id}/cancel")
    assert again.status == 409
    assert city.twilio.created == []
    assert city.telegram.sent == []


async def test_a_sent_broadcast_cannot_be_changed_and_unknown_ones_are_not_found(
    city: City,
) -> None:
    kasia = await city.panel.login("kasia", Role.CLERK)
    broadcast_id = await _draft(kasia)
    await _approve(city, broadcast_id)
    refused = await kasia.post(
        f"/panel/broadcasts/{broadcast_id}/edit",
        {"segment": "overdue", "text_pl": TEXT_PL, "text_en": TEXT_EN},
    )
    assert refused.status == 409
    assert "is approved: it cannot be edited" in await refused.text()
    async with city.panel.store.sessions() as session:
        assert (await get_broadcast(session, broadcast_id)).segment == "all"
    assert (await kasia.get("/panel/broadcasts/999999")).status == 404
    assert (await kasia.get("/panel/broadcasts/999999/counts.json")).status == 404
    listing = await (await kasia.get("/panel/broadcasts")).text()
    assert f'href="/panel/broadcasts/{broadcast_id}"' in listing


async def test_a_draft_is_edited_in_the_panel(city: City) -> None:
    kasia = await city.panel.login("kasia", Role.CLERK)
    broadcast_id = await _draft(kasia)
    form = await (await kasia.get(f"/panel/broadcasts/{broadcast_id}/edit")).text()
    assert TEXT_EN in form
    removed = await kasia.post(
        f"/panel/broadcasts/{broadcast_id}/edit",
        {"segment": "all", "text_pl": TEXT_PL, "text_en": ""},
    )
    assert removed.status == 422
    assert "Tekstu nie można usunąć ze szkicu" in await removed.text()
    changed = await kasia.post(
        f"/panel/broadcasts/{broadcast_id}/edit",
        {
            "segment": "district: Halemba ",
            "text_pl": TEXT_PL,
            "text_en": TEXT_EN,
            "text_uk": "Завтра",
        },
        allow_redirects=False,
    )
    assert changed.status == 303
    async with city.panel.store.sessions() as session:
        broadcast = await get_broadcast(session, broadcast_id)
    assert broadcast.segment == "district:Halemba"
    assert broadcast.texts == {"pl": TEXT_PL, "en": TEXT_EN, "uk": "Завтра"}
    actions = [row.action for row in await city.panel.audit_rows(action_prefix="broadcast.")]
    # The unchanged texts are not written again.
    assert actions == [
        "broadcast.create",
        "broadcast.text",
        "broadcast.segment",
        "broadcast.text",
    ]


async def test_on_the_panels_own_port_send_fans_out_in_the_main_apps_runner(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    async with store.sessions() as session:
        await build_city(session)
        await add_team(session)
        made = await create_broadcast(session, "all", "pl", TEXT_PL, staff="kasia", now=NOW)
        await approve_broadcast(session, made.id, staff="anna", now=NOW)
        await session.commit()
    settings = panel_settings(store.url, panel={"port": 0, "bind": "127.0.0.1"})
    app = init_app(settings, clock=FrozenClock(NOW))
    await aiohttp_client(app)
    panel_url = app[PANEL_SITE].url
    assert panel_url is not None
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=panel_url, cookie_jar=jar) as browser:
        async with browser.get("/panel/login") as form:
            token = csrf_token_of(await form.text())
        fields = {"username": "kasia", "password": QUICK_PASSWORD, "csrf_token": token}
        async with browser.post("/panel/login", data=fields) as home:
            token = csrf_token_of(await home.text())
        send = f"/panel/broadcasts/{made.id}/send"
        async with browser.post(send, data={"csrf_token": token}) as page:
            assert page.status == 200
            assert str(page.url).endswith(f"/panel/broadcasts/{made.id}?done=sending")
    async with asyncio.timeout(20):
        await app[BROADCAST_RUNNER].wait(made.id)
    async with store.sessions() as session:
        assert (await get_broadcast(session, made.id)).status == "sent"
        counts = await broadcast_counts(session, made.id)
    assert sum(count for _, _, count in counts) == 4
