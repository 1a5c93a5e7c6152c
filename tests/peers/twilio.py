"""A local peer that speaks the part of Twilio's Messages API we call, for twilio's own library.

`POST /2010-04-01/Accounts/<sid>/Messages.json` with HTTP Basic auth (the account SID and auth
token) creates a message and answers as Twilio does (201, the message resource with its `SM…`
SID); the real `Client` reaches it through `sms.twilio.api_base_url`. Faults are switched on per
test: scripted error answers (429, 5xx, any Twilio error code), a hang, numbers that texted STOP
to Twilio itself (21610).

Like Twilio, the peer calls the city back, signing each request with the account's auth token by
twilio's `RequestValidator` algorithm over the URL it was given and the form parameters: status
callbacks (`status(...)`) to the message's `StatusCallback`, inbound messages (`inbound(...)`) to
the city's SMS webhook. The city's public URLs are behind a proxy in production; here `proxy`
maps the public base URL to the test server's address, and the signature is over the public URL.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import uuid
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


@dataclass
class CreatedMessage:
    sid: str
    to: str
    sender: str
    body: str
    status_callback: str | None


@dataclass
class Callback:
    """What the city answered to a request the peer made."""

    status: int
    body: str


@dataclass
class TwilioPeer:
    account_sid: str
    auth_token: str
    # (public base URL, the test server's base URL): where a public URL is really served.
    proxy: tuple[str, str] = ("", "")
    created: list[CreatedMessage] = field(default_factory=list)
    # Answers to give before the normal one, in order: (HTTP status, Twilio error code).
    scripted: list[tuple[int, int]] = field(default_factory=list)
    # Numbers that texted STOP to Twilio: creating a message to them fails with 21610.
    unsubscribed: set[str] = field(default_factory=set)
    hangs: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _session: aiohttp.ClientSession | None = None

    def fail_next(self, count: int, status: int = 503, code: int | None = None) -> None:
        self.scripted += [(status, code if code is not None else status)] * count

    def bodies_to(self, number: str) -> list[str]:
        return [message.body for message in self.created if message.to == number]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        return app

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # --- the Messages API ------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        if request.match_info["sid"] != self.account_sid or not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        if self.hangs:
            self.hangs -= 1
            await asyncio.sleep(3600)
        if self.scripted:
            status, code = self.scripted.pop(0)
            return _error(status, code, "Scripted failure")
        to, body = params.get("To"), params.get("Body")
        sender = params.get("From") or params.get("MessagingServiceSid")
        if not to or not body or not sender:
            return _error(400, 21604, "A 'To', a 'Body' and a 'From' are required")
        if to in self.unsubscribed:
            return _error(400, 21610, f"Attempt to send to unsubscribed recipient {to}")
        sid = f"SM{next(self._ids):032x}"
        self.created.append(CreatedMessage(sid, to, sender, body, params.get("StatusCallback")))
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": params.get("From"),
                "messaging_service_sid": params.get("MessagingServiceSid"),
                "body": body,
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            status=201,
        )

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    # --- calling the city ------------------------------------------------------------------------

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    async def post_signed(
        self,
        url: str,
        params: dict[str, str],
        *,
        signature: str | None = None,
        signed_url: str | None = None,
    ) -> Callback:
        """POST the form to the city's public `url`, signed for `signed_url` (default: `url`);
        `signature` replaces the computed one (a forgery), "" sends none."""
        if signature is None:
            signature = self.sign(signed_url or url, params)
        headers = {SIGNATURE_HEADER: signature} if signature else {}
        public, local = self.proxy
        target = local + url.removeprefix(public) if public and url.startswith(public) else url
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(target, data=params, headers=headers) as response:
            return Callback(response.status, await response.text())

    async def status(self, sid: str, status: str, error_code: int | None = None) -> Callback:
        """A status callback for a message created here, to the URL it named."""
        message = next(message for message in self.created if message.sid == sid)
        assert message.status_callback, "the message named no StatusCallback"
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.sender,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return await self.post_signed(message.status_callback, params)

    def inbound_params(
        self, sender: str, to: str, body: str, sid: str | None = None
    ) -> dict[str, str]:
        """The form Twilio posts to an SMS webhook for a message received."""
        sid = sid or f"SM{uuid.uuid4().hex}"
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": sender,
            "FromCountry": "PL",
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
            "ToCountry": "PL",
        }

    async def inbound(
        self, webhook_url: str, sender: str, to: str, body: str, sid: str | None = None
    ) -> Callback:
        """A resident's SMS, as Twilio posts it to the city's webhook."""
        return await self.post_signed(webhook_url, self.inbound_params(sender, to, body, sid))


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )
