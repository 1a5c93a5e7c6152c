"""Przelewy24's REST API (v1): register a transaction, read its signed notification, verify it.

    POST /api/v1/transaction/register             → {"data": {"token"}}; the resident pays at
                                                    <api_base_url>/trnRequest/<token>
    (Przelewy24 → us) POST urlStatus               the notification, signed with the CRC key
    PUT  /api/v1/transaction/verify                → {"data": {"status": "success"}}: only then
                                                    does the payment count
    GET  /api/v1/transaction/by/sessionId/<id>     → {"data": {"dateOfTransaction"}}: the day
                                                    the payment is booked on

HTTP Basic with posId:api_key. Transport errors and 5xx answers become `RetryableError`
(`TimedOut` for no answer in time); 4xx answers and answers we cannot read, `PermanentError`.
Nothing personal is logged: the class of a failure and the HTTP status only.
"""

from __future__ import annotations

import base64
import logging
from datetime import date
from typing import Any

import aiohttp

from kernel.errors import PermanentError, RetryableError, TimedOut
from kernel.money import to_grosze_count
from kernel.settings import Przelewy24Settings
from payments.gateways.base import Notification, Registration
from payments.gateways.signing import (
    REGISTER_FIELDS,
    VERIFY_FIELDS,
    read_notification,
    sign,
)

log = logging.getLogger(__name__)


class Przelewy24Gateway:
    name = "przelewy24"

    def __init__(self, settings: Przelewy24Settings, http: aiohttp.ClientSession) -> None:
        if not (settings.merchant_id and settings.api_key and settings.crc):
            raise PermanentError("payments.przelewy24 needs merchant_id, api_key and crc")
        self._merchant_id = settings.merchant_id
        self._pos_id = settings.pos_id or settings.merchant_id
        self._crc = settings.crc
        credentials = f"{self._pos_id}:{settings.api_key}".encode()
        self._auth = {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}
        self._base = settings.api_base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
        self._http = http

    async def register(self, registration: Registration) -> str:
        body: dict[str, Any] = {
            "merchantId": self._merchant_id,
            "posId": self._pos_id,
            "sessionId": registration.session_id,
            "amount": to_grosze_count(registration.amount),
            "currency": registration.currency,
            "description": registration.description,
            "country": "PL",
            "language": registration.language,
            "urlReturn": registration.return_url,
            "urlStatus": registration.notify_url,
        }
        body["sign"] = sign(REGISTER_FIELDS, body, self._crc)
        answer = await self._call("POST", "/api/v1/transaction/register", body, "register")
        token = _data(answer).get("token")
        if not isinstance(token, str) or not token:
            raise PermanentError("Przelewy24 registered no token")
        return f"{self._base}/trnRequest/{token}"

    def read(self, body: bytes) -> Notification:
        return read_notification(body, self._crc, self._merchant_id)

    async def confirm(self, notification: Notification) -> date:
        body: dict[str, Any] = {
            "merchantId": self._merchant_id,
            "posId": self._pos_id,
            "sessionId": notification.session_id,
            "amount": to_grosze_count(notification.amount),
            "currency": notification.currency,
            "orderId": int(notification.order_id),
        }
        body["sign"] = sign(VERIFY_FIELDS, body, self._crc)
        answer = await self._call("PUT", "/api/v1/transaction/verify", body, "verify")
        if _data(answer).get("status") != "success":
            raise PermanentError("Przelewy24 did not verify the transaction")
        details = await self._call(
            "GET", f"/api/v1/transaction/by/sessionId/{notification.session_id}", None, "details"
        )
        when = _data(details).get("dateOfTransaction")
        try:
            # "2027-05-10 12:34:56", Polish time: the day is what counts.
            return date.fromisoformat(str(when)[:10])
        except ValueError:
            raise PermanentError("Przelewy24 gave no date of the transaction") from None

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, what: str
    ) -> dict[str, Any]:
        """One call; `what` names it in errors and logs (a path may hold our session id)."""
        try:
            async with self._http.request(
                method, self._base + path, json=body, headers=self._auth, timeout=self._timeout
            ) as response:
                if response.status >= 500 or response.status == 429:
                    raise RetryableError(f"Przelewy24 answered {response.status} to {what}")
                if response.status >= 400:
                    raise PermanentError(f"Przelewy24 answered {response.status} to {what}")
                answer = await response.json(content_type=None)
        except TimeoutError as exc:
            raise TimedOut(f"Przelewy24 did not answer {what} in time") from exc
        except aiohttp.ClientError as exc:
            log.warning("Przelewy24 %s failed: %s", what, type(exc).__name__)
            raise RetryableError(f"aiohttp.{type(exc).__name__}") from exc
        except ValueError as exc:
            raise PermanentError(f"Przelewy24's answer to {what} is not JSON") from exc
        if not isinstance(answer, dict):
            raise PermanentError(f"Przelewy24's answer to {what} is not an object")
        return answer


def _data(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("data")
    return data if isinstance(data, dict) else {}
