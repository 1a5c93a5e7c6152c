"""E-mail, outbound: aiosmtplib to the city's relay, over a few kept-open connections.

The relay is reached with STARTTLS (`email.starttls`, port 587) or TLS from the first byte
(`email.use_tls`, port 465), with AUTH when `email.username` is set, every command within
`email.timeout_seconds`. Up to `email.connections` connections stay open and are reused; one
the relay closed meanwhile is opened again once before the message counts as failed.

What the relay answers becomes ours (never with its own words, which may name the address):
    to MAIL, RCPT or DATA:
      4xx                                      RetryableError
      5xx to RCPT with 5.1.x (a bare 550/551/553)  RecipientUnreachable: the address bounced
      other 5xx                                PermanentError
    an address that is no e-mail address      RecipientUnreachable (before any connection)
    anything else (the greeting, EHLO, STARTTLS, refused credentials, a lost connection, a
    timeout)                                   RetryableError (TimedOut): every message would
                                               meet it alike, so they stay queued until mended
"""

from __future__ import annotations

import asyncio
import re
import ssl
from email.message import Message

import aiosmtplib

from kernel.clock import Clock
from kernel.errors import (
    ConfigurationError,
    PermanentError,
    RecipientUnreachable,
    RetryableError,
    TimedOut,
)
from kernel.settings import EmailSettings, Settings
from notifier.email_content import EmailComposer, wire_bytes
from notifier.unsubscribe_tokens import UnsubscribeTokens
from storage.outbox import Claimed

CHANNEL = "email"
_ENHANCED_STATUS = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
# A recipient's mailbox that does not exist or cannot take mail, said at RCPT.
_MAILBOX_GONE = frozenset({550, 551, 553})


def _status(code: int, text: str) -> str:
    """`550 5.1.1`: the reply code and the enhanced status, without the relay's words."""
    enhanced = _ENHANCED_STATUS.match(text or "")
    return f"{code} {enhanced.group(1)}" if enhanced else str(code)


def _by_code(code: int, text: str, what: str) -> RetryableError | PermanentError:
    reason = f"email: {what}: {_status(code, text)}"
    return RetryableError(reason) if 400 <= code < 500 else PermanentError(reason)


def tls_context(settings: EmailSettings) -> ssl.SSLContext:
    """The system's trusted authorities, and `email.ca_file` besides when set."""
    context = ssl.create_default_context()
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=str(settings.ca_file))
    return context


def build_email_sender(settings: Settings, clock: Clock) -> EmailSender:
    """The sender for `email.*`, its links on `web.public_base_url`; e-mail must be configured."""
    email = settings.email
    if not (email.smtp_host and email.from_address and email.unsubscribe_secret):
        raise ConfigurationError("email: smtp_host, from_address and unsubscribe_secret are needed")
    tokens = UnsubscribeTokens(email.unsubscribe_secret)
    composer = EmailComposer(
        email.from_address, settings.city, settings.web.public_base_url, tokens, clock
    )
    return EmailSender(email, composer)


class EmailSender:
    channel = CHANNEL

    def __init__(self, settings: EmailSettings, composer: EmailComposer) -> None:
        self.settings = settings
        self.composer = composer
        self._context = tls_context(settings) if settings.use_tls or settings.starttls else None
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.connections)

    def _client(self) -> aiosmtplib.SMTP:
        settings = self.settings
        return aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.username or None,
            password=settings.password or None,
            use_tls=settings.use_tls,
            start_tls=settings.starttls and not settings.use_tls,
            tls_context=self._context,
            timeout=settings.timeout_seconds,
        )

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    async def send(self, message: Claimed) -> str:
        letter = self.composer.compose(message)
        async with self._slots:
            # `To` holds the address as checked and as SMTP carries it (an IDN domain in ASCII).
            await self._send_on_a_connection(letter, str(letter["To"]))
        return str(letter["Message-ID"])

    async def _send_on_a_connection(self, letter: Message, recipient: str) -> None:
        sender = str(self.settings.from_address)
        data = wire_bytes(letter)
        reused = bool(self._idle)
        client = self._idle.pop() if reused else self._client()
        try:
            try:
                await _transact(client, sender, recipient, data)
            except aiosmtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                # The relay closed the kept connection while it was idle: one fresh try.
                client.close()
                await _transact(client, sender, recipient, data)
        except _REFUSALS as exc:
            # The relay refused this message; the connection is fine for the next one.
            self._keep(client)
            raise _refusal(exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise _failure(exc) from exc
        except BaseException:
            client.close()  # cancelled mid-transaction: the connection's state is unknown
            raise
        self._keep(client)

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self._idle.append(client)


async def _transact(client: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    if not client.is_connected:
        await client.connect()
    await client.sendmail(sender, [recipient], data)


# The relay's answers to MAIL, RCPT and DATA: about this message, judged by their code.
_REFUSALS = (
    aiosmtplib.SMTPRecipientsRefused,
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPDataError,
)


def _refusal(
    exc: aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError,
) -> RetryableError | PermanentError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0]
        status = _status(refused.code, refused.message)
        # 5.1.x: a bad destination mailbox (RFC 3463); a bare 550/551/553 says the same.
        enhanced = status.partition(" ")[2]
        if enhanced.startswith("5.1.") or (not enhanced and refused.code in _MAILBOX_GONE):
            return RecipientUnreachable(f"email: the address bounced: {status}")
        return _by_code(refused.code, refused.message, "recipient refused")
    what = "sender refused" if isinstance(exc, aiosmtplib.SMTPSenderRefused) else "message refused"
    return _by_code(exc.code, exc.message, what)


def _failure(exc: aiosmtplib.SMTPException | OSError) -> RetryableError:
    """Anything else: the relay or the way to it, which every message would meet alike."""
    if isinstance(exc, TimeoutError):
        return TimedOut("email: the relay did not answer in time")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return RetryableError(f"email: the relay refused our credentials: {exc.code}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return RetryableError(f"email: the relay answered {_status(exc.code, exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return RetryableError("email: the relay does not offer what the settings ask (STARTTLS?)")
    return RetryableError(f"email: the relay cannot be reached: {type(exc).__name__}")
