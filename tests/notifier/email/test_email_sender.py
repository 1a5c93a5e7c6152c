"""The e-mail sender against a real SMTP server (aiosmtpd on loopback, STARTTLS with a test CA,
AUTH): what a resident receives, and what becomes of a message the relay refuses."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from kernel.clock import SystemClock
from kernel.settings import OutboxSettings
from notifier.dispatcher import Dispatcher
from notifier.email_content import message_id
from notifier.senders.email import EmailSender, build_email_sender
from storage.outbox import Category, NewMessage, enqueue, is_unreachable
from tests.conftest import Store
from tests.notifier.conftest import FAST, outbox_row
from tests.notifier.email.conftest import FROM, PUBLIC, email_settings
from tests.peers.smtp import PASSWORD, USERNAME, SmtpServer, part, start_smtp

RESIDENT = "jan.kowalski@example.com"
REMINDER = (
    "Przypominamy o racie podatku od nieruchomości: 1 234,56 zł do 15 marca 2027.\n"
    "Konto: 22 1050 1214 1000 0000 1234 5678\n\n"
    "Jeśli już zapłaciłeś, <zignoruj> tę wiadomość & dziękujemy."
)


def dispatcher(store: Store, sender: EmailSender) -> Dispatcher:
    return Dispatcher(
        store.sessions, {"email": sender}, SystemClock(), OutboxSettings(**FAST), jitter=lambda: 1.0
    )


async def queue(
    store: Store,
    key: str,
    category: Category = Category.REMINDER,
    *,
    language: str = "pl",
    recipient: str = RESIDENT,
    text: str = REMINDER,
) -> None:
    async with store.sessions() as session:
        message = NewMessage(key, "email", recipient, category, text, language=language)
        await enqueue(session, [message], SystemClock().now())
        await session.commit()


async def test_a_reminder_arrives_over_starttls_with_both_parts_in_polish(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    await queue(store, "reminder:17:2027-03-08:email")
    assert await dispatcher(store, email_sender).run_until_idle() == 1

    [received] = smtp.peer.received
    assert (received.mail_from, received.rcpt_tos) == (FROM, [RESIDENT])
    assert received.login == USERNAME
    assert received.encrypted
    letter = received.message()
    assert letter["To"] == RESIDENT
    assert letter["From"].addresses[0].addr_spec == FROM
    assert letter["From"].addresses[0].display_name == "Urząd Miasta Ruda Śląska"
    assert letter["Subject"] == "Przypomnienie o płatności – Urząd Miasta Ruda Śląska"
    assert letter["Content-Language"] == "pl"
    assert letter["Auto-Submitted"] == "auto-generated"
    expected_id = message_id("reminder:17:2027-03-08:email", "rudaslaska.example")
    assert letter["Message-ID"] == expected_id
    assert letter.get_content_type() == "multipart/alternative"

    text = part(letter, "plain")
    assert text.startswith("Dzień dobry,\n\nPrzypominamy o racie podatku od nieruchomości")
    assert "Jeśli już zapłaciłeś, <zignoruj> tę wiadomość & dziękujemy." in text
    assert "Z poważaniem\nUrząd Miasta Ruda Śląska" in text
    page = part(letter, "html")
    assert '<html lang="pl">' in page
    # What the row carries is text, never markup: escaped, its lines kept.
    assert "&lt;zignoruj&gt; tę wiadomość &amp; dziękujemy" in page
    assert "1 234,56 zł do 15 marca 2027.<br>Konto: 22 1050" in page

    status, attempts, provider_id, _ = await outbox_row(store, "reminder:17:2027-03-08:email")
    assert (status, attempts, provider_id) == ("sent", 1, expected_id)


async def test_a_reminder_offers_one_click_unsubscribe(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    await queue(store, "reminder:17:2027-03-08:email")
    await dispatcher(store, email_sender).run_until_idle()
    letter = smtp.peer.received[0].message()
    link = letter["List-Unsubscribe"]
    assert link.startswith(f"<{PUBLIC}/unsubscribe/")
    assert link.endswith(">")
    assert letter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = link[1:-1]
    assert f"Aby ich więcej nie otrzymywać, otwórz: {url}" in part(letter, "plain")
    assert f'<a href="{url}"' in part(letter, "html")
    # The token names no address: the link holds nothing of the resident's.
    assert "kowalski" not in url
    assert "example.com" not in url


async def test_a_receipt_has_no_unsubscribe_link(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    await queue(store, "receipt:9", Category.RECEIPT, text="Dziękujemy za wpłatę.")
    await dispatcher(store, email_sender).run_until_idle()
    letter = smtp.peer.received[0].message()
    assert letter["Subject"] == "Wpłata zaksięgowana – Urząd Miasta Ruda Śląska"
    assert letter["List-Unsubscribe"] is None
    assert letter["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(
    ("language", "subject", "greeting", "signature"),
    [
        ("en", "Announcement – Urząd Miasta Ruda Śląska", "Good day,", "Kind regards,"),
        ("uk", "Оголошення – Urząd Miasta Ruda Śląska", "Добрий день,", "З повагою,"),
    ],
)
async def test_the_message_is_in_the_residents_language(
    store: Store,
    smtp: SmtpServer,
    email_sender: EmailSender,
    language: str,
    subject: str,
    greeting: str,
    signature: str,
) -> None:
    await queue(store, "news:1", Category.ANNOUNCEMENT, language=language, text="Street works.")
    await dispatcher(store, email_sender).run_until_idle()
    letter = smtp.peer.received[0].message()
    assert letter["Subject"] == subject
    assert letter["Content-Language"] == language
    assert part(letter, "plain").startswith(f"{greeting}\n\nStreet works.\n\n{signature}")
    assert f'<html lang="{language}">' in part(letter, "html")


async def test_a_4xx_is_retried_and_the_message_delivered(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    smtp.peer.data_answers.append("451 4.3.0 Temporary local problem, try again later")
    await queue(store, "reminder:1")
    assert await dispatcher(store, email_sender).run_until_idle(wait_for_retries=True) == 2
    assert len(smtp.peer.received) == 1
    status, attempts, _, _ = await outbox_row(store, "reminder:1")
    assert (status, attempts) == ("sent", 2)


async def test_a_5xx_to_data_fails_permanently_without_marking_the_address(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    smtp.peer.data_answers.append("554 5.6.0 Message content rejected")
    await queue(store, "reminder:1")
    await dispatcher(store, email_sender).run_until_idle(wait_for_retries=True)
    assert smtp.peer.received == []
    status, attempts, _, error = await outbox_row(store, "reminder:1")
    assert (status, attempts) == ("permanent-failure", 1)
    assert error == "email: message refused: 554 5.6.0"
    async with store.sessions() as session:
        assert not await is_unreachable(session, "email", RESIDENT)


async def test_an_unknown_mailbox_marks_the_address_unreachable(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    smtp.peer.unknown_mailboxes.add(RESIDENT)
    await queue(store, "reminder:1")
    await dispatcher(store, email_sender).run_until_idle(wait_for_retries=True)
    status, attempts, _, error = await outbox_row(store, "reminder:1")
    # The relay's words name the address; the row keeps only the codes.
    assert (status, attempts) == ("permanent-failure", 1)
    assert error == "email: the address bounced: 550 5.1.1"
    async with store.sessions() as session:
        assert await is_unreachable(session, "email", RESIDENT)


async def test_refused_credentials_keep_the_message_queued(store: Store, smtp: SmtpServer) -> None:
    sender = build_email_sender(email_settings(smtp, password="wrong"), SystemClock())
    await queue(store, "reminder:1")
    assert await dispatcher(store, sender).run_once() == 1
    await sender.close()
    status, _, _, error = await outbox_row(store, "reminder:1")
    assert (status, error) == ("temporary-failure", "email: the relay refused our credentials: 535")
    assert smtp.peer.received == []


async def test_a_relay_that_is_down_is_a_temporary_failure(store: Store, smtp: SmtpServer) -> None:
    await smtp.close()
    sender = build_email_sender(email_settings(smtp), SystemClock())
    await queue(store, "reminder:1")
    await dispatcher(store, sender).run_once()
    await sender.close()
    status, _, _, error = await outbox_row(store, "reminder:1")
    assert status == "temporary-failure"
    assert error is not None
    assert error.startswith("email: the relay cannot be reached")


async def test_tls_from_the_first_byte(store: Store, tmp_path: Path) -> None:
    server = await start_smtp(tmp_path, implicit_tls=True)
    settings = email_settings(server, starttls=False, use_tls=True)
    sender = build_email_sender(settings, SystemClock())
    await queue(store, "reminder:1")
    await dispatcher(store, sender).run_until_idle()
    await sender.close()
    await server.close()
    [received] = server.peer.received
    assert received.encrypted
    assert received.login == USERNAME
    assert received.message()["Subject"] == "Przypomnienie o płatności – Urząd Miasta Ruda Śląska"


async def test_one_connection_carries_message_after_message(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    for number in range(3):
        await queue(store, f"reminder:{number}", recipient=f"r{number}@example.com")
    run = dispatcher(store, email_sender)
    while await run.run_once():
        pass
    assert sorted(r for item in smtp.peer.received for r in item.rcpt_tos) == [
        "r0@example.com",
        "r1@example.com",
        "r2@example.com",
    ]
    # Three messages (sent together, so each may take its own of the four connections at most).
    assert smtp.peer.connections <= 3


async def test_no_address_amount_or_password_reaches_the_log(
    store: Store,
    smtp: SmtpServer,
    email_sender: EmailSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp.peer.unknown_mailboxes.add("gone@example.com")
    smtp.peer.data_answers.append("451 4.3.0 try later")
    await queue(store, "reminder:1")
    await queue(store, "reminder:2", recipient="gone@example.com")
    await dispatcher(store, email_sender).run_until_idle(wait_for_retries=True)
    assert len(smtp.peer.received) == 1
    assert caplog.records  # the dispatcher's rounds were logged (at DEBUG)
    for record in caplog.records:
        if record.levelno < logging.INFO:
            assert PASSWORD not in record.getMessage()
            continue
        line = record.getMessage() + str(record.exc_info or "")
        for secret in ("kowalski", "gone@", "1 234,56", "1234.56", PASSWORD, "5678"):
            assert secret not in line, (record.name, line)


async def test_an_address_that_is_none_is_unreachable_without_a_connection(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    await queue(store, "reminder:1", recipient="jan.kowalski(at)example.com")
    await dispatcher(store, email_sender).run_until_idle(wait_for_retries=True)
    status, _, _, error = await outbox_row(store, "reminder:1")
    assert (status, error) == (
        "permanent-failure",
        "email: the recipient is not a usable e-mail address",
    )
    assert smtp.peer.connections == 0
    async with store.sessions() as session:
        assert await is_unreachable(session, "email", "jan.kowalski(at)example.com")


async def test_a_kept_connection_the_relay_closed_is_opened_again(
    store: Store, tmp_path: Path
) -> None:
    server = await start_smtp(tmp_path, idle_timeout=0.2)
    sender = build_email_sender(email_settings(server), SystemClock())
    run = dispatcher(store, sender)
    await queue(store, "reminder:1")
    await run.run_until_idle()
    await asyncio.sleep(0.5)  # the relay hangs up on the idle connection meanwhile
    await queue(store, "reminder:2", recipient="other@example.com")
    await run.run_until_idle()
    await sender.close()
    await server.close()
    assert [item.rcpt_tos for item in server.peer.received] == [[RESIDENT], ["other@example.com"]]
    assert server.peer.connections == 2
    assert (await outbox_row(store, "reminder:2"))[:2] == ("sent", 1)
