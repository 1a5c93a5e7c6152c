"""Payment links and the gateway transactions started from them.

    create_payment_link    a link to some obligations of one taxpayer; returns the token once
    create_reminder_links  one link per reminder (by its outbox key), in one go; a reminder that
                           has its link already gets none more
    open_payment_link      the link a token names, while it has not expired (else None)
    register_transaction   a payment about to start at a gateway, with the amount it must confirm
    find_transaction       a transaction by our session id
    settle_transaction     registered → paid or failed, once; False when it was settled already

A token is 256 random bits (URL-safe base64) and only its SHA-256 is kept: the URL carries
nothing personal and a copy of the table opens no page. Nothing here commits: the caller owns the
transaction.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import InputError
from storage.models import Obligation, Taxpayer
from storage.payment_models import GatewayTransaction, PaymentLink, PaymentLinkObligation
from storage.sql import insert_on_conflict

TOKEN_BYTES = 32


class TransactionStatus(enum.StrEnum):
    REGISTERED = "registered"
    PAID = "paid"
    FAILED = "failed"


class NotTheTaxpayersObligation(InputError):
    """A payment link was asked for obligations that are not all the taxpayer's."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedPaymentLink:
    link_id: int
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class OpenLink:
    """What the payment page needs of a link: no name beyond initials."""

    id: int
    taxpayer_id: int
    taxpayer_ref: str
    initials: str
    account_number: str | None
    language: str
    obligation_refs: tuple[str, ...]
    expires_at: datetime


def initials(first_name: str, last_name: str) -> str:
    """`J. K.` for Jan Kowalski; a company (no first name) by the first letter of its name."""
    return " ".join(f"{part[0].upper()}." for part in (first_name, last_name) if part.strip())


async def create_payment_link(
    session: AsyncSession,
    taxpayer_id: int,
    obligation_refs: Sequence[str],
    now: datetime,
    ttl: timedelta,
    *,
    language: str,
    source: str,
    channel: str | None = None,
    recipient: str | None = None,
) -> IssuedPaymentLink:
    """A new link to these obligations of the taxpayer; the receipt of a payment made through it
    goes to `channel`/`recipient` when given."""
    refs = list(dict.fromkeys(obligation_refs))
    if not refs:
        raise NotTheTaxpayersObligation("a payment link needs at least one obligation")
    ids = list(
        (
            await session.execute(
                select(Obligation.id).where(
                    Obligation.taxpayer_id == taxpayer_id, Obligation.ref.in_(refs)
                )
            )
        ).scalars()
    )
    if len(ids) != len(refs):
        raise NotTheTaxpayersObligation("an obligation is not the taxpayer's")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + ttl
    link_id: int = (
        await session.execute(
            insert(PaymentLink)
            .values(
                token_hash=token_hash(token),
                taxpayer_id=taxpayer_id,
                language=language,
                source=source,
                channel=channel,
                recipient=recipient,
                created_at=now,
                expires_at=expires_at,
            )
            .returning(PaymentLink.id)
        )
    ).scalar_one()
    await session.execute(
        insert(PaymentLinkObligation),
        [{"link_id": link_id, "obligation_id": obligation_id} for obligation_id in ids],
    )
    return IssuedPaymentLink(link_id, token, expires_at)


@dataclass(frozen=True)
class ReminderLinkRequest:
    """The link a reminder hands out: its outbox key, whose obligations, where it goes."""

    reminder_key: str
    taxpayer_id: int
    obligation_ids: tuple[int, ...]
    language: str
    channel: str
    recipient: str


async def create_reminder_links(
    session: AsyncSession,
    requests: Sequence[ReminderLinkRequest],
    now: datetime,
    ttl: timedelta,
    *,
    source: str,
) -> dict[str, IssuedPaymentLink]:
    """A new link for each reminder that has none yet, by reminder key; a reminder whose link
    exists (its day planned before, or by another process now) is left out: its token is not
    kept, and its message is queued already. The receipt of a payment goes to the reminder's
    channel and recipient. The obligations are the planner's own ids, of the taxpayer."""
    if not requests:
        return {}
    tokens = {request.reminder_key: secrets.token_urlsafe(TOKEN_BYTES) for request in requests}
    expires_at = now + ttl
    inserted = await session.execute(
        insert_on_conflict(session, PaymentLink)
        .on_conflict_do_nothing(index_elements=["reminder_key"])
        .returning(PaymentLink.id, PaymentLink.reminder_key),
        [
            {
                "token_hash": token_hash(tokens[request.reminder_key]),
                "taxpayer_id": request.taxpayer_id,
                "language": request.language,
                "source": source,
                "channel": request.channel,
                "recipient": request.recipient,
                "created_at": now,
                "expires_at": expires_at,
                "reminder_key": request.reminder_key,
            }
            for request in requests
        ],
    )
    link_ids = {str(key): int(link_id) for link_id, key in inserted.all()}
    covered = [
        {"link_id": link_ids[request.reminder_key], "obligation_id": obligation_id}
        for request in requests
        if request.reminder_key in link_ids
        for obligation_id in request.obligation_ids
    ]
    if covered:
        await session.execute(insert(PaymentLinkObligation), covered)
    return {
        key: IssuedPaymentLink(link_id, tokens[key], expires_at)
        for key, link_id in link_ids.items()
    }


