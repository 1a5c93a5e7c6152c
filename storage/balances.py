"""Balances from the store: the ledger (`storage.ledger`) fed by a few indexed Core queries.

A balance is always computed live from obligations and payments; the `allocations` table is a
derived record of the same computation, rewritten by `refresh_allocations` whenever a taxpayer's
obligations, payments or the interest rates change. Nothing here commits: the caller owns the
transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Row,
    String,
    Table,
    bindparam,
    cast,
    delete,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from kernel.clock import Clock
from kernel.money import format_plain, to_grosze_count
from storage.ledger import (
    LedgerObligation,
    LedgerPayment,
    LedgerPolicy,
    ObligationBalance,
    RateTable,
    allocate_payments,
    compute_ledger,
)
from storage.models import (
    Allocation,
    Base,
    InterestRate,
    InterestTable,
    Obligation,
    Payment,
    Taxpayer,
)
from storage.sql import among, insert_rows, lock_rows, upsert

if TYPE_CHECKING:
    AnyRow = Row[*tuple[Any, ...]]


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


# Core tables: a balance is read on every look-up and needs no ORM identity map.
_taxpayers = _table(Taxpayer)
_obligations = _table(Obligation)
_payments = _table(Payment)
_allocations = _table(Allocation)
_rates = _table(InterestRate)

# Taxpayers per round trip in `refresh_allocations` (a few thousand rows each way), and payments
# per DELETE: IN lists well under SQLite's limit of 32,766 parameters.
REFRESH_CHUNK = 2000
DELETE_CHUNK = 5000

_ALLOCATION_COLUMNS = ("payment_id", "obligation_id", "principal", "interest")
_OBLIGATION_COLUMNS = (
    _obligations.c.id,
    _obligations.c.ref,
    _obligations.c.kind,
    _obligations.c.due_date,
    _obligations.c.amount,
    _obligations.c.decision_delivered_on,
)
_PAYMENT_COLUMNS = (
    _payments.c.id,
    _payments.c.ref,
    _payments.c.paid_on,
    _payments.c.amount,
    _payments.c.obligation_id,
)

# A taxpayer's ledger in one round trip: its obligations, its payments up to `as_of`, and its
# own row (so a taxpayer with no levies is told from an unknown ref), told apart by `part`. The
# obligations come first: their columns give the union's types (dates, money).
_PART_OBLIGATION, _PART_PAYMENT, _PART_TAXPAYER = 1, 2, 3
_TAXPAYER_ID = (
    select(_taxpayers.c.id).where(_taxpayers.c.ref == bindparam("taxpayer_ref")).scalar_subquery()
)


def _part(number: int) -> ColumnElement[int]:
    return literal_column(str(number), Integer).label("part")


def _no(type_: type[TypeEngine[Any]]) -> ColumnElement[Any]:
    return cast(null(), type_)


_TAXPAYER_LEDGER = union_all(
    select(
        _part(_PART_OBLIGATION), _obligations.c.id, _obligations.c.ref, _obligations.c.kind,
        _obligations.c.due_date.label("day"), _obligations.c.amount,
        _obligations.c.decision_delivered_on, _no(Integer).label("obligation_id"),
    ).where(_obligations.c.taxpayer_id == _TAXPAYER_ID),
    select(
        _part(_PART_PAYMENT), _payments.c.id, _payments.c.ref, _no(String), _payments.c.paid_on,
        _payments.c.amount, _no(Date), _payments.c.obligation_id,
    ).where(_payments.c.taxpayer_id == _TAXPAYER_ID, _payments.c.paid_on <= bindparam("as_of")),
    select(
        _part(_PART_TAXPAYER), _taxpayers.c.id, _taxpayers.c.ref, _no(String), _no(Date),
        _no(BigInteger), _no(Date), _no(Integer),
    ).where(_taxpayers.c.ref == bindparam("taxpayer_ref")),
)  # fmt: skip


@dataclass(frozen=True)
class Balance:
    """What one taxpayer owes as of a day; only obligations with something outstanding."""

    taxpayer_ref: str
    as_of: date
    total: Decimal
    overdue: Decimal
    overpayment: Decimal
    obligations: tuple[ObligationBalance, ...]


@dataclass(frozen=True)
class InterestRateRow:
    table: str
    effective_from: date
    rate_percent: Decimal


def _ledger_obligation(row: AnyRow) -> LedgerObligation:
    return LedgerObligation(
        ref=row.ref,
        kind=row.kind,
        due_date=row.due_date,
        amount=row.amount,
        decision_delivered_on=row.decision_delivered_on,
    )


def _ledger_payment(row: AnyRow, obligation_refs: Mapping[int, str]) -> LedgerPayment:
    return LedgerPayment(
        ref=row.ref,
        paid_on=row.paid_on,
        amount=row.amount,
        obligation_ref=obligation_refs.get(row.obligation_id) if row.obligation_id else None,
    )


async def load_rate_tables(session: AsyncSession) -> dict[str, RateTable]:
    """Every interest-rate table in the store, by name (`tax`, `civil`)."""
    rows: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    result = await session.execute(
        select(_rates.c.table_name, _rates.c.effective_from, _rates.c.rate_percent)
    )
    for table_name, effective_from, rate_percent in result:
        rows[table_name].append((effective_from, rate_percent))
    return {name: RateTable.from_rows(name, history) for name, history in rows.items()}


class RateTableCache:
    """The rate tables, read again once `max_age` has passed: a process answering many balances
    reads them once a minute rather than once a balance. Rates are published ahead of the date
    they take effect, so a minute-old copy gives the same figures."""

    def __init__(self, clock: Clock, max_age: timedelta = timedelta(minutes=1)) -> None:
        self.clock = clock
        self.max_age = max_age
        self._read: tuple[datetime, dict[str, RateTable]] | None = None

    async def get(self, session: AsyncSession) -> dict[str, RateTable]:
        now = self.clock.now()
        if self._read is None or now - self._read[0] >= self.max_age:
            self._read = (now, await load_rate_tables(session))
        return self._read[1]


async def taxpayer_balance(
    session: AsyncSession,
    taxpayer_ref: str,
    as_of: date,
    policy: LedgerPolicy,
    *,
    rates: Mapping[str, RateTable] | None = None,
) -> Balance | None:
    """The taxpayer's balance as of `as_of`, or None for an unknown ref.

    One round trip (the taxpayer, its obligations and its payments up to `as_of`, by indexes);
    pass `rates` from `load_rate_tables` when computing many balances, or they are read here.
    """
    connection = await session.connection()
    rows = (
        await connection.execute(_TAXPAYER_LEDGER, {"taxpayer_ref": taxpayer_ref, "as_of": as_of})
    ).all()
    if not rows:
        return None
    obligations: list[LedgerObligation] = []
    obligation_refs: dict[int, str] = {}
    paid: list[AnyRow] = []
    for row in rows:
        if row.part == _PART_OBLIGATION:
            obligation_refs[row.id] = row.ref
            obligations.append(
                LedgerObligation(row.ref, row.kind, row.day, row.amount, row.decision_delivered_on)
            )
        elif row.part == _PART_PAYMENT:
            paid.append(row)
    payments = [
        LedgerPayment(
            row.ref,
            row.day,
            row.amount,
            obligation_refs.get(row.obligation_id) if row.obligation_id else None,
        )
        for row in paid
    ]
    if rates is None:
        rates = await load_rate_tables(session)
    result = compute_ledger(obligations, payments, as_of, rates, policy)
    return Balance(
        taxpayer_ref=taxpayer_ref,
        as_of=as_of,
        total=result.total,
        overdue=result.overdue,
        overpayment=result.overpayment,
        obligations=result.obligations,
    )


def balance_to_json(balance: Balance) -> dict[str, Any]:
    """CONTRACT.md's `gmina balance --json` object: amounts as "1234.50", dates ISO."""
    return {
        "taxpayer_ref": balance.taxpayer_ref,
        "as_of": balance.as_of.isoformat(),
        "total": format_plain(balance.total),
        "overdue": format_plain(balance.overdue),
        "overpayment": format_plain(balance.overpayment),
        "obligations": [
            {
                "obligation_ref": row.obligation_ref,
                "kind": row.kind,
                "due_date": row.due_date.isoformat(),
                "effective_due_date": row.effective_due_date.isoformat(),
                "principal": format_plain(row.principal),
                "interest": format_plain(row.interest),
                "total": format_plain(row.total),
            }
            for row in balance.obligations
        ],
    }


