"""An e-mail from an outbox row: a plain-text and an HTML part in the resident's language.

Each outbox category has a template pair in `notifier/templates/email/` (`reminder.txt` and
`reminder.html`, …, on `base.txt` / `base.html`); their words come from the Babel catalogues
(the `email_…` keys of kernel/messages.py) through `t(key, **values)`. The HTML part is
autoescaped: the text a row carries (what the planner or a clerk wrote) is never markup; the web
addresses in it (a reminder's payment link) become links (`linked`).

Headers: `Message-ID` is derived from the outbox key, so a message sent again after a lost
claim has the same id and a mailbox can tell it is one message; reminders and announcements carry
`List-Unsubscribe` with a one-click link (RFC 8058: `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`) to `POST /unsubscribe/{token}` on `web.public_base_url`.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from email import policy
from email.charset import QP, Charset
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from kernel.clock import Clock
from kernel.errors import RecipientUnreachable
from kernel.i18n import normalise_language, render
from kernel.settings import CitySettings
from notifier.unsubscribe_tokens import UNSUBSCRIBABLE, Unsubscribe, UnsubscribeTokens
from storage.outbox import Category, Claimed

TEMPLATES = Path(__file__).with_name("templates")
UNSUBSCRIBE_PATH = "/unsubscribe/"
# Parts in UTF-8, quoted-printable (lines within 76 characters: 7-bit clean for any relay);
# headers in UTF-8 encoded words where they are not ASCII.
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = QP
_UTF8.body_encoding = QP
# The message is built with the email package's classic (compat32) classes, several times faster
# than its header-parsing policy, and written with CRLF and headers folded only at RFC 5322's
# hard limit, so that the link in `List-Unsubscribe` stays one URL on one line.
WIRE_POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=998)


# A web address in a row's text, without the punctuation of the sentence it ends.
_URL = re.compile(r"https?://[^\s<>\"']+(?<![.,;:!?)])")


def linked(text: str) -> Markup:
    """The text escaped, its http(s) addresses as links to themselves."""
    parts: list[Markup] = []
    last = 0
    for match in _URL.finditer(text):
        parts.append(escape(text[last : match.start()]))
        parts.append(Markup('<a href="{0}">{0}</a>').format(match.group(0)))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def template_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters["linked"] = linked
    return environment


def message_id(key: str, domain: str) -> str:
    """`<digest@domain>`: the same for every send of one outbox row, and no key in clear."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def wire_bytes(letter: Message) -> bytes:
    """The message as it goes over SMTP (see `WIRE_POLICY`)."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=WIRE_POLICY).flatten(letter)
    return buffer.getvalue()


def envelope_address(address: str) -> str:
    """The address as SMTP commands carry it (an IDN domain in ASCII); RecipientUnreachable for
    one that is no e-mail address or needs SMTPUTF8, which a relay need not offer."""
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise RecipientUnreachable("email: the recipient is not a usable e-mail address") from exc
    return str(checked.ascii_email or checked.normalized)


def _text_part(subtype: str, text: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, charset=_UTF8)
    return part


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
        self.from_address = from_address
        self.domain = from_address.rpartition("@")[2]
        self.city = city
        self.sender = formataddr((city.office_name, from_address), charset=_UTF8)
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

    def compose(self, message: Claimed) -> Message:
        language = normalise_language(message.language)
        recipient = envelope_address(message.recipient)
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
        letter = MIMEMultipart("alternative")
        letter["From"] = self.sender
        letter["To"] = recipient
        # compat32 takes a Header (RFC 2047 encoded words, folded); typeshed knows only str.
        letter["Subject"] = Header(subject, _UTF8)  # type: ignore[assignment]
        letter["Date"] = format_datetime(self.clock.now())
        letter["Message-ID"] = message_id(message.key, self.domain)
        letter["Content-Language"] = language
        # RFC 3834: no vacation auto-replies to a machine's message.
        letter["Auto-Submitted"] = "auto-generated"
        if unsubscribe is not None:
            letter["List-Unsubscribe"] = f"<{unsubscribe}>"
            letter["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        letter.attach(_text_part("plain", self._render(message.category, "txt", context)))
        letter.attach(_text_part("html", self._render(message.category, "html", context)))
        return letter

    def _render(self, category: str, kind: str, context: Mapping[str, Any]) -> str:
        return self.environment.get_template(f"email/{category}.{kind}").render(context)
