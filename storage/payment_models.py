"""Tables of online payment: payment links and the transactions started from them at a gateway.

Defined on `storage.models.Base`; the functions that read and write them are in
`storage.payment_links`. A link's token is never stored, only its SHA-256; a transaction is
registered before the resident is sent to the gateway and records what the gateway must confirm.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id, Money, UtcDateTime


class PaymentLink(Base):
    """A link to the payment page of some obligations of one taxpayer."""

    __tablename__ = "payment_links"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # SHA-256 of the token, hex: a leaked table opens no page.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    taxpayer_id: Mapped[int] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="CASCADE"), index=True
    )
    # The page's language: the one the resident was talking in when the link was made.
    language: Mapped[str] = mapped_column(String(2))
    # Who handed it out: chat, reminder, email, telegram …
    source: Mapped[str] = mapped_column(String(16))
    # The chat that asked for it, where the receipt goes back (None: no chat, no receipt).
    channel: Mapped[str | None] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The outbox key of the reminder that carries it: one link per reminder, however often
    # the day is planned.
    reminder_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class PaymentLinkObligation(Base):
    """One obligation a link covers."""

    __tablename__ = "payment_link_obligations"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("payment_links.id", ondelete="CASCADE"), primary_key=True
    )
    obligation_id: Mapped[int] = mapped_column(
        ForeignKey("obligations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class GatewayTransaction(Base):
    """A payment started at a gateway: registered, then paid or failed, booked once."""

    __tablename__ = "gateway_transactions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Ours, sent to the gateway and named in its notification; random, carries nothing personal.
    session_id: Mapped[str] = mapped_column(String(64), unique=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("payment_links.id", ondelete="CASCADE"), index=True
    )
    taxpayer_id: Mapped[int] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="CASCADE"), index=True
    )
    gateway: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    # registered → paid | failed; only `registered` moves.
    status: Mapped[str] = mapped_column(String(16))
    # The gateway's own id of the transaction (Przelewy24's orderId), once it tells us.
    provider_order_id: Mapped[str | None] = mapped_column(String(64))
    # The day the operator says the money was paid, once paid.
    paid_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
