"""The demo gateway for `make run`: a page of our own stands in for the operator.

`register` sends the resident to `/pay/demo/<session id>`, where a button approves or declines
(payments.web). Approving posts a notification to our notification route exactly as Przelewy24
would, signed with `payments.demo.crc`; declining sends nothing, so nothing changes. The operator's
date of an approved payment is today in Warsaw.
"""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal
from typing import Any

from kernel.clock import Clock, today_in_warsaw
from kernel.money import to_grosze_count
from kernel.settings import DemoGatewaySettings
from payments.gateways.base import Notification, Registration
from payments.gateways.signing import NOTIFICATION_FIELDS, read_notification, sign

DEMO_MERCHANT_ID = 1
DEMO_PATH = "/pay/demo/"


class DemoGateway:
    name = "demo"

    def __init__(self, settings: DemoGatewaySettings, base_url: str, clock: Clock) -> None:
        self._crc = settings.crc
        self._base = base_url
        self._clock = clock

    async def register(self, registration: Registration) -> str:
        return f"{self._base}{DEMO_PATH}{registration.session_id}"

    def read(self, body: bytes) -> Notification:
        return read_notification(body, self._crc, DEMO_MERCHANT_ID)

    async def confirm(self, notification: Notification) -> date:
        return today_in_warsaw(self._clock)

    def notification(self, session_id: str, amount: Decimal, currency: str) -> dict[str, Any]:
        """The signed notification of an approved payment, as Przelewy24 words it."""
        grosze = to_grosze_count(amount)
        body: dict[str, Any] = {
            "merchantId": DEMO_MERCHANT_ID,
            "posId": DEMO_MERCHANT_ID,
            "sessionId": session_id,
            "amount": grosze,
            "originAmount": grosze,
            "currency": currency,
            "orderId": secrets.randbelow(10**9) + 1,
            "methodId": 0,
            "statement": "demo",
        }
        body["sign"] = sign(NOTIFICATION_FIELDS, body, self._crc)
        return body
