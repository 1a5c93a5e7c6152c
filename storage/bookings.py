"""The one way money is booked: a payment for a taxpayer, once per (source, external reference).

Gateway notifications, bank statements and staff assignments all book through `book_payments`
(`book_payment` for one): it takes the taxpayers' locks (their rows, in id order, until the
transaction ends), books each payment whose key is new, returns the one already booked for a key
seen before, and rewrites the allocations of the taxpayers concerned by the ledger's rules.

A credit that matches no taxpayer is not a payment (a payment always has a taxpayer): it is kept
in `unmatched_credits` (`keep_unmatched`), listed for staff (`list_unmatched`) and booked by hand
(`assign_unmatched`, audited), through the same `book_payments`.

Nothing here commits: the caller owns the transaction.

Exceptions:

    BookingConflict      (ConflictError) the key was booked before with other facts
    UnknownCredit        (NotFoundError) no unmatched credit has the reference given
    AlreadyAssigned      (ConflictError) the credit was assigned before
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kernel.errors import ConflictError, InputError, NotFoundError
from kernel.money import to_grosze_count
from storage.audit import audit
from storage.balances import load_rate_tables, refresh_allocations
from storage.booking_models import UnmatchedCredit
from storage.ledger import LedgerPolicy, RateTable
from storage.models import Base, Payment, Taxpayer
from storage.sql import (
    IDS_PER_STATEMENT,
    among,
    analyze_after_load,
    chunks,
    insert_on_conflict,
    insert_rows,
    lock_rows,
)
from storage.taxpayers import taxpayer_id_by_ref

__all__ = [
    "BANK_SOURCE",
    "MAX_EXTERNAL_REF",
    "AlreadyAssigned",
    "Booked",
    "Booking",
    "BookingConflict",
    "Credit",
    "CreditsBooked",
    "UnknownCredit",
    "UnmatchedRow",
    "assign_unmatched",
    "book_credits",
    "book_payment",
    "book_payments",
    "count_unmatched",
    "keep_unmatched",
    "list_unmatched",
    "payment_ref",
    "taxpayer_ids_by_account",
    "unmatched_credit",
]

_taxpayers = Base.metadata.tables[Taxpayer.__tablename__]
_payments = Base.metadata.tables[Payment.__tablename__]
_unmatched = Base.metadata.tables[UnmatchedCredit.__tablename__]

# The source of credits read from the city's bank statements.
BANK_SOURCE: Final = "bank"
# A source names where money came from: `bank`, `przelewy24`, `demo`, … (no `:` in it, so that
# the payment's ref `source:external_ref` names one key only).
_SOURCE = re.compile(r"[a-z0-9_-]{1,32}")
# `payments.ref` holds 128 characters: the source, a colon and the external reference.
MAX_EXTERNAL_REF: Final = 96

_PAYMENT_INSERT_COLUMNS: Final = (
    "ref", "taxpayer_id", "obligation_id", "paid_on", "amount", "source", "row_hash",
)  # fmt: skip


class BookingConflict(ConflictError):
    """Keys booked before for another taxpayer, amount, date or obligation (`refs`)."""

    def __init__(self, refs: Sequence[str]) -> None:
        self.refs = tuple(refs)
        more = f" and {len(self.refs) - 1} more" if len(self.refs) > 1 else ""
        super().__init__(f"payment {self.refs[0]}{more} was booked before with other facts")


class UnknownCredit(NotFoundError):
    """No unmatched credit has this reference."""


class AlreadyAssigned(ConflictError):
    """The unmatched credit was assigned to a taxpayer before."""


@dataclass(frozen=True)
class Booking:
    """Money received for a taxpayer, keyed by where it came from and that source's reference
    (the bank's transaction reference, the gateway's session id)."""

    taxpayer_id: int
    source: str
    external_ref: str
    paid_on: date
    amount: Decimal
    # Set when the payer named the liability (OP art. 62 §1); otherwise the ledger allocates.
    obligation_id: int | None = None

    @functools.cached_property
    def ref(self) -> str:
        # Asked for several times a booking by `book_payments`: checked and built once.
        return payment_ref(self.source, self.external_ref)


@dataclass(frozen=True)
class Booked:
    """The payment a booking is recorded as; `created` is False when the key was booked before."""

    payment_id: int
    ref: str
    taxpayer_id: int
    created: bool


def payment_ref(source: str, external_ref: str) -> str:
    """The `payments.ref` of a booking: unique exactly when (source, external_ref) is."""
    if not _SOURCE.fullmatch(source):
        raise InputError(f"a payment source is 1–32 of a-z, 0-9, _ and -, not {source!r}")
    external_ref = external_ref.strip()
    if not external_ref or len(external_ref) > MAX_EXTERNAL_REF:
        raise InputError(f"an external reference is 1–{MAX_EXTERNAL_REF} characters")
    return f"{source}:{external_ref}"


def _row_hash(booking: Booking) -> str:
    values = (
        booking.ref, booking.taxpayer_id, booking.obligation_id, booking.paid_on.isoformat(),
        to_grosze_count(booking.amount), booking.source,
    )  # fmt: skip
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def _same_facts(booking: Booking, row: Any) -> bool:
    return bool(
        row.taxpayer_id == booking.taxpayer_id
        and row.amount == booking.amount
        and row.paid_on == booking.paid_on
        and row.obligation_id == booking.obligation_id
    )


async def _booked_by_ref(connection: AsyncConnection, refs: Sequence[str]) -> dict[str, Any]:
    """The payments already booked under these refs, by ref."""
    found: dict[str, Any] = {}
    columns = (
        _payments.c.id, _payments.c.ref, _payments.c.taxpayer_id, _payments.c.obligation_id,
        _payments.c.paid_on, _payments.c.amount,
    )  # fmt: skip
    for chunk in chunks(refs, IDS_PER_STATEMENT):
        query = sa.select(*columns).where(among(connection, _payments.c.ref, chunk))
        for row in await connection.execute(query):
            found[row.ref] = row
    return found


async def book_payments(
    session: AsyncSession,
    bookings: Sequence[Booking],
    policy: LedgerPolicy,
    *,
    rates: Mapping[str, RateTable] | None = None,
) -> list[Booked]:
    """Book each payment once by its (source, external_ref); one `Booked` per booking, in order.

    Keys booked before are answered from the store at once (a payment booked is never changed
    or taken back by a booking). For the others it takes their taxpayers' locks, looks again
    (so two bookers of one key take turns and the second finds the first's payment), inserts
    the new payments, then rewrites the allocations of the taxpayers that got one. A key booked
    before with other facts (taxpayer, amount, date, obligation) raises `BookingConflict`;
    within `bookings`, a key repeated with the same facts books once. Amounts must be positive.
    """
    if not bookings:
        return []
    for booking in bookings:
        if booking.amount <= 0:
            raise InputError(f"a payment's amount must be positive ({booking.ref})")
    connection = await session.connection()
    on_record = await _booked_by_ref(connection, list({b.ref for b in bookings}))
    pending = [b for b in bookings if b.ref not in on_record]
    if pending:
        await lock_rows(connection, _taxpayers, sorted({b.taxpayer_id for b in pending}))
        on_record.update(await _booked_by_ref(connection, list({b.ref for b in pending})))
    new: dict[str, Booking] = {}
    conflicts: list[str] = []
    for booking in bookings:
        earlier = on_record.get(booking.ref)
        first = new.setdefault(booking.ref, booking) if earlier is None else None
        if (earlier is not None and not _same_facts(booking, earlier)) or (
            first is not None and first != booking
        ):
            conflicts.append(booking.ref)
    if conflicts:
        raise BookingConflict(conflicts)
    if new:
        rows = [
            (ref, b.taxpayer_id, b.obligation_id, b.paid_on, to_grosze_count(b.amount),
             b.source, _row_hash(b))
            for ref, b in new.items()
        ]  # fmt: skip
        # `created_at` is the store's own clock (its column default).
        await insert_rows(connection, _payments, _PAYMENT_INSERT_COLUMNS, rows)
        await analyze_after_load(connection, _payments, len(rows))
        on_record.update(await _booked_by_ref(connection, list(new)))
        touched = {b.taxpayer_id for b in new.values()}
        await refresh_allocations(
            session,
            touched,
            policy,
            rates if rates is not None else await load_rate_tables(session),
            appended=[on_record[ref].id for ref in new],
        )
    return [
        Booked(
            payment_id=on_record[b.ref].id,
            ref=b.ref,
            taxpayer_id=b.taxpayer_id,
            created=b.ref in new and new[b.ref] is b,
        )
        for b in bookings
    ]


async def book_payment(
    session: AsyncSession,
    booking: Booking,
    policy: LedgerPolicy,
    *,
    rates: Mapping[str, RateTable] | None = None,
) -> Booked:
    """Book one payment (see `book_payments`): the same key twice books once and answers the
    payment booked the first time, with `created` False."""
    (booked,) = await book_payments(session, [booking], policy, rates=rates)
    return booked


async def taxpayer_ids_by_account(session: AsyncSession, accounts: Sequence[str]) -> dict[str, int]:
    """The taxpayers whose individual account (26-digit NRB) is one of `accounts`, by account."""
    connection = await session.connection()
    found: dict[str, int] = {}
    wanted = sorted(set(accounts))
    for chunk in chunks(wanted, IDS_PER_STATEMENT):
        query = sa.select(_taxpayers.c.account_number, _taxpayers.c.id).where(
            among(connection, _taxpayers.c.account_number, chunk)
        )
        for account, taxpayer_id in await connection.execute(query):
            found[account] = taxpayer_id
    return found


# --- credits that matched no taxpayer ---------------------------------------------------------


@dataclass(frozen=True)
class Credit:
    """An incoming transfer as a bank reported it."""

    source: str
    external_ref: str
    # The account credited: a taxpayer's individual account when the payer used it.
    account: str
    paid_on: date
    amount: Decimal
    counterparty: str = ""
    counterparty_account: str = ""
    title: str = ""


@dataclass(frozen=True)
class UnmatchedRow:
    """An unmatched credit as staff see it; `taxpayer_ref` once assigned."""

    id: int
    source: str
    external_ref: str
    account: str
    paid_on: date
    amount: Decimal
    counterparty: str
    counterparty_account: str
    title: str
    origin: str
    created_at: datetime
    taxpayer_ref: str | None
    assigned_at: datetime | None
    assigned_by: str | None


async def keep_unmatched(
    session: AsyncSession, credits: Sequence[Credit], origin: str, now: datetime
) -> int:
    """Keep the credits for staff, each once by (source, external_ref); how many were new."""
    if not credits:
        return 0
    connection = await session.connection()
    keys = {(c.source, c.external_ref) for c in credits}
    known: set[tuple[str, str]] = set()
    for source in {c.source for c in credits}:
        refs = sorted(ref for s, ref in keys if s == source)
        for chunk in chunks(refs, IDS_PER_STATEMENT):
            result = await connection.execute(
                sa.select(_unmatched.c.external_ref).where(
                    _unmatched.c.source == source,
                    among(connection, _unmatched.c.external_ref, chunk),
                )
            )
            known.update((source, ref) for ref in result.scalars())
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for c in credits:
        key = (c.source, c.external_ref)
        if key in known or key in rows:
            continue
        payment_ref(c.source, c.external_ref)  # the same rules as a booking's key
        rows[key] = {
            "source": c.source, "external_ref": c.external_ref, "account": c.account[:34],
            "paid_on": c.paid_on, "amount": c.amount, "counterparty": c.counterparty[:140],
            "counterparty_account": c.counterparty_account[:34], "title": c.title[:200],
            "origin": origin[-200:], "created_at": now,
        }  # fmt: skip
    values = list(rows.values())
    for start in range(0, len(values), 1000):
        statement = insert_on_conflict(connection, _unmatched).on_conflict_do_nothing()
        await connection.execute(statement, values[start : start + 1000])
    return len(rows)


def _unmatched_query() -> sa.Select[UnmatchedCredit, str]:
    # The taxpayer's ref is NULL (None) while the credit is not assigned.
    return (
        sa.select(UnmatchedCredit, Taxpayer.ref)
        .outerjoin(Payment, Payment.id == UnmatchedCredit.payment_id)
        .outerjoin(Taxpayer, Taxpayer.id == Payment.taxpayer_id)
    )


def _unmatched_row(c: UnmatchedCredit, taxpayer_ref: str | None) -> UnmatchedRow:
    return UnmatchedRow(
        id=c.id,
        source=c.source,
        external_ref=c.external_ref,
        account=c.account,
        paid_on=c.paid_on,
        amount=c.amount,
        counterparty=c.counterparty,
        counterparty_account=c.counterparty_account,
        title=c.title,
        origin=c.origin,
        created_at=c.created_at,
        taxpayer_ref=taxpayer_ref,
        assigned_at=c.assigned_at,
        assigned_by=c.assigned_by,
    )  # fmt: skip


async def list_unmatched(
    session: AsyncSession,
    *,
    include_assigned: bool = False,
    after: tuple[date, int] | None = None,
    limit: int | None = None,
) -> list[UnmatchedRow]:
    """The unmatched credits, oldest payment first; assigned ones only when asked. A page of
    them: `limit` rows after the (paid_on, id) of the last row of the page before."""
    query = _unmatched_query().order_by(UnmatchedCredit.paid_on, UnmatchedCredit.id)
    if not include_assigned:
        query = query.where(UnmatchedCredit.assigned_at.is_(None))
    if after is not None:
        query = query.where(sa.tuple_(UnmatchedCredit.paid_on, UnmatchedCredit.id) > after)
    if limit is not None:
        query = query.limit(limit)
    return [_unmatched_row(credit, ref) for credit, ref in (await session.execute(query)).all()]


async def unmatched_credit(session: AsyncSession, credit_id: int) -> UnmatchedRow | None:
    """One unmatched credit by its id, assigned or not."""
    found = (
        await session.execute(_unmatched_query().where(UnmatchedCredit.id == credit_id))
    ).one_or_none()
    return None if found is None else _unmatched_row(found[0], found[1])


async def count_unmatched(session: AsyncSession) -> int:
    """How many credits wait for staff."""
    counted = await session.scalar(
        sa.select(sa.func.count())
        .select_from(UnmatchedCredit)
        .where(UnmatchedCredit.assigned_at.is_(None))
    )
    return int(counted or 0)


async def assign_unmatched(
    session: AsyncSession,
    external_ref: str,
    taxpayer_ref: str,
    *,
    actor: str,
    policy: LedgerPolicy,
    now: datetime,
    source: str = BANK_SOURCE,
) -> Booked:
    """Book an unmatched credit as the taxpayer's payment (`book_payment`), and audit it.

    Raises `UnknownCredit`, `storage.taxpayers.UnknownTaxpayer`, or `AlreadyAssigned` when the
    credit was assigned before (to this taxpayer or another).
    """
    taxpayer_id = await taxpayer_id_by_ref(session, taxpayer_ref)
    connection = await session.connection()
    external_ref = external_ref.strip()
    credit_id = (
        await connection.execute(
            sa.select(_unmatched.c.id).where(
                _unmatched.c.source == source, _unmatched.c.external_ref == external_ref
            )
        )
    ).scalar_one_or_none()
    if credit_id is None:
        raise UnknownCredit(f"no unmatched credit {source}:{external_ref}")
    # The credit's row is held until the transaction ends, and read again under the lock: two
    # staff assigning it take turns, and the second finds it assigned.
    await lock_rows(connection, _unmatched, [credit_id])
    credit = (
        await connection.execute(
            sa.select(_unmatched.c.paid_on, _unmatched.c.amount, _unmatched.c.assigned_at).where(
                _unmatched.c.id == credit_id
            )
        )
    ).one()
    if credit.assigned_at is not None:
        raise AlreadyAssigned(f"credit {source}:{external_ref} was assigned before")
    booked = await book_payment(
        session, Booking(taxpayer_id, source, external_ref, credit.paid_on, credit.amount), policy
    )
    await connection.execute(
        _unmatched.update()
        .where(_unmatched.c.id == credit_id)
        .values(payment_id=booked.payment_id, assigned_at=now, assigned_by=actor[:64])
    )
    await audit(
        session, actor, "payment.assign", taxpayer_id,
        {"source": source, "external_ref": external_ref, "payment_id": booked.payment_id},
        now,
    )  # fmt: skip
    return booked


# --- a bank statement's credits ---------------------------------------------------------------


@dataclass
class CreditsBooked:
    """What became of a statement's credits (`book_credits`)."""

    booked: int = 0
    already_booked: int = 0
    kept_unmatched: int = 0
    already_kept: int = 0


async def _kept_refs(connection: AsyncConnection, source: str, refs: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(refs, IDS_PER_STATEMENT):
        result = await connection.execute(
            sa.select(_unmatched.c.external_ref).where(
                _unmatched.c.source == source, among(connection, _unmatched.c.external_ref, chunk)
            )
        )
        found.update(result.scalars())
    return found


async def book_credits(
    session: AsyncSession,
    credits: Sequence[Credit],
    origin: str,
    policy: LedgerPolicy,
    now: datetime,
    *,
    dry_run: bool = False,
) -> CreditsBooked:
    """Book each credit paid to a taxpayer's individual account (`book_payments`) and keep the
    others for staff (`keep_unmatched`); a credit seen before, booked or kept, changes nothing.

    `credit.account` is the normalised 26-digit NRB paid to (or "" when the bank named none).
    A credit kept earlier stays with staff even if its account is a taxpayer's by now: staff
    assign it. With `dry_run` nothing is written: the counts say what would be done. A key
    booked before with other facts raises `BookingConflict` naming every such ref.
    """
    outcome = CreditsBooked()
    if not credits:
        return outcome
    connection = await session.connection()
    unique = list({(c.source, c.external_ref): c for c in credits}.values())
    owners = await taxpayer_ids_by_account(session, [c.account for c in unique if c.account])
    kept: set[tuple[str, str]] = set()
    for source in {c.source for c in unique}:
        refs = [c.external_ref for c in unique if c.source == source]
        kept.update((source, ref) for ref in await _kept_refs(connection, source, refs))
    outcome.already_kept = len(kept)
    fresh = [c for c in unique if (c.source, c.external_ref) not in kept]
    bookings = [
        Booking(owners[c.account], c.source, c.external_ref, c.paid_on, c.amount)
        for c in fresh
        if c.account in owners
    ]
    unmatched = [c for c in fresh if c.account not in owners]
    # A credit without a taxpayer now, booked earlier (by hand, or to an account since moved).
    booked_refs = await _booked_by_ref(
        connection, [payment_ref(c.source, c.external_ref) for c in unmatched]
    )
    outcome.already_booked += len(booked_refs)
    unmatched = [c for c in unmatched if payment_ref(c.source, c.external_ref) not in booked_refs]
    if dry_run:
        on_record = await _booked_by_ref(connection, [b.ref for b in bookings])
        conflicts = [
            b.ref for b in bookings if b.ref in on_record and not _same_facts(b, on_record[b.ref])
        ]
        if conflicts:
            raise BookingConflict(conflicts)
        outcome.already_booked += len(on_record)
        outcome.booked = len(bookings) - len(on_record)
        outcome.kept_unmatched = len(unmatched)
        return outcome
    booked = await book_payments(session, bookings, policy)
    outcome.booked = sum(b.created for b in booked)
    outcome.already_booked += len(booked) - outcome.booked
    outcome.kept_unmatched = await keep_unmatched(session, unmatched, origin, now)
    return outcome
