"""The SMS channel end to end: the Twilio peer posts signed inbound messages and status callbacks
to the running app, and the replies go out through the outbox and twilio's own library to the
peer. The city's public address (`web.public_base_url`) is a proxy's: the peer signs for it and
the request reaches the test server, as it would behind nginx."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.sms import _chosen, keyword
from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.i18n import render
from kernel.settings import Settings
from notifier.sms_segments import fold
from storage.bindings import bound_taxpayer, issue_activation_code
from storage.models import Contact
from storage.outbox import is_unreachable, reachability_history
from storage.outbox_models import OutboxMessage
from tests.conftest import Store
from tests.conversation_helpers import NOW, add_resident, new_app
from tests.peers.twilio import CreatedMessage, TwilioPeer
from tests.resident_helpers import NIP, OTHER_PESEL, add_taxpayer

ACCOUNT_SID = "AC" + "0" * 31 + "7"
AUTH_TOKEN = "twilio-auth-token-for-the-channel"
CITY_NUMBER = "+48732100200"
PUBLIC = "https://sms.gmina.example"
HELD = "+48601000001"
SHARED = "+48601000002"
UNKNOWN = "+48601000009"
OFFICE = "Urząd Miasta Ruda Śląska"
ClientMaker = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Line:
    peer: TwilioPeer
    client: TestClient[Any, Any]
    store: Store

    async def text(self, sender: str, body: str, sid: str | None = None) -> None:
        """The resident sends an SMS; Twilio posts it and gets empty TwiML."""
        answer = await self.peer.inbound(
            f"{PUBLIC}/webhooks/twilio/sms", sender, CITY_NUMBER, body, sid
        )
        assert answer.status == 200, answer.body
        assert answer.body == '<?xml version="1.0" encoding="UTF-8"?><Response />'

    async def replies(self, number: str, count: int) -> list[str]:
        """The SMS the city sent to the number, once `count` have reached the peer."""
        for _ in range(500):
            bodies = self.peer.bodies_to(number)
            if len(bodies) >= count:
                return bodies
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(self.peer.bodies_to(number))} SMS, not {count}")

    async def sent(self, number: str) -> CreatedMessage:
        """The one SMS to the number, once the outbox has recorded it sent."""
        for _ in range(500):
            rows = await self.rows(number)
            if rows and rows[0].status == "sent":
                [created] = self.peer.created
                return created
            await asyncio.sleep(0.02)
        raise AssertionError("the SMS was not recorded as sent")

    async def rows(self, number: str) -> list[Any]:
        async with self.store.sessions() as session:
            result = await session.execute(
                sa.select(OutboxMessage)
                .where(OutboxMessage.channel == "sms", OutboxMessage.recipient == number)
                .order_by(OutboxMessage.id)
            )
            return list(result.scalars())


@pytest.fixture
async def line(
    store: Store,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: ClientMaker,
) -> AsyncIterator[Line]:
    peer = TwilioPeer(ACCOUNT_SID, AUTH_TOKEN)
    peer_server = await aiohttp_server(peer.app(), access_log=None)
    settings = Settings.model_validate(
        {
            "database": {"url": store.url},
            "web": {"public_base_url": PUBLIC},
            "sms": {
                "twilio": {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "from_number": CITY_NUMBER,
                    "api_base_url": str(peer_server.make_url("")).rstrip("/"),
                }
            },
            "outbox": {"idle_poll_seconds": 0.05, "backoff_base_seconds": 0.05},
        }
    )
    client = await aiohttp_client(init_app(settings, clock=FrozenClock(NOW)))
    peer.proxy = (PUBLIC, str(client.make_url("")).rstrip("/"))
    yield Line(peer, client, store)
    await peer.close()


async def _hold_phone(store: Store, taxpayer_id: int, phone: str) -> None:
    async with store.sessions() as session:
        await session.execute(
            sa.insert(Contact).values(
                taxpayer_id=taxpayer_id, kind="phone", value=phone, source="import"
            )
        )
        await session.commit()


def _has_amount(text: str) -> bool:
    return re.search(r"\d,\d\d", text) is not None


async def test_an_sms_from_a_held_number_gets_the_balance(line: Line) -> None:
    taxpayer_id = await add_resident(line.store)
    await _hold_phone(line.store, taxpayer_id, HELD)
    # Written as people write it: a national number is the same E.164 sender.
    await line.text("601 000 001", "ile mam do zapłaty?")
    balance, overdue = await line.replies(HELD, 2)
    assert balance.startswith("Twoje naleznosci na 10 maja 2027:\n- podatek od nieruchomosci: ")
    assert balance.endswith("zl.\nOdpisz 1 - Jak zaplacic, 2 - Terminy platnosci")
    assert _has_amount(balance)
    assert overdue.startswith("Z tego ")
    # Each reply's cost is kept with it; the first went out before the second was taken.
    row, _ = await line.rows(HELD)
    assert (row.status, row.category, row.sms_encoding) == ("sent", "chat_reply", "gsm7")
    assert row.sms_segments == 3
    assert row.provider_id == line.peer.created[0].sid


async def test_an_unknown_or_shared_number_hears_nothing_personal(line: Line) -> None:
    taxpayer_id = await add_resident(line.store)
    await _hold_phone(line.store, taxpayer_id, SHARED)
    async with line.store.sessions() as session:
        other = await add_taxpayer(session, "T-2002", pesel=OTHER_PESEL)
        await session.commit()
    await _hold_phone(line.store, other, SHARED)
    for number in (SHARED, UNKNOWN):
        await line.text(number, "ile mam do zapłaty?")
        [offer] = await line.replies(number, 1)
        assert offer.startswith(fold(render("utter_verify_offer", "pl"))[:40])
        assert not _has_amount(offer)
        assert "Nowak" not in offer


async def test_a_shared_number_verified_with_a_code_gets_that_taxpayers_balance(
    line: Line,
) -> None:
    first = await add_resident(line.store)
    await _hold_phone(line.store, first, SHARED)
    async with line.store.sessions() as session:
        second = await add_taxpayer(session, "T-2002", pesel=None, nip=NIP, last_name="Nowak")
        code = await issue_activation_code(session, "T-2002", NOW)
        await session.commit()
    await _hold_phone(line.store, second, SHARED)
    await line.text(SHARED, "weryfikacja")
    await line.text(SHARED, NIP)
    await line.text(SHARED, code)
    await line.replies(SHARED, 3)
    async with line.store.sessions() as session:
        assert await bound_taxpayer(session, "sms", SHARED) == second


async def test_buttons_are_numbered_and_a_number_answers_with_the_choice(line: Line) -> None:
    await add_resident(line.store)
    await line.text(UNKNOWN, "ile mam do zapłaty?")
    [offer] = await line.replies(UNKNOWN, 1)
    assert offer.endswith("Odpisz 1 - Zweryfikuj sie teraz")
    # "1" is the button's payload, /link_account: the verification form asks for the PESEL.
    await line.text(UNKNOWN, "1")
    [_, asked] = await line.replies(UNKNOWN, 2)
    assert asked == fold(render("utter_ask_identifier", "pl"))


async def test_stop_start_and_help(line: Line) -> None:
    await line.text(HELD, "Rezygnuję")
    [stopped] = await line.replies(HELD, 1)
    assert stopped == fold(render("sms_stopped", "pl", {"office": OFFICE}))
    async with line.store.sessions() as session:
        assert await is_unreachable(session, "sms", HELD)
    # Writing again is not START: the withdrawal holds.
    await line.text(HELD, "pomoc")
    [_, helped] = await line.replies(HELD, 2)
    assert helped.startswith("Urzad Miasta Ruda Slaska: asystent podatkow")
    assert helped.endswith("Telefon do urzedu: +48 32 244 90 00.")
    async with line.store.sessions() as session:
        assert await is_unreachable(session, "sms", HELD)
    await line.text(HELD, "start")
    [*_, started] = await line.replies(HELD, 3)
    assert started == fold(render("sms_started", "pl", {"office": OFFICE}))
    async with line.store.sessions() as session:
        assert not await is_unreachable(session, "sms", HELD)
        history = await reachability_history(session, "sms", HELD)
    assert [(change, reason) for change, reason, _ in history] == [
        ("unreachable", "withdrawn by the resident"),
        ("reachable", "the resident texted START"),
    ]


async def test_help_in_english_from_a_new_number(line: Line) -> None:
    await line.text(UNKNOWN, "HELP")
    [helped] = await line.replies(UNKNOWN, 1)
    assert helped.startswith("Urzad Miasta Ruda Slaska: the local taxes and fees assistant.")


async def test_a_replayed_sms_has_one_effect(line: Line) -> None:
    await line.text(UNKNOWN, "dzień dobry", sid="SM" + "a" * 32)
    await line.text(UNKNOWN, "dzień dobry", sid="SM" + "a" * 32)
    await line.text(UNKNOWN, "STOP", sid="SM" + "b" * 32)
    await line.text(UNKNOWN, "STOP", sid="SM" + "b" * 32)
    await line.replies(UNKNOWN, 2)
    assert len(await line.rows(UNKNOWN)) == 2
    async with line.store.sessions() as session:
        assert len(await reachability_history(session, "sms", UNKNOWN)) == 1


async def test_status_callbacks_move_the_message_forward_only(line: Line) -> None:
    await line.text(UNKNOWN, "STOP")
    await line.replies(UNKNOWN, 1)
    created = await line.sent(UNKNOWN)
    assert (await line.peer.status(created.sid, "delivered")).status == 204
    # Late and repeated callbacks change nothing.
    assert (await line.peer.status(created.sid, "sent")).status == 204
    assert (await line.peer.status(created.sid, "undelivered", 30003)).status == 204
    [row] = await line.rows(UNKNOWN)
    assert (row.status, row.error) == ("delivered", None)


async def test_a_landline_is_marked_unreachable_by_its_callback(line: Line) -> None:
    await line.text(UNKNOWN, "pomoc")
    await line.replies(UNKNOWN, 1)
    created = await line.sent(UNKNOWN)
    assert (await line.peer.status(created.sid, "undelivered", 30006)).status == 204
    [row] = await line.rows(UNKNOWN)
    assert (row.status, row.error) == ("permanent-failure", "twilio: undelivered, error 30006")
    async with line.store.sessions() as session:
        assert await is_unreachable(session, "sms", UNKNOWN)


# --- refusals ------------------------------------------------------------------------------------


async def _post(line: Line, path: str, params: dict[str, str], **signing: Any) -> tuple[int, str]:
    answer = await line.peer.post_signed(f"{PUBLIC}{path}", params, **signing)
    return answer.status, answer.body


@pytest.mark.parametrize("path", ["/webhooks/twilio/sms", "/webhooks/twilio/status"])
async def test_a_missing_tampered_or_misdirected_signature_is_403(line: Line, path: str) -> None:
    params = line.peer.inbound_params(UNKNOWN, CITY_NUMBER, "ile mam do zapłaty?")
    assert (await _post(line, path, params, signature=""))[0] == 403
    forged = line.peer.sign(f"{PUBLIC}{path}", {**params, "Body": "something else"})
    assert (await _post(line, path, params, signature=forged))[0] == 403
    # Signed for another URL: another path, another host, a query the request does not carry.
    for signed_url in (
        f"{PUBLIC}/webhooks/twilio/other",
        f"https://evil.example{path}",
        f"{PUBLIC}{path}?x=1",
    ):
        assert (await _post(line, path, params, signed_url=signed_url))[0] == 403
    # Signed with another account's token.
    other = TwilioPeer(ACCOUNT_SID, "another-token")
    assert (await _post(line, path, params, signature=other.sign(f"{PUBLIC}{path}", params)))[
        0
    ] == 403
    # The Host header is not what is checked: a URL signed for the server's own address fails.
    local = str(line.client.make_url(path))
    assert (await _post(line, path, params, signed_url=local))[0] == 403
    assert line.peer.created == []
    assert await line.rows(UNKNOWN) == []


async def test_a_signed_url_with_a_query_is_checked_with_it(line: Line) -> None:
    params = line.peer.inbound_params(UNKNOWN, CITY_NUMBER, "pomoc")
    status, _ = await _post(line, "/webhooks/twilio/sms?city=ruda", params)
    assert status == 200
    await line.replies(UNKNOWN, 1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"MessageSid": "not-a-sid"}, "MessageSid"),
        ({"From": "not a number"}, "From"),
        ({"Body": "x" * 1601}, "Body"),
        ({"Body": "a\x00b"}, "Body"),
    ],
)
async def test_a_malformed_signed_sms_is_400(
    line: Line, change: dict[str, str], reason: str
) -> None:
    params = {**line.peer.inbound_params(UNKNOWN, CITY_NUMBER, "pomoc"), **change}
    status, body = await _post(line, "/webhooks/twilio/sms", params)
    assert status == 400
    assert reason in body


async def test_a_body_that_is_not_a_form_is_400(line: Line) -> None:
    headers = {"X-Twilio-Signature": "c2lnbmF0dXJl"}
    for data, content_type in (
        (b'{"Body": "x"}', "application/json"),
        (b"Body=\xff\xfe", "application/x-www-form-urlencoded"),
    ):
        response = await line.client.post(
            "/webhooks/twilio/sms", data=data, headers={**headers, "Content-Type": content_type}
        )
        assert response.status == 400, await response.text()


async def test_a_status_callback_without_a_known_status_is_400(line: Line) -> None:
    params = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "exploded"}
    status, body = await _post(line, "/webhooks/twilio/status", params)
    assert (status, "MessageStatus" in body) == (400, True)


# --- keywords and choices ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        (" Nie. ", "NIE"),
        ("REZYGNUJĘ", "REZYGNUJE"),
        ("rezygnuje!", "REZYGNUJE"),
        ("Start", "START"),
        ("pomoc", "POMOC"),
        ("Help", "HELP"),
        ("nie wiem", None),
        ("stopa procentowa", None),
    ],
)
def test_keywords_in_any_case_without_diacritics(text: str, word: str | None) -> None:
    assert keyword(text) == word


def test_a_choice_is_taken_by_its_number_or_its_title() -> None:
    choices = [("Tak", "/affirm"), ("Nie", "/deny")]
    assert _chosen("1", choices) == "/affirm"
    assert _chosen(" 2. ", choices) == "/deny"
    assert _chosen("3", choices) is None
    # The title as written: "nie" answers the choice, and is then no STOP.
    assert _chosen("NIE", choices) == "/deny"
    assert _chosen("nie", []) is None
    assert _chosen("zweryfikuj się teraz", [("Zweryfikuj się teraz", "/link_account")]) == (
        "/link_account"
    )


async def test_no_phone_number_is_logged_at_info_or_above(
    line: Line, caplog: pytest.LogCaptureFixture
) -> None:
    taxpayer_id = await add_resident(line.store)
    await _hold_phone(line.store, taxpayer_id, HELD)
    with caplog.at_level(logging.DEBUG):
        await line.text(HELD, "ile mam do zapłaty?")
        await line.text(HELD, "STOP")
        await line.replies(HELD, 3)
        created = line.peer.created[0]
        await line.peer.status(created.sid, "delivered")
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [message for message in loud if "601000001" in message or "601 000" in message]


async def test_without_the_twilio_keys_the_routes_are_not_served(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await aiohttp_client(new_app(store))
    response = await client.post("/webhooks/twilio/sms", data={"Body": "pomoc"})
    assert response.status == 404
    assert (await (await client.get("/health")).json())["channels"]["sms"] == "off"
