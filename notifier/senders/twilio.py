"""SMS, outbound: twilio's `Client` on its `AsyncTwilioHttpClient`, the one client of the process.

Messages are created at `<sms.twilio.api_base_url>/2010-04-01/Accounts/<sid>/Messages.json`: the
library's API domain is pointed at that root, so a Twilio-compatible provider (or the test peer)
stands where api.twilio.com would. Each message asks for status callbacks at
`<web.public_base_url>/webhooks/twilio/status`.

The text goes out as `notifier.sms_segments.fit` makes it (folded when `sms.fold_diacritics`,
cut to `sms.max_segments` with a pointer to the web chat), whoever queued it.

Twilio's errors become ours: 429, 5xx, the network and a refused account (its credentials may be
mended) are retried; an unsubscribed or unreachable number (21610 after the resident texted STOP
to Twilio itself, 21211, 21612, 21614 …) marks the recipient unreachable on SMS; any other 4xx is
permanent. No error text we keep quotes Twilio's message, which names the phone number.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from kernel.errors import PermanentError, RecipientUnreachable, RetryableError, TimedOut
from kernel.settings import SmsSettings
from notifier.sms_segments import SmsText, sms_text
from storage.outbox import Claimed

CHANNEL = "sms"
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
# Twilio's codes for a number that cannot get our messages: unsubscribed (STOP), not a valid
# number, unreachable carrier, not a mobile, blocked, unknown destination, a landline.
UNREACHABLE_CODES = frozenset({21211, 21610, 21612, 21614, 30004, 30005, 30006})
# The library logs each request's URL and headers at INFO: ours stay quiet below WARNING.
_LOGGER = "twilio.http_client"


class _TimedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The library's aiohttp client with our timeout on every request (the library passes the
    `timeout` argument, None unless given, rather than the one it was made with), and the Basic
    credentials as a header (aiohttp deprecates the `BasicAuth` the library would build)."""

    def __init__(self, timeout: float, pool_size: int) -> None:
        super().__init__(pool_connections=False, timeout=timeout, logger=_quiet_logger())
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the library's signature
        allow_redirects: bool = False,
    ) -> Response:
        if auth is not None:
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
        return await super().request(
            method, url, params, data, headers, None, timeout or self.timeout, allow_redirects
        )


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger(_LOGGER)
    logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    return logger


def build_client(settings: SmsSettings, *, timeout: float = 10.0, pool_size: int = 64) -> Client:
    """twilio's `Client` for `sms.twilio`, on aiohttp, talking to `api_base_url`."""
    twilio = settings.twilio
    client = Client(
        twilio.account_sid,
        twilio.auth_token,
        http_client=_TimedHttpClient(timeout, pool_size),
    )
    # Edge and region (TWILIO_EDGE / TWILIO_REGION in the environment) would rewrite the host.
    client.edge = client.region = None
    client.api.base_url = twilio.api_base_url.rstrip("/")
    return client


def _error(exc: TwilioRestException) -> Exception:
    code = exc.code if isinstance(exc.code, int) else None
    reason = f"twilio: HTTP {exc.status}, error {code}"
    if code in UNREACHABLE_CODES:
        return RecipientUnreachable(reason)
    if exc.status == 429 or exc.status >= 500 or exc.status in (401, 403):
        return RetryableError(reason)
    return PermanentError(reason)


class TwilioSender:
    channel = CHANNEL

    def __init__(self, settings: SmsSettings, public_base_url: str, client: Client) -> None:
        self.settings = settings
        self.public_base_url = public_base_url
        self.status_callback = f"{public_base_url}{STATUS_CALLBACK_PATH}"
        self.client = client

    async def close(self) -> None:
        await self.client.http_client.close()

    def render(self, message: Claimed) -> SmsText:
        return sms_text(
            message.text, message.buttons, message.language, self.settings, self.public_base_url
        )

    async def send(self, message: Claimed) -> str:
        sender: dict[str, Any] = (
            {"messaging_service_sid": self.settings.twilio.messaging_service_sid}
            if self.settings.twilio.messaging_service_sid
            else {"from_": self.settings.twilio.from_number}
        )
        try:
            created = await self.client.messages.create_async(
                to=message.recipient,
                body=self.render(message).text,
                status_callback=self.status_callback,
                **sender,
            )
        except TwilioRestException as exc:
            raise _error(exc) from exc
        except TimeoutError as exc:
            raise TimedOut("twilio: no answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise RetryableError(f"twilio: aiohttp.{type(exc).__name__}") from exc
        except TwilioException as exc:
            raise RetryableError(f"twilio: {type(exc).__name__}") from exc
        return str(created.sid)