async def open_payment_link(session: AsyncSession, token: str, now: datetime) -> OpenLink | None:
    """The link of this token, or None when no link has it or it has expired. One query: the
    link with its taxpayer, a row per obligation it covers (due first)."""
    rows = (
        await session.execute(
            select(
                PaymentLink.id,
                PaymentLink.taxpayer_id,
                PaymentLink.language,
                PaymentLink.expires_at,
                Taxpayer.ref,
                Taxpayer.first_name,
                Taxpayer.last_name,
                Taxpayer.account_number,
                Obligation.ref.label("obligation_ref"),
            )
            .join(Taxpayer, Taxpayer.id == PaymentLink.taxpayer_id)
            .outerjoin(PaymentLinkObligation, PaymentLinkObligation.link_id == PaymentLink.id)
            .outerjoin(Obligation, Obligation.id == PaymentLinkObligation.obligation_id)
            .where(PaymentLink.token_hash == token_hash(token))
            .order_by(Obligation.due_date, Obligation.ref)
        )
    ).all()
    if not rows or rows[0].expires_at <= now:
        return None
    row = rows[0]
    return OpenLink(
        id=row.id,
        taxpayer_id=row.taxpayer_id,
        taxpayer_ref=row.ref,
        initials=initials(row.first_name, row.last_name),
        account_number=row.account_number,
        language=row.language,
        obligation_refs=tuple(r.obligation_ref for r in rows if r.obligation_ref is not None),
        expires_at=row.expires_at,
    )


@dataclass(frozen=True)
class Transaction:
    id: int
    session_id: str
    link_id: int
    taxpayer_id: int
    taxpayer_ref: str
    gateway: str
    amount: Decimal
    currency: str
    status: TransactionStatus
    provider_order_id: str | None
    paid_on: date | None
    # Where the receipt goes: the chat that asked for the link, and its language.
    language: str
    channel: str | None
    recipient: str | None


async def register_transaction(
    session: AsyncSession,
    *,
    link_id: int,
    taxpayer_id: int,
    session_id: str,
    gateway: str,
    amount: Decimal,
    currency: str,
    now: datetime,
) -> None:
    await session.execute(
        insert(GatewayTransaction).values(
            session_id=session_id,
            link_id=link_id,
            taxpayer_id=taxpayer_id,
            gateway=gateway,
            amount=amount,
            currency=currency,
            status=TransactionStatus.REGISTERED,
            created_at=now,
            updated_at=now,
        )
    )


async def find_transaction(session: AsyncSession, session_id: str) -> Transaction | None:
    tx = GatewayTransaction
    row = (
        await session.execute(
            select(
                tx.id,
                tx.session_id,
                tx.link_id,
                tx.taxpayer_id,
                Taxpayer.ref,
                tx.gateway,
                tx.amount,
                tx.currency,
                tx.status,
                tx.provider_order_id,
                tx.paid_on,
                PaymentLink.language,
                PaymentLink.channel,
                PaymentLink.recipient,
            )
            .join(PaymentLink, PaymentLink.id == tx.link_id)
            .join(Taxpayer, Taxpayer.id == tx.taxpayer_id)
            .where(tx.session_id == session_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return Transaction(
        id=row.id,
        session_id=row.session_id,
        link_id=row.link_id,
        taxpayer_id=row.taxpayer_id,
        taxpayer_ref=row.ref,
        gateway=row.gateway,
        amount=row.amount,
        currency=row.currency,
        status=TransactionStatus(row.status),
        provider_order_id=row.provider_order_id,
        paid_on=row.paid_on,
        language=row.language,
        channel=row.channel,
        recipient=row.recipient,
    )


async def settle_transaction(
    session: AsyncSession,
    session_id: str,
    status: TransactionStatus,
    now: datetime,
    *,
    provider_order_id: str | None = None,
    paid_on: date | None = None,
) -> bool:
    """Move a registered transaction to `status`; False when it had been settled already (a
    repeated notification, or two at once: only one of them moves it)."""
    result = await session.execute(
        update(GatewayTransaction)
        .where(
            GatewayTransaction.session_id == session_id,
            GatewayTransaction.status == TransactionStatus.REGISTERED,
        )
        .values(status=status, provider_order_id=provider_order_id, paid_on=paid_on, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
