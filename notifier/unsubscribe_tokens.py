"""Signed one-click unsubscribe tokens (RFC 8058) for the links in e-mails.

A token names the outbox message it came with, the kind of messages to stop (`reminders` or
`announcements`) and the page's language, signed with `email.unsubscribe_secret` (itsdangerous,
HMAC-SHA1 over a salt of ours). It carries no address, name or amount: the message's row says whom
it went to. A token is not timed: a link in an old e-mail must still work.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

from kernel.i18n import LANGUAGES
from storage.outbox import Category
from storage.subscriptions import SUBSCRIPTION_CATEGORIES

_SALT = "gmina-assistant/email-unsubscribe"

# The outbox categories a resident can unsubscribe from, as the subscription categories.
UNSUBSCRIBABLE = {Category.REMINDER: "reminders", Category.ANNOUNCEMENT: "announcements"}


@dataclass(frozen=True)
class Unsubscribe:
    message_id: int
    category: str
    language: str


class UnsubscribeTokens:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT)

    def sign(self, request: Unsubscribe) -> str:
        return str(self._serializer.dumps([request.message_id, request.category, request.language]))

    def read(self, token: str) -> Unsubscribe | None:
        """The request a token names, or None for a token we did not sign or cannot read."""
        try:
            values = self._serializer.loads(token)
        except (BadData, UnicodeError):
            return None
        match values:
            case [int() as message_id, str() as category, str() as language] if (
                category in SUBSCRIPTION_CATEGORIES and language in LANGUAGES
            ):
                return Unsubscribe(message_id, category, language)
        return None
