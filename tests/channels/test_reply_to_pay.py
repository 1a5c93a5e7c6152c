"""Answering a reminder to pay, end to end through the providers' peers: the planner queues a
reminder, the dispatcher sends it to the Twilio (or Telegram) peer, the resident answers it there
("ZAPŁAĆ" by SMS, signed as Twilio signs; the "Zapłać" button pressed in Telegram), and the payment
link with the transfer details of exactly that reminder's obligations, as they stand now, comes
back through the outbox and the dispatcher to the peer.

Anna Nowak (T-1001) is reminded on Monday 10 May 2027 of the May instalments, both due on Monday
17 May (15 May is a Saturday): the property tax PT-2027-2 (1 500 zł) and the waste fee WF-2027-2
(150 zł). Her March instalment and the dog fee are late, which a "pay" without a reminder would
ask for instead.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.i18n import render
from kernel.settings import Settings
from notifier.fallback import fallback_key
from notifier.sms_segments import sms_text
from storage.models import Contact, Obligation, Taxpayer
from storage.outbox import Category, NewMessage, enqueue
from storage.payment_links import open_payment_link
from storage.payment_models import PaymentLink
from storage.preferences import record_consent
from tests.channels.conftest import ClientMaker, Line, start_app
from tests.conftest import Store
from tests.conversation_helpers import (
    ACCOUNT,
    NOW,
    TAXPAYER_REF,
    TODAY,
    add_payment,
    add_resident,
    link_token,
)
from tests.notifier.reminder_helpers import PHONE, consent, plan, refresh_ledger
from tests.peers.telegram import SentMessage
from tests.peers.twilio import TwilioPeer

ACCOUNT_SID = "AC" + "0" * 31 + "8"
AUTH_TOKEN = "twilio-auth-token-for-reply-to-pay"
CITY_NUMBER = "+48732100200"
PUBLIC = "https://sms.gmina.example"
OFFICE = "Urząd Miasta Ruda Śląska"
REMINDED = ("PT-2027-2", "WF-2027-2")
LATE = ("PT-2027-1", "DOG-2027")
TOKEN = re.compile(r"/pay/([A-Za-z0-9_-]{43})")
CHAT = 5550077
WAIT = 20


def _details(language: str, refs: tuple[str, ...], amount: str) -> str:
    values = {
        "recipient": OFFICE,
        "account": ACCOUNT,
        "title": " ".join((TAXPAYER_REF, *refs)),
        "amount": Decimal(amount),
    }
    return render("utter_pay_details", language, values)


def _due_note(language: str) -> str:
    return render("utter_pay_due_note", language, {"due_date": "2027-05-17"})


async def _language(store: Store, taxpayer_id: int, language: str) -> None:
    async with store.sessions() as session:
        await session.execute(
            sa.update(Taxpayer).where(Taxpayer.id == taxpayer_id).values(language=language)
        )
        await session.commit()


async def _pay(store: Store, taxpayer_id: int, ref: str, amount: str) -> None:
    """A transfer naming the obligation, booked today."""
    async with store.sessions() as session:
        paid = await session.scalar(sa.select(Obligation.id).where(Obligation.ref == ref))
        await add_payment(session, taxpayer_id, f"BANK-{ref}", TODAY, amount, paid)
        await session.commit()
    await refresh_ledger(store, taxpayer_id)


async def _linked_refs(store: Store, text: str) -> tuple[str, ...]:
    """The obligations the payment link in `text` pays."""
    found = TOKEN.search(text)
    assert found is not None, text
    async with store.sessions() as session:
        link = await open_payment_link(session, found.group(1), NOW)
    assert link is not None
    return link.obligation_refs


async def _links(store: Store) -> int:
    async with store.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(PaymentLink)) or 0)


# --- SMS ------------------------------------------------------------------------------------------


@dataclass
class Phone:
    """Anna's phone, talking to the city through the Twilio peer."""

    peer: TwilioPeer
    settings: Settings
    clock: FrozenClock

    async def text(self, body: str, sid: str | None = None) -> None:
        answer = await self.peer.inbound(
            f"{PUBLIC}/webhooks/twilio/sms", PHONE, CITY_NUMBER, body, sid
        )
        assert answer.status == 200, answer.body

    async def received(self, count: int) -> list[str]:
        """The SMS that reached the phone, once there are `count`; then no more come."""
        for _ in range(WAIT * 50):
            if len(self.peer.bodies_to(PHONE)) >= count:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a stray extra message would arrive meanwhile
        bodies = self.peer.bodies_to(PHONE)
        assert len(bodies) == count, bodies
        return bodies

    def sms(self, text: str, language: str) -> str:
        """A reply as the SMS channel words it."""
        return sms_text(text, [], language, self.settings.sms, PUBLIC).text


@pytest.fixture
async def phone(
    store: Store,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> AsyncIterator[Phone]:
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
            "outbox": {"idle_poll_seconds": 0.05},
            # The server plans nothing itself: the tests plan 10 May.
            "reminders": {"catch_up_days": 0, "start_delay_seconds": 3600},
        }
    )
    clock = FrozenClock(NOW)
    client = await aiohttp_client(init_app(settings, clock=clock))
    peer.proxy = (PUBLIC, str(client.make_url("")).rstrip("/"))
    yield Phone(peer, settings, clock)
    await peer.close()


