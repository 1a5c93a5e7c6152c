"""A reminder the carrier reports it could not deliver (Twilio's signed status callback
`undelivered` or `failed`, after the message was accepted) goes to the resident's next channel,
once: a repeated callback queues nothing more. Through the Twilio peer and the running app."""

from __future__ import annotations

import asyncio

import pytest

from tests.bot import test_sms_channel
from tests.bot.test_sms_channel import Line
from tests.conftest import Store
from tests.conversation_helpers import NOW, TODAY
from tests.notifier.reminder_content_helpers import (
    EMAIL,
    PHONE,
    REFS,
    TITLE,
    link_tokens,
    opened_refs,
    outbox_rows,
    reminded_resident,
)
from tests.notifier.reminder_helpers import plan

# The app on both engines, Twilio's peer posting signed callbacks to it.
line = test_sms_channel.line


async def _sent(line: Line, key: str) -> str:
    """The provider's id of the reminder, once the app's dispatcher has recorded it sent."""
    for _ in range(500):
        row = (await outbox_rows(line.store)).get(key)
        if row is not None and row.status == "sent" and row.provider_id:
            return str(row.provider_id)
        await asyncio.sleep(0.02)
    raise AssertionError("the reminder was not sent")


@pytest.mark.parametrize(("status", "code"), [("undelivered", 30003), ("failed", 30008)])
async def test_an_sms_reminder_the_carrier_did_not_deliver_goes_to_email_once(
    line: Line, store: Store, status: str, code: int
) -> None:
    taxpayer_id = await reminded_resident(store, ["sms", "email"])
    await plan(store, TODAY, NOW)
    key = f"reminder:{taxpayer_id}:2027-05-10:sms"
    sid = await _sent(line, key)
    assert len(line.peer.bodies_to(PHONE)) == 1
    for _ in range(2):  # Twilio repeats a callback it thinks was lost
        assert (await line.peer.status(sid, status, code)).status == 204
    rows = await outbox_rows(store)
    assert rows[key].status == "permanent-failure"
    assert rows[key].error == f"twilio: {status}, error {code}"
    copies = [row for row in rows.values() if "|fallback:" in row.key]
    assert [(row.key, row.channel, row.recipient) for row in copies] == [
        (f"{key}|fallback:email", "email", EMAIL)
    ]
    # Composed for e-mail: the transfer details and a payment link of its own.
    text = copies[0].content["text"]
    assert TITLE in text
    [token] = link_tokens(text)
    assert await opened_refs(store, token) == REFS


async def test_a_delivered_reminder_then_a_late_failure_queues_nothing(
    line: Line, store: Store
) -> None:
    taxpayer_id = await reminded_resident(store, ["sms", "email"])
    await plan(store, TODAY, NOW)
    key = f"reminder:{taxpayer_id}:2027-05-10:sms"
    sid = await _sent(line, key)
    assert (await line.peer.status(sid, "delivered")).status == 204
    assert (await line.peer.status(sid, "failed", 30008)).status == 204
    rows = await outbox_rows(store)
    assert rows[key].status == "delivered"
    assert [row.key for row in rows.values() if "|fallback:" in row.key] == []
