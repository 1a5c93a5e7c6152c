"""Przelewy24's signatures: SHA-384 of a compact JSON object of the named fields and the CRC key,
without escaped unicode or slashes. The demo gateway signs the same way."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from kernel import jsonsafe
from kernel.errors import InputError
from kernel.money import from_grosze_count
from payments.gateways.base import ForgedNotification, Notification

REGISTER_FIELDS = ("sessionId", "merchantId", "amount", "currency")
NOTIFICATION_FIELDS = (
    "merchantId",
    "posId",
    "sessionId",
    "amount",
    "originAmount",
    "currency",
    "orderId",
    "methodId",
    "statement",
)
VERIFY_FIELDS = ("sessionId", "orderId", "amount", "currency")


def sign(fields: tuple[str, ...], values: Mapping[str, Any], crc: str) -> str:
    signed = {name: values[name] for name in fields} | {"crc": crc}
    text = json.dumps(signed, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha384(text.encode("utf-8")).hexdigest()


def signature_holds(fields: tuple[str, ...], values: Mapping[str, Any], crc: str) -> bool:
    given = values.get("sign")
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), sign(fields, values, crc).encode())


def read_notification(body: bytes, crc: str, merchant_id: int | None) -> Notification:
    """A Przelewy24 notification (JSON: the fields above and `sign`) whose signature holds and
    which names our merchant; `InputError` for a body that is not one, `ForgedNotification` for
    a signature that does not hold."""
    values = jsonsafe.loads(body)
    if not isinstance(values, dict):
        raise InputError("a notification is a JSON object")
    for name in NOTIFICATION_FIELDS:
        if name not in values:
            raise InputError(f"{name}: missing")
    integers = ("merchantId", "posId", "amount", "originAmount", "orderId", "methodId")
    for name in integers:
        if isinstance(values[name], bool) or not isinstance(values[name], int):
            raise InputError(f"{name}: must be a whole number")
    for name in ("sessionId", "currency", "statement"):
        if not isinstance(values[name], str):
            raise InputError(f"{name}: must be a string")
    if not signature_holds(NOTIFICATION_FIELDS, values, crc):
        raise ForgedNotification("the notification's sign does not hold")
    if merchant_id is not None and values["merchantId"] != merchant_id:
        raise ForgedNotification("the notification names another merchant")
    return Notification(
        session_id=values["sessionId"],
        amount=from_grosze_count(values["amount"]),
        currency=values["currency"],
        order_id=str(values["orderId"]),
    )
