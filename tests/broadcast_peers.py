"""A panel server that delivers to the local peers (Telegram, Twilio, SMTP): the settings that
tests/panel/test_broadcasts.py and tests/browser/test_panel_broadcasts.py share. Each starts the
peers its own way (pytest-aiohttp's servers, or the browser tests' `serving`)."""

from __future__ import annotations

from typing import Any

from kernel.settings import Settings
from tests.panel_helpers import panel_settings
from tests.peers.smtp import PASSWORD as SMTP_PASSWORD
from tests.peers.smtp import USERNAME as SMTP_USERNAME
from tests.peers.smtp import SmtpServer

TOKEN = "7000002:AAE-panel-broadcast-token"
ACCOUNT_SID = "AC" + "0" * 31 + "9"
AUTH_TOKEN = "twilio-auth-token-for-the-panel"
CITY_NUMBER = "+48732100200"
# http: the panel's cookie is Secure under https, which a test client would not send back.
PUBLIC = "http://gmina.example"


def delivering_panel_settings(
    url: str, telegram_url: str, twilio_url: str, smtp: SmtpServer, **sections: Any
) -> Settings:
    """The panel on over the store at `url`, its dispatcher sending to the three peers."""
    return panel_settings(
        url,
        web={"public_base_url": PUBLIC},
        telegram={
            "token": TOKEN,
            "api_base_url": telegram_url,
            "mode": "webhook",
            "webhook_secret": "panel-broadcast-webhook-secret",
            "rate_per_chat_per_second": 1000,
        },
        sms={
            "twilio": {
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "from_number": CITY_NUMBER,
                "api_base_url": twilio_url,
            }
        },
        email={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "from_address": "powiadomienia@rudaslaska.example",
            "username": SMTP_USERNAME,
            "password": SMTP_PASSWORD,
            "starttls": True,
            "ca_file": str(smtp.ca_file),
            "timeout_seconds": 5,
            "unsubscribe_secret": "unsubscribe-secret-for-panel-tests",
        },
        outbox={"idle_poll_seconds": 0.05, "backoff_base_seconds": 0.05},
        **sections,
    )
