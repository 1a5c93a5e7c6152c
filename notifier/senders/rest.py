"""The web chat, outbound: a message queued for a REST sender (a receipt, a staff reply, a
case's news) POSTed to the city's chat front-end, in the manner of Rasa's callback channel.

    POST <rest.callback_url>
    Content-Type: application/json
    X-Gmina-Message-Id: <outbox id>             the same on every retry: deliver it once
    X-Gmina-Timestamp: <Unix seconds>
    X-Gmina-Signature: sha256=<hex HMAC-SHA256 with rest.callback_secret of "<timestamp>.<body>">

    {"recipient_id": <sender id>, "text": ..., "buttons": [{"title", "payload"}]?, "image"?}

2xx: delivered. 408, 429 (its Retry-After honoured), 5xx, a timeout or a network error: tried
again with the outbox's backoff. Any other answer: a permanent failure. With no callback_url no
sender is built: the built-in web chat page collects its messages itself (`bot.channels.rest`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from kernel.clock import Clock
from kernel.errors import PermanentError, RetryableError, RetryAfter, TimedOut
from kernel.settings import RestSettings
from storage.outbox import Claimed

CHANNEL = "rest"
SIGNATURE_HEADER = "X-Gmina-Signature"
TIMESTAMP_HEADER = "X-Gmina-Timestamp"
MESSAGE_ID_HEADER = "X-Gmina-Message-Id"
_RETRIED_STATUSES = frozenset({408, 429})


def callback_body(message: Claimed) -> dict[str, Any]:
    """The message as the REST channel answers it: `recipient_id`, `text`, and buttons or an
    image when it has them."""
    body: dict[str, Any] = {"recipient_id": message.recipient, "text": message.text}
    if message.buttons:
        body["buttons"] = [
            {"title": button["title"], "payload": button["payload"]} for button in message.buttons
        ]
    image = message.content.get("image")
    if image:
        body["image"] = image
    return body


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


class RestCallbackSender:
    channel = CHANNEL

    def __init__(self, settings: RestSettings, clock: Clock) -> None:
        if not settings.callback_url or not settings.callback_secret:
            raise ValueError("a REST callback sender needs rest.callback_url and callback_secret")
        self.url = settings.callback_url
        self.secret = settings.callback_secret
        self.clock = clock
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.callback_timeout_seconds)
        )

    async def close(self) -> None:
        await self.session.close()

    async def send(self, message: Claimed) -> str:
        body = json.dumps(callback_body(message), ensure_ascii=False).encode()
        timestamp = str(int(self.clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            MESSAGE_ID_HEADER: str(message.id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.secret, timestamp, body),
        }
        try:
            async with self.session.post(self.url, data=body, headers=headers) as response:
                await response.read()
                status, retry_after = response.status, _retry_after(response)
        except TimeoutError as exc:
            raise TimedOut("rest callback: no answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise RetryableError(f"rest callback: aiohttp.{type(exc).__name__}") from exc
        if 200 <= status < 300:
            return str(message.id)
        reason = f"rest callback: HTTP {status}"
        if status == 429 and retry_after is not None:
            raise RetryAfter(retry_after, reason)
        if status >= 500 or status in _RETRIED_STATUSES:
            raise RetryableError(reason)
        raise PermanentError(reason)
