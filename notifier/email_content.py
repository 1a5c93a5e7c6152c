"""An e-mail from an outbox row: a plain-text and an HTML part in the resident's language.

Each outbox category has a template pair in `notifier/templates/email/` (`reminder.txt` and
`reminder.html`, …, on `base.txt` / `base.html`); their words come from the Babel catalogues
(the `email_…` keys of kernel/messages.py) through `t(key, **values)`. The HTML part is
autoescaped: the text a row carries (what the planner or a clerk wrote) is never markup.

Headers: `Message-ID` is derived from the outbox key, so a message sent again after a lost
claim has the same id and a mailbox can tell it is one message; reminders and announcements carry
`List-Unsubscribe` with a one-click link (RFC 8058: `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`) to `POST /unsubscribe/{token}` on `web.public_base_url`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kernel.clock import Clock
from kernel.errors import PermanentError
from kernel.i18n import normalise_language, render
from kernel.settings import CitySettings
from notifier.unsubscribe_tokens import UNSUBSCRIBABLE, Unsubscribe, UnsubscribeTokens
from storage.outbox import Category, Claimed

TEMPLATES = Path(__file__).with_name("templates")
UNSUBSCRIBE_PATH = "/unsubscribe/"
# The message is built under SMTP's policy (CRLF, parts quoted-printable within 78 characters a
# line: 7-bit clean for any relay), and written out with headers folded only at RFC 5322's hard
# limit, so that the link in `List-Unsubscribe` stays one URL rather than encoded words.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


def template_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def message_id(key: str, domain: str) -> str:
    """`<digest@domain>`: the same for every send of one outbox row, and no key in clear."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def wire_bytes(letter: EmailMessage) -> bytes:
    """The message as it goes over SMTP (see `WIRE_POLICY`)."""
    return letter.as_bytes(policy=WIRE_POLICY)


def paragraphs(text: str) -> list[list[str]]:
    """The text's paragraphs (split at blank lines), each a list of its lines."""
    blocks = [block.strip("\n") for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block.split("\n") for block in blocks if block.strip()]


class EmailComposer:
    def __init__(
        self,
        from_address: str,
        city: CitySettings,
        public_base_url: str,
        tokens: UnsubscribeTokens,
        clock: Clock,
    ) -> None:
        self.sender = Address(display_name=city.office_name, addr_spec=from_address)
        self.city = city
        self.public_base_url = public_base_url.rstrip("/")
        self.tokens = tokens
        self.clock = clock
        self.environment = template_environment()

    def unsubscribe_url(self, message: Claimed, language: str) -> str | None:
        category = UNSUBSCRIBABLE.get(Category(message.category))
        if category is None:
            return None
        token = self.tokens.sign(Unsubscribe(message.id, category, language))
        return f"{self.public_base_url}{UNSUBSCRIBE_PATH}{token}"

    def compose(self, message: Claimed) -> EmailMessage:
        language = normalise_language(message.language)
        try:
            recipient = Address(addr_spec=message.recipient)
        except (ValueError, IndexError) as exc:
            raise PermanentError("email: the recipient is not an e-mail address") from exc
        unsubscribe = self.unsubscribe_url(message, language)
        subject = render(
            f"email_subject_{message.category}", language, {"office": self.city.office_name}
        )
        context = {
            "t": lambda key, **values: render(key, language, values),
            "language": language,
            "subject": subject,
            "paragraphs": paragraphs(message.text),
            "office": self.city.office_name,
            "phone": self.city.office_phone,
            "hours": self.city.office_hours,
            "unsubscribe_url": unsubscribe,
            "why": f"email_why_{UNSUBSCRIBABLE.get(Category(message.category), '')}",
        }
        letter = EmailMessage(policy=policy.SMTP)
        letter["From"] = self.sender
        letter["To"] = recipient
        letter["Subject"] = subject
        letter["Date"] = format_datetime(self.clock.now())
        letter["Message-ID"] = message_id(message.key, self.sender.domain)
        # RFC 3834: no vacation auto-replies to a machine's message.
        letter["Auto-Submitted"] = "auto-generated"
        if unsubscribe is not None:
            letter["List-Unsubscribe"] = f"<{unsubscribe}>"
            letter["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        letter.set_content(self._render(message.category, "txt", context), cte="quoted-printable")
        letter.add_alternative(
            self._render(message.category, "html", context), subtype="html", cte="quoted-printable"
        )
        # After the parts: making the message multipart moves Content-* headers into its first.
        letter["Content-Language"] = language
        return letter

    def _render(self, category: str, kind: str, context: Mapping[str, Any]) -> str:
        return self.environment.get_template(f"email/{category}.{kind}").render(context)