async def refresh_allocations(
    session: AsyncSession,
    taxpayer_ids: Collection[int],
    policy: LedgerPolicy,
    rates: Mapping[str, RateTable],
    *,
    appended: Collection[int] = (),
) -> None:
    """Recompute and rewrite the `allocations` rows of these taxpayers' payments.

    Every payment on record is allocated, whatever its date. Call after importing obligations or
    payments, or after a rate change, inside the transaction that made the change. The
    taxpayers' rows are locked first (in id order) and stay locked until that transaction ends:
    two writers refreshing one taxpayer take turns, so neither rewrites what the other read.

    `appended`: ids of payments this transaction only added, not yet allocated (nothing else
    changed); their rows are written without looking for earlier ones to delete. The ledger
    replays payments in (date, ref) order, so where a taxpayer's added payments all come after
    their others, the others' allocations stand as they are and only the added ones' are
    written: a day's bank statement then writes its own payments' rows, not every earlier one's.
    """
    ids = sorted(set(taxpayer_ids))
    await lock_rows(await session.connection(), _taxpayers, ids)
    added = frozenset(appended)
    for start in range(0, len(ids), REFRESH_CHUNK):
        await _refresh_chunk(session, ids[start : start + REFRESH_CHUNK], policy, rates, added)


def _standing(payment_rows: Sequence[AnyRow], added: frozenset[int]) -> list[int]:
    """The payments of one taxpayer whose allocations stand: all but the added ones, when the
    added ones all come after them in the ledger's order; otherwise none."""
    if not added:
        return []
    new = [(row.paid_on, row.ref) for row in payment_rows if row.id in added]
    old = [row for row in payment_rows if row.id not in added]
    if not new or not old or min(new) <= max((row.paid_on, row.ref) for row in old):
        return []
    return [row.id for row in old]


