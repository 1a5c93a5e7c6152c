"""E-mail reminders and the copies of a reminder that could not be delivered, on both engines
through the SMTP and Telegram peers: an e-mail reminder has the transfer details and its own
payment link in both parts; a reminder to a chat that blocked the bot is composed again for the
next channel (SMS as `reminders.sms_content` allows, measured in segments; e-mail with a link),
with what was paid meanwhile left out, and nothing at all when all of it was."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kernel.clock import FrozenClock
from kernel.settings import OutboxSettings, Settings
from notifier.dispatcher import Dispatcher
from notifier.senders.email import EmailSender
from notifier.sms_segments import sms_text
from storage.models import Obligation
from tests.conftest import Store
from tests.conversation_helpers import NOW, TODAY, add_payment
from tests.notifier.conftest import FAST, TelegramLine
from tests.notifier.reminder_content_helpers import (
    CHAT,
    EMAIL,
    PHONE,
    REFS,
    TITLE,
    link_tokens,
    opened_refs,
    outbox_rows,
    reminded_resident,
    reminder_links,
)
from tests.notifier.reminder_helpers import plan, policy, refresh_ledger
from tests.peers.smtp import SmtpServer, part


async def _dispatch(
    store: Store, email: EmailSender, telegram: TelegramLine, sms_content: str = "no_amount"
) -> None:
    await Dispatcher(
        store.sessions,
        {"email": email, "telegram": telegram.sender},
        FrozenClock(NOW),
        OutboxSettings(**FAST),
        jitter=lambda: 1.0,
        reminders=policy(sms_content=sms_content),
    ).run_until_idle()


async def test_an_email_reminder_has_the_transfer_and_its_payment_link_in_both_parts(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await reminded_resident(store, ["email"])
    await plan(store, TODAY, NOW)
    await plan(store, TODAY, NOW)
    await _dispatch(store, email_sender, telegram)
    [letter] = smtp.peer.messages_to(EMAIL)
    text, html = part(letter, "plain"), part(letter, "html")
    [token] = link_tokens(text)
    assert await opened_refs(store, token) == REFS
    assert await reminder_links(store) == {f"reminder:{taxpayer_id}:2027-05-10:email": 1}
    url = f"http://127.0.0.1:8080/pay/{token}"
    assert TITLE in text
    assert TITLE in html
    assert "22 1050 1214 1000 0000 1234 5678" in text
    assert url in text
    assert f'<a href="{url}">{url}</a>' in html
    assert "ZAPŁAĆ" not in text  # nobody reads replies to an e-mail: the link instead


@pytest.mark.parametrize("content", ["full", "no_amount", "minimal"])
async def test_a_reminder_to_a_blocked_chat_goes_to_sms_as_the_sms_policy_allows(
    store: Store,
    smtp: SmtpServer,
    email_sender: EmailSender,
    telegram: TelegramLine,
    content: str,
) -> None:
    taxpayer_id = await reminded_resident(store, ["telegram", "sms"])
    telegram.peer.blocked_chats.add(CHAT)
    await plan(store, TODAY, NOW, policy(sms_content=content))
    await _dispatch(store, email_sender, telegram, sms_content=content)
    root = f"reminder:{taxpayer_id}:2027-05-10:telegram"
    rows = await outbox_rows(store)
    assert rows[root].status == "permanent-failure"
    copy = rows[f"{root}|fallback:sms"]
    assert (copy.channel, copy.recipient, copy.category) == ("sms", PHONE, "reminder")
    text = copy.content["text"]
    assert copy.content["buttons"] == []  # no Telegram button in an SMS
    assert "T-1001" not in text  # no transfer details in an SMS
    assert ("zł" in text) == (content == "full")
    tokens = link_tokens(text)
    if content == "full":
        assert [await opened_refs(store, token) for token in tokens] == [REFS]
    else:
        assert tokens == []
    if content == "minimal":
        assert "17 maja" not in text
    # Counted in segments like any SMS.
    settings = Settings()
    measured = sms_text(text, [], "pl", settings.sms, settings.web.public_base_url)
    assert (copy.sms_segments, copy.sms_encoding) == (measured.segments, "gsm7")


async def test_a_reminder_to_a_blocked_chat_goes_to_email_with_a_link_of_its_own(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await reminded_resident(store, ["telegram", "email"])
    telegram.peer.blocked_chats.add(CHAT)
    await plan(store, TODAY, NOW)
    await _dispatch(store, email_sender, telegram)
    [letter] = smtp.peer.messages_to(EMAIL)
    text, html = part(letter, "plain"), part(letter, "html")
    [token] = link_tokens(text)
    assert await opened_refs(store, token) == REFS
    assert TITLE in text
    assert f'href="http://127.0.0.1:8080/pay/{token}"' in html
    key = f"reminder:{taxpayer_id}:2027-05-10:telegram|fallback:email"
    assert await reminder_links(store) == {key: 1}
    # Its dispatcher recording the failure again queues no second copy.
    await _dispatch(store, email_sender, telegram)
    assert len(smtp.peer.messages_to(EMAIL)) == 1


async def _pay(store: Store, taxpayer_id: int, ref: str, amount: str) -> None:
    async with store.sessions() as session:
        paid = await session.scalar(sa.select(Obligation.id).where(Obligation.ref == ref))
        await add_payment(session, taxpayer_id, f"BANK-{ref}", TODAY, amount, paid)
        await session.commit()
    await refresh_ledger(store, taxpayer_id)


async def test_a_copy_leaves_out_what_was_paid_since_the_reminder(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await reminded_resident(store, ["telegram", "email"])
    telegram.peer.blocked_chats.add(CHAT)
    await plan(store, TODAY, NOW)
    await _pay(store, taxpayer_id, "PT-2027-2", "1500.00")
    await _dispatch(store, email_sender, telegram)
    [letter] = smtp.peer.messages_to(EMAIL)
    text = part(letter, "plain")
    assert "T-1001 WF-2027-2" in text
    assert "PT-2027-2" not in text
    [token] = link_tokens(text)
    assert await opened_refs(store, token) == ("WF-2027-2",)


async def test_no_copy_when_all_of_the_reminder_was_paid_since(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await reminded_resident(store, ["telegram", "email"])
    telegram.peer.blocked_chats.add(CHAT)
    await plan(store, TODAY, NOW)
    await _pay(store, taxpayer_id, "PT-2027-2", "1500.00")
    await _pay(store, taxpayer_id, "WF-2027-2", "150.00")
    await _dispatch(store, email_sender, telegram)
    assert smtp.peer.messages_to(EMAIL) == []
    assert [key for key in await outbox_rows(store) if "|fallback:" in key] == []
