"""The SMTP peer on a loopback port, and settings that point the real e-mail sender at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kernel.clock import SystemClock
from kernel.settings import Settings
from notifier.senders.email import EmailSender, build_email_sender
from tests.peers.smtp import PASSWORD, USERNAME, SmtpServer, start_smtp

FROM = "powiadomienia@rudaslaska.example"
SECRET = "unsubscribe-secret-for-tests"
PUBLIC = "https://gmina.example"


def email_settings(server: SmtpServer, **overrides: Any) -> Settings:
    email = {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "from_address": FROM,
        "username": USERNAME,
        "password": PASSWORD,
        "starttls": True,
        "ca_file": str(server.ca_file),
        "timeout_seconds": 5,
        "unsubscribe_secret": SECRET,
        **overrides,
    }
    return Settings.model_validate({"email": email, "web": {"public_base_url": PUBLIC}})


@pytest.fixture
async def smtp(tmp_path: Path) -> AsyncIterator[SmtpServer]:
    server = await start_smtp(tmp_path)
    yield server
    await server.close()


@pytest.fixture
async def email_sender(smtp: SmtpServer) -> AsyncIterator[EmailSender]:
    sender = build_email_sender(email_settings(smtp), SystemClock())
    yield sender
    await sender.close()
