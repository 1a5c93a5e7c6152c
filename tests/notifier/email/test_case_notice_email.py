"""A case moved by a clerk reaches a resident whose only consented channel is e-mail: the
notice leaves the outbox through the SMTP peer with its own subject, the reference and the note."""

from __future__ import annotations

from kernel.clock import SystemClock
from kernel.settings import OutboxSettings
from notifier.dispatcher import Dispatcher
from notifier.senders.email import EmailSender
from storage.case_moves import move_case
from storage.casework import CaseStatus, create_case
from storage.preferences import record_consent
from storage.staff import Role, add_staff
from tests.conftest import Store
from tests.notifier.conftest import FAST
from tests.peers.smtp import SmtpServer, part
from tests.resident_helpers import add_taxpayer

# Due now: the dispatcher sends on the system clock.
NOW = SystemClock().now()
RESIDENT = "anna.nowak@example.com"
NOTE = "Decyzja do odbioru w pokoju 12."


async def test_a_case_notice_goes_out_by_email_with_the_note(
    store: Store, smtp: SmtpServer, email_sender: EmailSender
) -> None:
    async with store.sessions() as session:
        await add_staff(session, "olek", Role.CLERK, "a long password 1", actor="test", now=NOW)
        taxpayer_id = await add_taxpayer(session)
        await record_consent(session, taxpayer_id, "email", RESIDENT, "office", NOW)
        # Filed at the office's web chat: no chat of theirs to tell, so their e-mail is told.
        ref = await create_case(session, taxpayer_id, "installments", {}, "rest", NOW)
        await move_case(session, ref, CaseStatus.SUBMITTED, CaseStatus.IN_REVIEW, NOTE, "olek", NOW)
        await session.commit()
    dispatcher = Dispatcher(
        store.sessions, {"email": email_sender}, SystemClock(), OutboxSettings(**FAST)
    )
    assert await dispatcher.run_until_idle() == 1
    [received] = smtp.peer.received
    letter = received.message()
    assert letter["To"] == RESIDENT
    assert letter["Subject"] == "Twoja sprawa – Urząd Miasta Ruda Śląska"
    assert letter["List-Unsubscribe"] is None
    plain = part(letter, "plain")
    assert ref in plain
    assert NOTE in plain
    assert "w trakcie rozpatrywania" in plain
