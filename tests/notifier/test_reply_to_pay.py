"""Answering a reminder to pay, through the REST channel: "ZAPŁAĆ" within the reply window gets
the transfer details of exactly what the reminder listed, as it stands now; after paying, that
it is paid; outside the window, what is due as on any day."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.i18n import render
from kernel.settings import Settings
from storage.bindings import create_link_token
from storage.models import Obligation
from tests.bot.test_conversation import pay_link_said
from tests.conftest import Store
from tests.conversation_helpers import (
    ACCOUNT,
    NOW,
    TAXPAYER_REF,
    TODAY,
    Chat,
    ClientMaker,
    add_payment,
    add_resident,
)
from tests.notifier.reminder_helpers import consent, plan, refresh_ledger

OFFICE = "Urząd Miasta Ruda Śląska"


def _details(title: str, amount: str) -> str:
    values = {"recipient": OFFICE, "account": ACCOUNT, "title": title, "amount": Decimal(amount)}
    return render("utter_pay_details", "pl", values)


async def _reminded_resident(store: Store) -> int:
    """Anna Nowak, reminded today by SMS of what falls due in seven days: the May instalments
    (15 May 2027 is a Saturday, so both are due on Monday 17 May)."""
    taxpayer_id = await add_resident(store)
    await consent(store, taxpayer_id, NOW)
    planned = await plan(store, TODAY, NOW)
    assert [
        [item.ref for item in reminder.taxpayer.obligations] for reminder in planned.reminders
    ] == [["PT-2027-2", "WF-2027-2"]]
    return taxpayer_id


async def _pay(store: Store, taxpayer_id: int, ref: str, amount: str) -> None:
    """A transfer naming the obligation, booked today."""
    async with store.sessions() as session:
        paid = await session.scalar(sa.select(Obligation.id).where(Obligation.ref == ref))
        await add_payment(session, taxpayer_id, f"BANK-{ref}", TODAY, amount, paid)
        await session.commit()
    await refresh_ledger(store, taxpayer_id)


async def _chat(
    store: Store, aiohttp_client: ClientMaker, now: datetime = NOW, **reminders: object
) -> Chat:
    """The resident in the web chat, verified with a link token, on a server whose clock is
    `now` (and whose scheduler plans that day under the `reminders` keys given)."""
    settings = Settings.model_validate({"database": {"url": store.url}, "reminders": reminders})
    chat = Chat(await aiohttp_client(init_app(settings, clock=FrozenClock(now))))
    async with store.sessions() as session:
        issued = await create_link_token(session, TAXPAYER_REF, now, timedelta(minutes=30))
        await session.commit()
    await chat.say(f"/start {issued.token}")
    return chat


async def test_pay_after_a_reminder_pays_what_it_listed(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await _reminded_resident(store)
    chat = await _chat(store, aiohttp_client)
    # Without the reminder, "pay" would give what is late (the March instalment, the dog fee).
    details, link, note = await chat.texts("ZAPŁAĆ")
    assert details == _details(f"{TAXPAYER_REF} PT-2027-2 WF-2027-2", "1650.00")
    assert link == pay_link_said(link, "pl")
    assert note == render("utter_pay_due_note", "pl", {"due_date": "2027-05-17"})


async def test_a_reply_after_paying_part_or_all(store: Store, aiohttp_client: ClientMaker) -> None:
    taxpayer_id = await _reminded_resident(store)
    await _pay(store, taxpayer_id, "PT-2027-2", "1500.00")
    chat = await _chat(store, aiohttp_client)
    # The tax is paid since the reminder: only the waste fee is left of it.
    details, link, note = await chat.texts("zapłać")
    assert details == _details(f"{TAXPAYER_REF} WF-2027-2", "150.00")
    assert link == pay_link_said(link, "pl")
    assert note == render("utter_pay_due_note", "pl", {"due_date": "2027-05-17"})
    await _pay(store, taxpayer_id, "WF-2027-2", "150.00")
    await chat.verify_dialog(
        [("ZAPŁAĆ", [render("utter_pay_reminder_paid", "pl", {"date": TODAY.isoformat()})])]
    )


async def test_after_the_reply_window_pay_means_what_is_due(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await _reminded_resident(store)
    # The server plans 25 May on start (a week before 1 June: nothing of hers).
    later = NOW + timedelta(days=15)
    chat = await _chat(
        store, aiohttp_client, later, offsets_days=[-7], catch_up_days=0, start_delay_seconds=0
    )
    (details, *_) = await chat.texts("zapłać")
    # Everything due by 25 May, the late March instalment and the dog fee with them.
    title = details.split("Tytuł: ")[1].splitlines()[0]
    assert title == f"{TAXPAYER_REF} PT-2027-1 DOG-2027 PT-2027-2 WF-2027-2"


@pytest.mark.parametrize("word", ["PLAĆ", "PAY", "1", "СПЛАТИТИ"])
async def test_every_reply_word_pays_the_reminder(
    store: Store, aiohttp_client: ClientMaker, word: str
) -> None:
    await _reminded_resident(store)
    chat = await _chat(store, aiohttp_client)
    (details, *_) = await chat.texts(word)
    assert f"{TAXPAYER_REF} PT-2027-2 WF-2027-2" in details
