"""A local peer that speaks the part of Przelewy24's REST API (v1) we call, and pays.

    POST /api/v1/transaction/register          HTTP Basic posId:apiKey; checks the sign
                                               (SHA-384 of sessionId, merchantId, amount,
                                               currency, crc) → {"data": {"token"}}
    GET  /trnRequest/{token}                   the payer's page: here it pays at once, sending
                                               the signed notification to urlStatus, and
                                               answers 302 to urlReturn
    PUT  /api/v1/transaction/verify            checks the sign (sessionId, orderId, amount,
                                               currency, crc) and that the order was paid
    GET  /api/v1/transaction/by/sessionId/{id} → {"data": {"dateOfTransaction", ...}}

Notifications are signed as Przelewy24 signs them: SHA-384 of the compact JSON of merchantId,
posId, sessionId, amount, originAmount, currency, orderId, methodId, statement and crc, without
escaped unicode or slashes (written here on its own, not with the code under test). Switches per
test: `wrong_sign`, `changed_amount` (grosze added), `repeat` (the same notification twice), and
`hang` (verify does not answer until `release`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

MERCHANT_ID = 123456
API_KEY = "peer-api-key"
CRC = "peer-crc-key"
# What the peer reports as the day of the transaction: a Warsaw date and time.
DATE_OF_TRANSACTION = "2027-05-10 12:34:56"


def p24_sign(values: dict[str, Any]) -> str:
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha384(text.encode("utf-8")).hexdigest()


@dataclass
class Registered:
    body: dict[str, Any]
    order_id: int
    paid: bool = False


@dataclass
class Przelewy24Peer:
    wrong_sign: bool = False
    changed_amount: int = 0
    repeat: bool = False
    hang: bool = False
    registered: dict[str, Registered] = field(default_factory=dict)
    # What urlStatus answered to each notification: (status, JSON body).
    notified: list[tuple[int, Any]] = field(default_factory=list)
    verified: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _orders: itertools.count[int] = field(default_factory=lambda: itertools.count(900_000_001))
    _hung: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """End every hanging answer (before the peer stops, so it stops at once)."""
        self._hung.set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/transaction/register", self._register)
        app.router.add_put("/api/v1/transaction/verify", self._verify)
        app.router.add_get("/api/v1/transaction/by/sessionId/{session_id}", self._by_session)
        app.router.add_get("/trnRequest/{token}", self._pay)
        return app

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{MERCHANT_ID}:{API_KEY}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _refuse(self, status: int, why: str) -> web.Response:
        self.refused.append(why)
        return web.json_response({"error": why, "code": status}, status=status)

    async def _register(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._refuse(401, "Incorrect authentication")
        body = await request.json()
        signed = {
            "sessionId": body["sessionId"],
            "merchantId": body["merchantId"],
            "amount": body["amount"],
            "currency": body["currency"],
            "crc": CRC,
        }
        if body.get("sign") != p24_sign(signed):
            return self._refuse(400, "Incorrect sign")
        for name in ("posId", "description", "urlReturn", "urlStatus", "country", "language"):
            if name not in body:
                return self._refuse(400, f"Missing {name}")
        token = f"TOKEN-{next(self._orders)}"
        self.registered[token] = Registered(body, order_id=next(self._orders))
        return web.json_response({"data": {"token": token}, "responseCode": 0})

    def notification(self, registered: Registered) -> dict[str, Any]:
        body = registered.body
        amount = body["amount"] + self.changed_amount
        values: dict[str, Any] = {
            "merchantId": MERCHANT_ID,
            "posId": MERCHANT_ID,
            "sessionId": body["sessionId"],
            "amount": amount,
            "originAmount": amount,
            "currency": body["currency"],
            "orderId": registered.order_id,
            "methodId": 25,
            "statement": f"p24-{registered.order_id}",
        }
        values["sign"] = p24_sign({**values, "crc": "not-the-crc" if self.wrong_sign else CRC})
        return values

    async def _pay(self, request: web.Request) -> web.Response:
        registered = self.registered.get(request.match_info["token"])
        if registered is None:
            return self._refuse(404, "Unknown token")
        registered.paid = True
        times = 2 if self.repeat else 1
        async with aiohttp.ClientSession() as http:
            for _ in range(times):
                async with http.post(
                    registered.body["urlStatus"], json=self.notification(registered)
                ) as answer:
                    self.notified.append((answer.status, await answer.json()))
        raise web.HTTPFound(registered.body["urlReturn"])

    def _by_session_id(self, session_id: str) -> Registered | None:
        for registered in self.registered.values():
            if registered.body["sessionId"] == session_id:
                return registered
        return None

    async def _verify(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._refuse(401, "Incorrect authentication")
        if self.hang:
            await self._hung.wait()
            return self._refuse(504, "Hung up")
        body = await request.json()
        self.verified.append(body)
        signed = {
            "sessionId": body["sessionId"],
            "orderId": body["orderId"],
            "amount": body["amount"],
            "currency": body["currency"],
            "crc": CRC,
        }
        registered = self._by_session_id(body["sessionId"])
        if body.get("sign") != p24_sign(signed):
            return self._refuse(400, "Incorrect sign")
        if (
            registered is None
            or not registered.paid
            or registered.order_id != body["orderId"]
            or registered.body["amount"] != body["amount"]
        ):
            return self._refuse(400, "Transaction not found")
        return web.json_response({"data": {"status": "success"}, "responseCode": 0})

    async def _by_session(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._refuse(401, "Incorrect authentication")
        registered = self._by_session_id(request.match_info["session_id"])
        if registered is None:
            return self._refuse(404, "Transaction not found")
        return web.json_response(
            {
                "data": {
                    "orderId": registered.order_id,
                    "sessionId": registered.body["sessionId"],
                    "status": 2 if registered.paid else 0,
                    "amount": registered.body["amount"],
                    "currency": registered.body["currency"],
                    "date": DATE_OF_TRANSACTION,
                    "dateOfTransaction": DATE_OF_TRANSACTION,
                },
                "responseCode": 0,
            }
        )
