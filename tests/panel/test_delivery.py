"""Delivery in the panel, on both engines: counts over Warsaw days with filters from the query
string, failures with reasons and masked recipients (never the text), reminder runs per day."""

from __future__ import annotations

from datetime import timedelta

from storage.outbox import (
    Category,
    NewMessage,
    Outcome,
    Status,
    claim_due,
    enqueue,
    record_outcomes,
)
from storage.reminder_plan import Coverage, mark_planned, record_coverage
from storage.staff import Role
from tests.conftest import Store
from tests.panel.conftest import NOW, Panel
from tests.storage.test_balances import add_taxpayer

PHONE = "+48600123456"
ENGLISH = {"Accept-Language": "en"}
SECRET_TEXT = "Zaległość 1 234,56 zł za podatek od nieruchomości"


async def _outbox(store: Store) -> None:
    """Today: two SMS reminders (one refused by the carrier), a Telegram reply; a week ago one
    more SMS; and today's reminder run."""
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, "T1")
        messages = [
            NewMessage(
                "rem-1", "sms", PHONE, Category.REMINDER, SECRET_TEXT, taxpayer_id=taxpayer_id
            ),
            NewMessage("rem-2", "sms", "+48600999888", Category.REMINDER, "x"),
            NewMessage("chat-1", "telegram", "4242", Category.CHAT_REPLY, "x"),
        ]
        await enqueue(session, messages, NOW)
        await enqueue(session, [NewMessage("old-1", "sms", "+48600000001", Category.REMINDER, "x")],
                      NOW - timedelta(days=8))  # fmt: skip
        await record_coverage(
            session,
            [Coverage("rem-1", taxpayer_id, "sms", PHONE, NOW.date(), [1]),
             Coverage("rem-2", taxpayer_id, "sms", "+48600999888", NOW.date(), [1])],
            NOW,
        )  # fmt: skip
        await mark_planned(session, NOW.date(), NOW)
        claimed = await claim_due(session, ["sms", "telegram"], NOW, timedelta(minutes=1), 10)
        await record_outcomes(
            session,
            [
                Outcome(m.id, Status.PERMANENT_FAILURE, error="21610 unsubscribed recipient")
                if m.key == "rem-1"
                else Outcome(m.id, Status.SENT)
                for m in claimed
            ],
            NOW,
        )
        await session.commit()


async def test_counts_over_the_default_week_and_filtered(panel: Panel) -> None:
    await _outbox(panel.store)
    clerk = await panel.login("olek", Role.CLERK)
    page = await clerk.get("/panel/delivery", headers=ENGLISH)
    html = await page.text()
    assert page.status == 200
    assert "permanent-failure" in html
    assert "chat_reply" in html
    # The week ending today: three messages, not the one of eight days ago.
    assert "3 messages queued from 4 May 2027 to 10 May 2027." in html
    sms = await (
        await clerk.get("/panel/delivery?channel=sms&from=2027-05-01&to=2027-05-10")
    ).text()
    assert "telegram</th>" not in sms
    assert 'value="sms" selected' in sms
    for bad in ("?from=10.05.2027", "?channel=pigeon", "?from=2027-05-10&to=2027-05-01",
                "?from=2026-01-01&to=2027-05-10"):  # fmt: skip
        assert (await clerk.get("/panel/delivery" + bad)).status == 400, bad
    refused = await clerk.get("/panel/delivery/failures?channel=pigeon", headers=ENGLISH)
    assert "Unknown channel: pigeon." in await refused.text()
    assert (await clerk.get("/panel/delivery/failures?before=x")).status == 400
    # Counts show nobody's data: no view is audited.
    assert await panel.audit_rows(action_prefix="panel.view.") == []


async def test_failures_show_reasons_and_masked_recipients_only(panel: Panel) -> None:
    await _outbox(panel.store)
    clerk = await panel.login("olek", Role.CLERK)
    page = await clerk.get("/panel/delivery/failures")
    html = await page.text()
    assert page.status == 200
    assert "21610 unsubscribed recipient" in html
    assert "***456" in html
    assert PHONE not in html
    assert "1 234,56" not in html
    assert "Zaległość" not in html
    assert "+48600999888" not in html  # sent, not failed
    none = await (await clerk.get("/panel/delivery/failures?channel=telegram")).text()
    assert "21610" not in none


async def test_reminder_runs_per_day_with_their_counts(panel: Panel) -> None:
    await _outbox(panel.store)
    clerk = await panel.login("olek", Role.CLERK)
    page = await clerk.get("/panel/delivery/reminders")
    html = await page.text()
    assert page.status == 200
    assert "permanent-failure" in html
    assert "sent" in html
    assert "10 maja 2027" in html  # Polish, the default
