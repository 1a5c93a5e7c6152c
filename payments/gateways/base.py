"""What every gateway does, and what it tells us.

    Gateway.register       a payment about to start: the URL to send the resident to
    Gateway.read           a notification's body: its fields, once its signature holds
    Gateway.confirm        ask the operator to confirm a notified payment; the day it was paid

Errors: `ForgedNotification` (a signature that does not hold: answer 403), `InputError` (a body
that is not a notification: 400), `RetryableError` / `PermanentError` from the operator's API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from kernel.errors import InputError


class ForgedNotification(InputError):
    """A notification whose signature does not hold."""


@dataclass(frozen=True)
class Registration:
    session_id: str
    amount: Decimal
    currency: str
    description: str
    language: str
    return_url: str
    notify_url: str


@dataclass(frozen=True)
class Notification:
    """A payment the operator says was made; `order_id` is the operator's own id of it."""

    session_id: str
    amount: Decimal
    currency: str
    order_id: str


class Gateway(Protocol):
    name: str

    async def register(self, registration: Registration) -> str:
        """Register the transaction with the operator; the URL the resident pays at."""
        ...

    def read(self, body: bytes) -> Notification:
        """The notification in `body` once its signature holds."""
        ...

    async def confirm(self, notification: Notification) -> date:
        """The operator's confirmation that the payment counts; the day it was paid."""
        ...
