"""A notice that fails for good goes to the resident's next consented channel, once: a bounced
e-mail to Telegram, a blocked bot to e-mail, on through the resident's order; chat replies
never move."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from kernel.clock import WARSAW, Clock, FrozenClock, SystemClock
from kernel.settings import OutboxSettings
from notifier.dispatcher import Dispatcher
from notifier.fallback import queue_fallbacks
from notifier.senders.email import EmailSender
from storage.models import Contact
from storage.outbox import Category, NewMessage, Outcome, Status, enqueue, is_unreachable
from storage.outbox_models import OutboxMessage
from storage.preferences import record_consent
from tests.conftest import Store
from tests.notifier.conftest import FAST, TelegramLine
from tests.notifier.reminder_helpers import policy
from tests.peers.smtp import SmtpServer, part
from tests.resident_helpers import add_taxpayer

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
EMAIL = "anna.nowak@example.org"
PHONE = "+48601234567"
CHAT = 700100200
TEXT = "Przypominamy o racie podatku od nieruchomości do 15 marca 2027."


async def _resident(store: Store, order: list[str]) -> int:
    """A taxpayer who agreed to the channels of `order`, in that order."""
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session)
        await session.execute(
            sa.insert(Contact).values(
                taxpayer_id=taxpayer_id, kind="telegram", value=str(CHAT), source="chat"
            )
        )
        addresses = {"email": EMAIL, "telegram": str(CHAT), "sms": PHONE}
        for channel in reversed(order):
            await record_consent(
                session, taxpayer_id, channel, addresses[channel], "import", NOW, first=True
            )
        await session.commit()
    return taxpayer_id


async def _queue(
    store: Store,
    taxpayer_id: int,
    channel: str,
    recipient: str,
    category: Category = Category.REMINDER,
    key: str = "reminder:anna:2027-03-08",
    now: datetime | None = None,
) -> None:
    async with store.sessions() as session:
        message = NewMessage(key, channel, recipient, category, TEXT, taxpayer_id=taxpayer_id)
        await enqueue(session, [message], now or SystemClock().now())
        await session.commit()


async def _rows(store: Store) -> dict[str, tuple[str, str, str]]:
    async with store.sessions() as session:
        result = await session.execute(
            sa.select(
                OutboxMessage.key,
                OutboxMessage.channel,
                OutboxMessage.recipient,
                OutboxMessage.status,
            )
        )
    return {key: (channel, recipient, status) for key, channel, recipient, status in result}


def _dispatcher(
    store: Store,
    email: EmailSender,
    telegram: TelegramLine,
    clock: Clock | None = None,
    quiet_hours: str | None = None,
) -> Dispatcher:
    return Dispatcher(
        store.sessions,
        {"email": email, "telegram": telegram.sender},
        clock or SystemClock(),
        OutboxSettings(**FAST),
        jitter=lambda: 1.0,
        reminders=policy(quiet_hours=quiet_hours),
    )


async def test_a_bounced_email_reminder_goes_to_telegram(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await _resident(store, ["email", "telegram"])
    smtp.peer.unknown_mailboxes.add(EMAIL)
    await _queue(store, taxpayer_id, "email", EMAIL)
    await _dispatcher(store, email_sender, telegram).run_until_idle(wait_for_retries=True)

    assert telegram.peer.texts_to(CHAT) == [TEXT]
    assert await _rows(store) == {
        "reminder:anna:2027-03-08": ("email", EMAIL, "permanent-failure"),
        "reminder:anna:2027-03-08|fallback:telegram": ("telegram", str(CHAT), "sent"),
    }
    async with store.sessions() as session:
        assert await is_unreachable(session, "email", EMAIL)


async def test_a_5xx_that_is_no_bounce_falls_back_too(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await _resident(store, ["email", "telegram"])
    smtp.peer.data_answers.append("554 5.6.0 Message content rejected")
    await _queue(store, taxpayer_id, "email", EMAIL, Category.ANNOUNCEMENT, key="news:1")
    await _dispatcher(store, email_sender, telegram).run_until_idle(wait_for_retries=True)
    assert telegram.peer.texts_to(CHAT) == [TEXT]
    assert (await _rows(store))["news:1|fallback:telegram"][2] == "sent"


async def test_a_blocked_bot_sends_the_reminder_by_email_once(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await _resident(store, ["telegram", "email"])
    telegram.peer.blocked_chats.add(CHAT)
    await _queue(store, taxpayer_id, "telegram", str(CHAT))
    await _dispatcher(store, email_sender, telegram).run_until_idle(wait_for_retries=True)

    [letter] = smtp.peer.messages_to(EMAIL)
    assert TEXT in part(letter, "plain")
    assert (await _rows(store))["reminder:anna:2027-03-08|fallback:email"][2] == "sent"

    # The same outcome recorded again (a dispatcher that took the claim over) queues nothing.
    async with store.sessions() as session:
        original = await session.scalar(
            sa.select(OutboxMessage.id).where(OutboxMessage.key == "reminder:anna:2027-03-08")
        )
        assert original is not None
        again = Outcome(original, Status.PERMANENT_FAILURE, error="blocked")
        assert await queue_fallbacks(session, [again], NOW, policy()) == 0
        await session.commit()
    assert len(await _rows(store)) == 2


async def test_a_case_notice_to_a_blocked_bot_goes_by_email(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await _resident(store, ["telegram", "email"])
    telegram.peer.blocked_chats.add(CHAT)
    await _queue(store, taxpayer_id, "telegram", str(CHAT), Category.CASE_UPDATE, key="case-move:7")
    await _dispatcher(store, email_sender, telegram).run_until_idle(wait_for_retries=True)

    [letter] = smtp.peer.messages_to(EMAIL)
    assert TEXT in part(letter, "plain")
    assert await _rows(store) == {
        "case-move:7": ("telegram", str(CHAT), "permanent-failure"),
        "case-move:7|fallback:email": ("email", EMAIL, "sent"),
    }


async def test_a_failing_fallback_moves_on_and_never_back(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await _resident(store, ["email", "telegram", "sms"])
    smtp.peer.unknown_mailboxes.add(EMAIL)
    telegram.peer.blocked_chats.add(CHAT)
    await _queue(store, taxpayer_id, "email", EMAIL)
    await _dispatcher(store, email_sender, telegram).run_until_idle(wait_for_retries=True)
    # No SMS sender here: the SMS copy waits in the outbox for the channel to be configured.
    assert await _rows(store) == {
        "reminder:anna:2027-03-08": ("email", EMAIL, "permanent-failure"),
        "reminder:anna:2027-03-08|fallback:telegram": ("telegram", str(CHAT), "permanent-failure"),
        "reminder:anna:2027-03-08|fallback:sms": ("sms", PHONE, "created"),
    }


async def test_chat_replies_and_residents_without_another_channel_do_not_fall_back(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await _resident(store, ["telegram", "email"])
    telegram.peer.blocked_chats.add(CHAT)
    await _queue(store, taxpayer_id, "telegram", str(CHAT), Category.CHAT_REPLY, key="reply:1")
    async with store.sessions() as session:
        other = await add_taxpayer(session, "T-0002", pesel=None, nip="5260250274")
        await record_consent(session, other, "email", "only@example.org", "import", NOW)
        await session.commit()
    smtp.peer.unknown_mailboxes.add("only@example.org")
    await _queue(store, other, "email", "only@example.org", key="reminder:other")
    await _dispatcher(store, email_sender, telegram).run_until_idle(wait_for_retries=True)
    assert await _rows(store) == {
        "reply:1": ("telegram", str(CHAT), "permanent-failure"),
        "reminder:other": ("email", "only@example.org", "permanent-failure"),
    }
    assert smtp.peer.received == []


async def test_a_copy_moved_to_telegram_at_night_waits_for_the_quiet_hours_to_end(
    store: Store, smtp: SmtpServer, email_sender: EmailSender, telegram: TelegramLine
) -> None:
    taxpayer_id = await _resident(store, ["email", "telegram"])
    smtp.peer.unknown_mailboxes.add(EMAIL)
    night = FrozenClock(datetime(2027, 3, 8, 23, 30, tzinfo=WARSAW))
    await _queue(store, taxpayer_id, "email", EMAIL, now=night.now())
    run = _dispatcher(store, email_sender, telegram, night, quiet_hours="20:00-08:00")
    await run.run_until_idle()
    assert telegram.peer.sent == []
    async with store.sessions() as session:
        held = (
            await session.execute(
                sa.select(OutboxMessage.status, OutboxMessage.not_before).where(
                    OutboxMessage.key == "reminder:anna:2027-03-08|fallback:telegram"
                )
            )
        ).one()
    assert held.status == "created"
    assert held.not_before == datetime(2027, 3, 9, 8, 0, tzinfo=WARSAW)

    # At eight it goes.
    night.advance(held.not_before - night.now())
    await run.run_until_idle()
    assert telegram.peer.texts_to(CHAT) == [TEXT]
