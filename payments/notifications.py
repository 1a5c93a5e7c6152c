"""A gateway's notification of a payment, taken once.

`accept_notification` is called with a notification whose signature already holds (the gateway's
`read`). In order:

1. the transaction it names must be ours, registered at this gateway (else UNKNOWN_SESSION);
2. one already paid is a repeat: nothing more happens (REPEATED);
3. the amount and currency must be the ones registered (else MISMATCH);
4. the operator confirms it (Przelewy24's `transaction/verify`) and says the day it was paid; no
   database session is open meanwhile;
5. in one database transaction: the transaction moves from registered to paid (only one of two
   notifications racing can move it), the payment is booked through the one booking command
   (`storage.bookings`), which allocates it by the ledger's rules, and a receipt is queued in the
   outbox to the chat that asked for the link (an SMS one with its segments, measured by the
   `measure_sms` the server hands in: the notifier's `SmsMeter`, which payments cannot import).

Nothing personal, no amount and no session id is logged at INFO or above: the transaction's
row id names it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock
from kernel.i18n import render
from kernel.money import format_plain
from payments.gateways.base import Gateway, Notification
from storage.balances import RateTableCache
from storage.bookings import Booking, book_payment
from storage.ledger import LedgerPolicy
from storage.outbox import Category, NewMessage, enqueue
from storage.payment_links import (
    Transaction,
    TransactionStatus,
    find_transaction,
    settle_transaction,
)

log = logging.getLogger(__name__)

# An outbox message with its SMS cost filled in (`notifier.sms_segments.SmsMeter.measured`).
MeasureSms = Callable[[NewMessage], NewMessage]


class Outcome(enum.StrEnum):
    BOOKED = "booked"
    REPEATED = "repeated"
    UNKNOWN_SESSION = "unknown_session"
    MISMATCH = "mismatch"


async def accept_notification(
    sessions: async_sessionmaker[AsyncSession],
    gateway: Gateway,
    clock: Clock,
    policy: LedgerPolicy,
    rates: RateTableCache,
    notified: Notification,
    measure_sms: MeasureSms | None = None,
) -> Outcome:
    async with sessions() as session:
        transaction = await find_transaction(session, notified.session_id)
    if transaction is None or transaction.gateway != gateway.name:
        log.warning("payments: a %s notification names no transaction of ours", gateway.name)
        return Outcome.UNKNOWN_SESSION
    if transaction.status == TransactionStatus.PAID:
        log.info("payments: transaction %s notified again; booked already", transaction.id)
        return Outcome.REPEATED
    if (notified.amount, notified.currency) != (transaction.amount, transaction.currency):
        log.warning(
            "payments: transaction %s refused: the notified amount or currency is not the "
            "registered one",
            transaction.id,
        )
        return Outcome.MISMATCH
    paid_on = await gateway.confirm(notified)
    async with sessions() as session:
        now = clock.now()
        moved = await settle_transaction(
            session,
            notified.session_id,
            TransactionStatus.PAID,
            now,
            provider_order_id=notified.order_id,
            paid_on=paid_on,
        )
        if not moved:
            log.info("payments: transaction %s settled meanwhile; booked once", transaction.id)
            return Outcome.REPEATED
        # Keyed by (the gateway, our session id): the same payment twice is booked once.
        await book_payment(
            session,
            Booking(
                taxpayer_id=transaction.taxpayer_id,
                source=gateway.name,
                external_ref=transaction.session_id,
                paid_on=paid_on,
                amount=transaction.amount,
            ),
            policy,
            rates=await rates.get(session),
        )
        await _queue_receipt(session, transaction, paid_on.isoformat(), clock, measure_sms)
        await session.commit()
    log.info("payments: transaction %s paid and booked", transaction.id)
    return Outcome.BOOKED


async def _queue_receipt(
    session: AsyncSession,
    transaction: Transaction,
    paid_on: str,
    clock: Clock,
    measure_sms: MeasureSms | None,
) -> None:
    if transaction.channel is None or transaction.recipient is None:
        return
    text = render(
        "utter_payment_receipt",
        transaction.language,
        {"amount": format_plain(transaction.amount), "paid_date": paid_on},
    )
    receipt = NewMessage(
        key=f"receipt:{transaction.session_id}",
        channel=transaction.channel,
        recipient=transaction.recipient,
        category=Category.RECEIPT,
        text=text,
        language=transaction.language,
        taxpayer_id=transaction.taxpayer_id,
    )
    if measure_sms is not None:
        receipt = measure_sms(receipt)
    await enqueue(session, [receipt], clock.now())
