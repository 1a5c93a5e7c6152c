"""A resident answering a reminder to pay, as the chat channels hear it.

    SMS        a reply word ("ZAPŁAĆ", "PLAĆ", "PAY", "1", "СПЛАТИТИ"; any case, with or without
               diacritics) from a number that was sent a reminder by SMS within
               `reminders.reply_window_days`, and after any choices the chat offered it since
               (then "1" is the first choice, as before)
    Telegram   the "Zapłać" button under a reminder sent within the window

Either enters the dialogue as the `pay` intent's payload, with the reminder's key in the
message's metadata: the pay action then answers with the payment link and transfer details of
exactly what that reminder listed, as it stands now (actions.balance). Any other text, or a reply
word with no reminder in the window, is an ordinary message of the conversation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from actions.common import REMINDER_METADATA
from kernel.settings import Settings
from notifier.reminders import PAY_PAYLOAD
from notifier.sms_segments import fold
from storage import sms_numbers
from storage.reminder_replies import SentReminder, reminder_sent_to

# The words after folding diacritics and upper-casing, and the language each is in ("1": none).
REPLY_WORDS: dict[str, str | None] = {
    "ZAPLAC": "pl",
    "PLAC": "pl",
    "PAY": "en",
    "1": None,
    "СПЛАТИТИ": "uk",
}


def folded_word(text: str) -> str:
    """The text as a keyword compares: "Zapłać!" → "ZAPLAC"."""
    return fold(text).strip().strip(".!").upper()


def reply_window_start(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(days=settings.reminders.reply_window_days)


def answering(reminder: SentReminder, language: str | None = None) -> dict[str, str]:
    """The metadata of a message answering `reminder`: its key, and a language for a new
    conversation (the reply word's, else the reminder's)."""
    return {REMINDER_METADATA: reminder.key, "language": language or reminder.language}


async def sms_reply(
    session: AsyncSession, settings: Settings, now: datetime, number: str, text: str
) -> tuple[str, dict[str, str]] | None:
    """`(text, metadata)` of an SMS that answers a reminder sent to `number`, or None."""
    word = folded_word(text)
    if word not in REPLY_WORDS:
        return None
    reminder = await reminder_sent_to(session, "sms", number, reply_window_start(settings, now))
    if reminder is None:
        return None
    offered = await sms_numbers.choices_offered_at(session, number)
    if offered is not None and offered > reminder.sent_at:
        return None  # the chat has asked something since: "1" answers that
    return PAY_PAYLOAD, answering(reminder, REPLY_WORDS[word])