def _allocation_rows(
    obligation_rows: Sequence[AnyRow],
    payment_rows: Sequence[AnyRow],
    policy: LedgerPolicy,
    rates: Mapping[str, RateTable],
    standing: frozenset[int],
) -> Iterator[tuple[int, int | None, int, int]]:
    """One taxpayer's allocations by the ledger, as `allocations` rows (money in grosze), but
    for those of the `standing` payments."""
    obligation_refs = {row.id: row.ref for row in obligation_rows}
    obligation_ids = {row.ref: row.id for row in obligation_rows}
    payment_ids = {row.ref: row.id for row in payment_rows}
    parts = allocate_payments(
        [_ledger_obligation(row) for row in obligation_rows],
        [_ledger_payment(row, obligation_refs) for row in payment_rows],
        rates,
        policy,
    )
    for part in parts:
        payment_id = payment_ids[part.payment_ref]
        if payment_id not in standing:
            obligation_id = (
                obligation_ids[part.obligation_ref] if part.obligation_ref is not None else None
            )
            principal, interest = to_grosze_count(part.principal), to_grosze_count(part.interest)
            yield payment_id, obligation_id, principal, interest


async def _refresh_chunk(
    session: AsyncSession,
    taxpayer_ids: Sequence[int],
    policy: LedgerPolicy,
    rates: Mapping[str, RateTable],
    added: frozenset[int],
) -> None:
    connection = await session.connection()
    obligations: dict[int, list[AnyRow]] = defaultdict(list)
    for row in await connection.execute(
        select(_obligations.c.taxpayer_id, *_OBLIGATION_COLUMNS).where(
            among(connection, _obligations.c.taxpayer_id, taxpayer_ids)
        )
    ):
        obligations[row.taxpayer_id].append(row)
    payments: dict[int, list[AnyRow]] = defaultdict(list)
    for payment in await connection.execute(
        select(_payments.c.taxpayer_id, *_PAYMENT_COLUMNS).where(
            among(connection, _payments.c.taxpayer_id, taxpayer_ids)
        )
    ):
        payments[payment.taxpayer_id].append(payment)
    standing = frozenset(id_ for rows in payments.values() for id_ in _standing(rows, added))
    # By the payments' own ids: a subquery here was planned as a scan of all allocations when
    # the statistics lag behind a large import (65 ms a chunk on the 150k city). The added
    # payments were inserted by this transaction: nothing is allocated from them yet.
    stale = [
        payment.id
        for rows in payments.values()
        for payment in rows
        if payment.id not in standing and payment.id not in added
    ]
    for start in range(0, len(stale), DELETE_CHUNK):
        chunk = stale[start : start + DELETE_CHUNK]
        await connection.execute(
            delete(_allocations).where(among(connection, _allocations.c.payment_id, chunk))
        )
    # Money as the grosze the store keeps: the rows go to the driver as they are (COPY on
    # PostgreSQL, executemany on SQLite), not through the column types row by row.
    new_rows = [
        row
        for taxpayer_id, payment_rows in payments.items()
        for row in _allocation_rows(
            obligations.get(taxpayer_id, []), payment_rows, policy, rates, standing
        )
    ]
    await insert_rows(connection, _allocations, _ALLOCATION_COLUMNS, new_rows)


async def taxpayers_with_payments_since(session: AsyncSession, day: date) -> list[int]:
    """Taxpayers with a payment on or after `day`: whose allocations a rate change can alter."""
    result = await session.execute(
        select(_payments.c.taxpayer_id).where(_payments.c.paid_on >= day).distinct()
    )
    return list(result.scalars())


async def list_interest_rates(
    session: AsyncSession, table: str | None = None
) -> list[InterestRateRow]:
    """The interest-rate history, by table and date."""
    query = select(_rates.c.table_name, _rates.c.effective_from, _rates.c.rate_percent).order_by(
        _rates.c.table_name, _rates.c.effective_from
    )
    if table is not None:
        query = query.where(_rates.c.table_name == table)
    result = await session.execute(query)
    return [InterestRateRow(name, start, rate) for name, start, rate in result]


async def set_interest_rate(
    session: AsyncSession, table: str, effective_from: date, rate_percent: Decimal
) -> None:
    """Add the rate in force from `effective_from`, or correct the one already there."""
    if table not in set(InterestTable):
        raise ValueError(f"unknown interest-rate table {table!r}: use tax or civil")
    if not 0 <= rate_percent <= 100:
        raise ValueError(f"rate {rate_percent}% is not between 0 and 100")
    if rate_percent != rate_percent.quantize(Decimal("0.001")):
        raise ValueError(f"rate {rate_percent}% has more than three decimal places")
    await session.execute(
        upsert(
            session,
            _rates,
            {"table_name": table, "effective_from": effective_from, "rate_percent": rate_percent},
            keys=[_rates.c.table_name, _rates.c.effective_from],
            update=["rate_percent"],
        )
    )
