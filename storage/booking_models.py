"""The table of bank credits that matched no taxpayer, kept for staff (`storage.bookings`).

Defined on `storage.models.Base`. A payment always has a taxpayer; a credit whose credited
account is nobody's individual account waits here until staff assign it, which books it as a
payment through the same command as every other (`storage.bookings.assign_unmatched`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id, Money, UtcDateTime


class UnmatchedCredit(Base):
    """A credit on the city's statement that no taxpayer's individual account received."""

    __tablename__ = "unmatched_credits"
    __table_args__ = (
        UniqueConstraint("source", "external_ref"),
        # Those waiting for staff, oldest payment first (the panel pages through them).
        Index(
            "ix_unmatched_credits_open",
            "paid_on",
            "id",
            sqlite_where=text("assigned_at IS NULL"),
            postgresql_where=text("assigned_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    # The bank's reference of the transaction: the key a statement imported twice meets again.
    external_ref: Mapped[str] = mapped_column(String(96))
    # The account credited, as the bank wrote it (normalised to 26 digits where it is an NRB).
    account: Mapped[str] = mapped_column(String(34), default="")
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    counterparty: Mapped[str] = mapped_column(String(140), default="")
    counterparty_account: Mapped[str] = mapped_column(String(34), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    # Where it came from: the statement file's name.
    origin: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    # Set once staff assign it: the payment it became, when and by whom.
    payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL"), index=True
    )
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    assigned_by: Mapped[str | None] = mapped_column(String(64))
