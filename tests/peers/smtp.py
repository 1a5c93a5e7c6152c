"""A real SMTP server on a loopback port (aiosmtpd), in the test's own event loop.

It speaks STARTTLS (or TLS from the first byte) with a certificate from a CA that `trustme`
makes for the test, requires AUTH with one user, and keeps what it accepted. Faults are switched
on per test: scripted answers to RCPT or DATA (a 451, a 550 5.1.1) and mailboxes that do not
exist. The client under test trusts the CA through `email.ca_file`, as a city would trust its
relay's authority.
"""

from __future__ import annotations

import asyncio
import email
import logging
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "gmina"
PASSWORD = "relay-password-that-must-never-be-logged"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    # The AUTH login the session used, if any, and whether the line was encrypted.
    login: str | None
    encrypted: bool

    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpPeer:
    received: list[Received] = field(default_factory=list)
    unknown_mailboxes: set[str] = field(default_factory=set)
    # Answers to give to the next DATA commands instead of accepting, in order.
    data_answers: list[str] = field(default_factory=list)
    connections: int = 0
    implicit_tls: bool = False

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.unknown_mailboxes:
            return "550 5.1.1 <" + address + ">: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.data_answers:
            return self.data_answers.pop(0)
        content = envelope.original_content or b""
        login = session.auth_data.login.decode() if session.auth_data else None
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                content,
                login,
                self.implicit_tls or session.ssl is not None,
            )
        )
        return "250 2.0.0 OK: queued"

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [item.message() for item in self.received if address in item.rcpt_tos]


def part(letter: EmailMessage, subtype: str) -> str:
    """The text of the message's `plain` or `html` part, with line ends as Python writes them."""
    body = letter.get_body((subtype,))
    assert body is not None, f"no text/{subtype} part"
    return str(body.get_content()).replace("\r\n", "\n")


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USERNAME.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass
class SmtpServer:
    peer: SmtpPeer
    port: int
    ca_file: Path
    server: asyncio.Server

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_smtp(
    tmp_path: Path, *, implicit_tls: bool = False, idle_timeout: float = 300
) -> SmtpServer:
    """The peer on 127.0.0.1, port 0: STARTTLS required before AUTH, or TLS from the start."""
    # The peer's own log names addresses and peers (and warns of its own deprecations): it is
    # not ours, so it stays quiet.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    ca = trustme.CA()
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    peer = SmtpPeer(implicit_tls=implicit_tls)
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        peer.connections += 1
        return SMTP(
            peer,
            hostname="relay.test",
            tls_context=None if implicit_tls else server_context,
            require_starttls=not implicit_tls,
            auth_required=not implicit_tls,
            # Over TLS from the first byte aiosmtpd cannot see the TLS itself; AUTH is offered.
            auth_require_tls=not implicit_tls,
            authenticator=authenticate,
            # A relay hangs up on a connection idle this long (with 421, as aiosmtpd does).
            timeout=idle_timeout,
            loop=loop,
        )

    server = await loop.create_server(
        protocol, "127.0.0.1", 0, ssl=server_context if implicit_tls else None
    )
    port = server.sockets[0].getsockname()[1]
    return SmtpServer(peer, port, ca_file, server)
