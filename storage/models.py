"""The obligations store: what each taxpayer owes, by when, and what they paid.

Money is whole grosze in a BIGINT, `Decimal` złoty in Python (`Money`); dates are calendar dates
in Europe/Warsaw; timestamps are aware UTC. Rows that come from the city's finance system carry
the reference the finance system gave them (`ref`) and a `row_hash` of the imported values, so
that re-importing the same file changes nothing and a changed row updates its record in place.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    type_coerce,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from kernel.money import from_grosze_count, to_grosze_count


class Money(TypeDecorator[Decimal]):
    """Złoty as `Decimal` in Python, whole grosze as an integer in the database.

    One exact type on both engines: SQLite kept `Numeric(12, 2)` as REAL or INTEGER row by row,
    so a SUM in SQL was a float there. A fraction of a grosz is refused, never rounded.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        return None if value is None else to_grosze_count(Decimal(value))

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_grosze_count(int(value))


def as_money(expression: ColumnElement[Any]) -> ColumnElement[Decimal]:
    """Złoty from SQL arithmetic on money columns (`principal + interest`): SQLAlchemy types
    such an expression by the integer underneath, which would read as grosze. (A bare column,
    or SUM of one, keeps `Money` by itself.)"""
    return type_coerce(expression, Money())


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both engines (SQLite keeps no zone, so it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Stable constraint names so that Alembic migrations read the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer primary keys that autoincrement on both engines (BIGINT on PostgreSQL, INTEGER on SQLite).
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ObligationKind(enum.StrEnum):
    PROPERTY_TAX = "property_tax"
    AGRICULTURAL_TAX = "agricultural_tax"
    FOREST_TAX = "forest_tax"
    VEHICLE_TAX = "vehicle_tax"
    WASTE_FEE = "waste_fee"
    DOG_FEE = "dog_fee"
    PERPETUAL_USUFRUCT = "perpetual_usufruct"
    OTHER_FEE = "other_fee"


class InterestTable(enum.StrEnum):
    """Which statutory interest a levy accrues when late."""

    TAX = "tax"  # odsetki za zwłokę, OP art. 56
    CIVIL = "civil"  # odsetki ustawowe za opóźnienie, KC art. 481 (perpetual usufruct)


class ContactKind(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"


def display_name(first_name: str, last_name: str) -> str:
    """A person's "first last", or a company's name alone (it has no first name)."""
    return f"{first_name} {last_name}".strip()


class Taxpayer(Base):
    __tablename__ = "taxpayers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    pesel: Mapped[str | None] = mapped_column(String(11), index=True)
    nip: Mapped[str | None] = mapped_column(String(10), index=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200), default="")
    building: Mapped[str] = mapped_column(String(20), default="")
    flat: Mapped[str] = mapped_column(String(20), default="")
    postal_code: Mapped[str] = mapped_column(String(6), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    district: Mapped[str] = mapped_column(String(100), default="", index=True)
    language: Mapped[str] = mapped_column(String(2), default="pl")
    # The taxpayer's individual ("virtual") 26-digit NRB: a credit to it identifies the payer.
    account_number: Mapped[str | None] = mapped_column(String(26), unique=True)
    row_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())

    contacts: Mapped[list[Contact]] = relationship(back_populates="taxpayer")

    @property
    def display_name(self) -> str:
        return display_name(self.first_name, self.last_name)


class Contact(Base):
    """A way to reach a taxpayer, where it came from, and the consent to use it for notices."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("taxpayer_id", "kind", "value"),
        Index("ix_contacts_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # Normalised: E.164 for phones, lower-case for e-mail addresses.
    value: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(32))  # import, chat, portal, staff
    notify_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_source: Mapped[str | None] = mapped_column(String(32))
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())

    taxpayer: Mapped[Taxpayer] = relationship(back_populates="contacts")


class Obligation(Base):
    """One instalment of one levy, as the city's decision or declaration set it."""

    __tablename__ = "obligations"
    __table_args__ = (Index("ix_obligations_taxpayer_due", "taxpayer_id", "due_date"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    year: Mapped[int] = mapped_column(Integer)
    installment: Mapped[int] = mapped_column(Integer, default=1)
    # The statutory last day; the effective due date (working days, late delivery) is derived.
    due_date: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    decision_ref: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # OP art. 47 §2: a decision delivered under 14 days before a deadline moves it.
    decision_delivered_on: Mapped[date | None] = mapped_column(Date, index=True)
    row_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Payment(Base):
    """Money received: from the finance system's export, a bank statement or a gateway.

    A payment names only its own taxpayer's obligation (migration 0005: a composite foreign key
    on PostgreSQL, triggers on SQLite); its allocations add up to at most its amount (0004).
    """

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ref: Mapped[str] = mapped_column(String(128), unique=True)
    taxpayer_id: Mapped[int] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="CASCADE"), index=True
    )
    # Set when the payer named the liability (OP art. 62 §1); otherwise the ledger allocates.
    obligation_id: Mapped[int | None] = mapped_column(
        ForeignKey("obligations.id", ondelete="SET NULL"), index=True
    )
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    source: Mapped[str] = mapped_column(String(32), default="import")
    row_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Allocation(Base):
    """Which part of a payment went to which obligation, split into principal and interest.

    Derived by the ledger and rewritten for a taxpayer whenever their obligations or payments
    change; `obligation_id` is NULL for the part kept as an overpayment.
    """

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    obligation_id: Mapped[int | None] = mapped_column(
        ForeignKey("obligations.id", ondelete="CASCADE"), index=True
    )
    principal: Mapped[Decimal] = mapped_column(Money())
    interest: Mapped[Decimal] = mapped_column(Money())


class InterestRate(Base):
    """Statutory interest rates as data the city can extend (`gmina rates set`)."""

    __tablename__ = "interest_rates"
    __table_args__ = (UniqueConstraint("table_name", "effective_from"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(16))
    effective_from: Mapped[date] = mapped_column(Date)
    rate_percent: Mapped[Decimal] = mapped_column(Numeric(7, 3, asdecimal=True))


class ImportRun(Base):
    """A record of each import, for the operator's audit trail."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


# The conversation tables, unmatched bank credits and others live on the same metadata;
# imported last, as they build on the above.
import storage.booking_models  # noqa: E402, F401
import storage.conversation_models  # noqa: E402, F401

# Outbound delivery builds on the taxpayers above.
import storage.outbox_models  # noqa: E402, F401

# The staff panel's sign-in defences: failed logins, sessions ended before their time.
import storage.panel_models  # noqa: E402, F401

# Online payment: payment links and gateway transactions.
import storage.payment_models  # noqa: E402, F401

# The notifier's preference history and reminder coverage.
import storage.reminder_models  # noqa: E402, F401

# Staff and their broadcasts, which go out through the outbox.
import storage.staff_models  # noqa: E402, F401