async def _reminded_by_sms(store: Store, phone: Phone, language: str = "pl") -> int:
    """Anna, her phone on record with consent, gets today's SMS reminder."""
    taxpayer_id = await add_resident(store, language=language)
    await consent(store, taxpayer_id, NOW)
    planned = await plan(store, TODAY, NOW)
    assert [r.message.channel for r in planned.reminders] == ["sms"]
    [reminder] = await phone.received(1)
    assert reminder.startswith(phone.sms(planned.reminders[0].message.text, language)[:20])
    return taxpayer_id


@pytest.mark.parametrize(
    ("word", "language"),
    [("ZAPŁAĆ", "pl"), ("zaplac!", "pl"), ("Płać", "pl"), ("PAY", "en"), ("сплатити", "uk"),
     ("1", "uk")],
)  # fmt: skip
async def test_an_sms_reply_to_a_reminder_gets_the_link_to_what_it_listed(
    store: Store, phone: Phone, word: str, language: str
) -> None:
    await _reminded_by_sms(store, phone, language)
    await phone.text(word)
    _, details, link, note = await phone.received(4)
    assert details == phone.sms(_details(language, REMINDED, "1650.00"), language)
    assert await _linked_refs(store, link) == REMINDED
    assert link.startswith(phone.sms(render("utter_pay_link", language, {
        "url": "", "until_date": "2027-05-24"})[:12], language))  # fmt: skip
    assert note == phone.sms(_due_note(language), language)


async def test_a_reply_to_the_sms_copy_of_a_telegram_reminder_pays_what_it_listed(
    store: Store, phone: Phone
) -> None:
    """The Telegram reminder failed for good; the notifier's copy by SMS is answered."""
    taxpayer_id = await add_resident(store)
    await consent(store, taxpayer_id, NOW)
    async with store.sessions() as session:
        session.add(Contact(taxpayer_id=taxpayer_id, kind="telegram", value="700", source="chat"))
        await record_consent(session, taxpayer_id, "telegram", "700", "chat", NOW, first=True)
        await session.commit()
    [planned] = (await plan(store, TODAY, NOW)).reminders
    assert planned.message.channel == "telegram"
    async with store.sessions() as session:
        copy = NewMessage(
            fallback_key(planned.message.key, "sms"),
            "sms",
            PHONE,
            Category.REMINDER,
            "Przypomnienie. Odpisz ZAPŁAĆ.",
            taxpayer_id=taxpayer_id,
        )
        await enqueue(session, [copy], NOW)
        await session.commit()
    await phone.received(1)
    await phone.text("Zapłać")
    _, details, link, _ = await phone.received(4)
    assert details == phone.sms(_details("pl", REMINDED, "1650.00"), "pl")
    assert await _linked_refs(store, link) == REMINDED


async def test_a_redelivered_sms_reply_hands_out_one_answer(store: Store, phone: Phone) -> None:
    await _reminded_by_sms(store, phone)
    sid = "SM" + "ab" * 16
    await phone.text("ZAPŁAĆ", sid)
    await phone.received(4)
    # Twilio did not hear our 200 and posts the same message again.
    await phone.text("ZAPŁAĆ", sid)
    await phone.received(4)
    assert await _links(store) == 1


async def test_an_sms_reply_after_paying_part_then_all(store: Store, phone: Phone) -> None:
    taxpayer_id = await _reminded_by_sms(store, phone)
    await _pay(store, taxpayer_id, "PT-2027-2", "1500.00")
    await phone.text("zapłać")
    _, details, link, _ = await phone.received(4)
    # Only the waste fee is left of what the reminder listed; the late March tax is not asked.
    assert details == phone.sms(_details("pl", ("WF-2027-2",), "150.00"), "pl")
    assert await _linked_refs(store, link) == ("WF-2027-2",)
    await _pay(store, taxpayer_id, "WF-2027-2", "150.00")
    await phone.text("ZAPŁAĆ")
    *_, paid = await phone.received(5)
    said = render("utter_pay_reminder_paid", "pl", {"date": TODAY.isoformat()})
    assert paid == phone.sms(said, "pl")


async def test_an_sms_reply_outside_the_window_is_an_ordinary_pay(
    store: Store, phone: Phone
) -> None:
    await _reminded_by_sms(store, phone)
    # 15 days on (reminders.reply_window_days: 14), "PAY" asks for what is due that day.
    phone.clock.advance(timedelta(days=15))
    await phone.text("PAY")
    bodies = await phone.received(4)
    refs = await _linked_refs(store, next(body for body in bodies if "/pay/" in body))
    assert set(refs) == {*LATE, *REMINDED}


async def test_a_number_never_reminded_gets_the_ordinary_conversation(
    store: Store, phone: Phone
) -> None:
    taxpayer_id = await add_resident(store)
    async with store.sessions() as session:
        session.add(Contact(taxpayer_id=taxpayer_id, kind="phone", value=PHONE, source="import"))
        await session.commit()
    await phone.text("ZAPŁAĆ")
    bodies = await phone.received(3)  # details, link, a note on the interest
    # What is late today, not the May instalments.
    assert await _linked_refs(store, next(body for body in bodies if "/pay/" in body)) == LATE


async def test_choices_offered_after_the_reminder_take_the_number(
    store: Store, phone: Phone
) -> None:
    await _reminded_by_sms(store, phone)
    phone.clock.advance(timedelta(minutes=5))
    await phone.text("pomóż mi")  # the help answer offers numbered choices
    [_, help_answer] = await phone.received(2)
    assert "1" in help_answer
    await phone.text("1")
    # The first choice, the balance (and how much of it is late), not the reminder's link.
    *_, balance, late = await phone.received(4)
    assert balance.startswith(phone.sms("Twoje należności na 10 maja 2027:", "pl"))
    assert "/pay/" not in balance + late


# --- Telegram -------------------------------------------------------------------------------------


async def _reminded_on_telegram(
    store: Store,
    line: Line,
    aiohttp_client: ClientMaker,
    language: str,
    clock: FrozenClock | None = None,
) -> tuple[int, SentMessage]:
    """Anna binds her chat, consents to reminders there, and gets today's reminder with its
    "Zapłać" button."""
    taxpayer_id = await add_resident(store, language=language)
    token = await link_token(store)
    await start_app(store, line, aiohttp_client, clock=clock)
    assert await line.deliver(line.peer.text_update(CHAT, f"/start {token}")) == 200
    async with asyncio.timeout(WAIT):
        await line.peer.wait_for_messages(CHAT, 1)
    async with store.sessions() as session:
        await record_consent(session, taxpayer_id, "telegram", str(CHAT), "chat", NOW, first=True)
        await session.commit()
    planned = await plan(store, TODAY, NOW)
    assert [r.message.channel for r in planned.reminders] == ["telegram"]
    async with asyncio.timeout(WAIT):
        reminder = (await line.peer.wait_for_messages(CHAT, 2))[1]
    assert [b["text"] for b in reminder.buttons] == [render("label_pay_button", language)]
    return taxpayer_id, reminder


async def _answers(line: Line, count: int) -> list[str]:
    async with asyncio.timeout(WAIT):
        sent = await line.peer.wait_for_messages(CHAT, count)
    await asyncio.sleep(0.2)
    assert len(line.peer.messages_to(CHAT)) == count
    return [html.unescape(message.text) for message in sent]


@pytest.mark.parametrize("language", ["pl", "en", "uk"])
async def test_the_button_under_a_telegram_reminder_gets_the_link_once(
    store: Store, line: Line, aiohttp_client: ClientMaker, language: str
) -> None:
    await _reminded_on_telegram(store, line, aiohttp_client, language)
    reminder = line.peer.messages_to(CHAT)[1]
    press = line.peer.button_update(reminder, 0, language_code=language)
    assert await line.deliver(press) == 200
    *_, details, link, note = await _answers(line, 5)
    assert details == _details(language, REMINDED, "1650.00")
    assert await _linked_refs(store, link) == REMINDED
    assert note == _due_note(language)
    assert line.peer.keyboards_removed == [(CHAT, reminder.message_id)]
    # The same update again (Telegram did not hear our 200): one answer, one link.
    assert await line.deliver(press) == 200
    await _answers(line, 5)
    assert await _links(store) == 1


async def test_the_button_after_the_reminder_was_paid_says_so(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    taxpayer_id, reminder = await _reminded_on_telegram(store, line, aiohttp_client, "pl")
    await _pay(store, taxpayer_id, "PT-2027-2", "1500.00")
    await _pay(store, taxpayer_id, "WF-2027-2", "150.00")
    assert await line.deliver(line.peer.button_update(reminder, 0)) == 200
    *_, paid = await _answers(line, 3)
    assert paid == render("utter_pay_reminder_paid", "pl", {"date": TODAY.isoformat()})


async def test_the_button_after_the_reply_window_is_an_ordinary_pay(
    store: Store, line: Line, aiohttp_client: ClientMaker
) -> None:
    clock = FrozenClock(NOW)
    _, reminder = await _reminded_on_telegram(store, line, aiohttp_client, "pl", clock)
    clock.advance(timedelta(days=15))
    assert await line.deliver(line.peer.button_update(reminder, 0)) == 200
    # Several transfers (the late ones apart), the link, and the note on interest last.
    note = render("utter_pay_overdue_note", "pl", {"date": "2027-05-25"})
    async with asyncio.timeout(WAIT):
        while html.unescape(line.peer.messages_to(CHAT)[-1].text) != note:
            await line.peer.wait_for_messages(CHAT, len(line.peer.messages_to(CHAT)) + 1)
    answers = [html.unescape(message.text) for message in line.peer.messages_to(CHAT)]
    link = next(text for text in answers[2:] if "/pay/" in text)
    # What is due on 25 May, the late March instalment and the dog fee with the reminded ones.
    assert set(await _linked_refs(store, link)) == {*LATE, *REMINDED}
