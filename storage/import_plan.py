"""Planning an import: each validated row sorted into insert, update or unchanged against the
store, with the checks that need the store (refs, identifiers and accounts other taxpayers hold,
obligations that payments name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.import_reader import Progress, Reader
from storage.import_rows import (
    Bad,
    BadRow,
    Checks,
    TaxpayerRow,
    first_seen,
    obligation_values,
    payment_values,
    taxpayer_row,
)
from storage.models import Base, Obligation, Payment, Taxpayer

_taxpayers = Base.metadata.tables[Taxpayer.__tablename__]
_obligations = Base.metadata.tables[Obligation.__tablename__]
_payments = Base.metadata.tables[Payment.__tablename__]


@dataclass
class Plan:
    """What the validated file asks for: rows to insert, rows to update (id first), the rest."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    unchanged: int = 0
    # Taxpayers whose allocations may change (obligations, payments).
    touched: set[int] = field(default_factory=set)


async def id_map(connection: AsyncConnection, table: sa.Table) -> dict[str, int]:
    result = await connection.execute(sa.select(table.c.ref, table.c.id))
    return {ref: row_id for ref, row_id in result}


# --- taxpayers -------------------------------------------------------------------------------


@dataclass
class TaxpayerPlan(Plan):
    inserted_rows: list[TaxpayerRow] = field(default_factory=list)
    updated_rows: dict[int, TaxpayerRow] = field(default_factory=dict)
    # Taxpayers whose account number moves to another taxpayer in this file.
    release_accounts: list[int] = field(default_factory=list)


# Identifiers that name one taxpayer: (column, index in TAXPAYER_COLUMNS, how a person says it).
_IDENTIFIERS: Final = (("pesel", 1, "PESEL"), ("nip", 2, "NIP"))


async def plan_taxpayers(
    connection: AsyncConnection, reader: Reader, progress: Progress | None
) -> TaxpayerPlan:
    existing: dict[str, tuple[int, str, str | None]] = {}
    owner_of: dict[str, str] = {}
    holder_of: dict[str, dict[str, str]] = {column: {} for column, _, _ in _IDENTIFIERS}
    result = await connection.execute(
        sa.select(
            _taxpayers.c.ref, _taxpayers.c.id, _taxpayers.c.row_hash, _taxpayers.c.account_number,
            _taxpayers.c.pesel, _taxpayers.c.nip,
        )
    )  # fmt: skip
    for ref, row_id, digest, account, pesel, nip in result:
        existing[ref] = (row_id, digest, account)
        if account:
            owner_of[account] = ref
        if pesel:
            holder_of["pesel"][pesel] = ref
        if nip:
            holder_of["nip"][nip] = ref
    plan = TaxpayerPlan()
    seen: dict[str, int] = {}
    accounts: dict[str, tuple[str, int]] = {}  # account → (ref, line) in this file
    # Per identifier column: value → (ref, line) in this file.
    in_file: dict[str, dict[str, tuple[str, int]]] = {column: {} for column, _, _ in _IDENTIFIERS}
    has_consent = False
    for line, values in reader.rows(progress):
        has_consent = "notify_consent" in reader.present
        try:
            row = taxpayer_row(values, has_consent)
            ref, account = row.values[0], row.values[12]
            first_seen(seen, ref, line, "taxpayer_ref")
            check = Checks()
            for column, index, label in _IDENTIFIERS:
                value = row.values[index]
                other = in_file[column].setdefault(value, (ref, line)) if value else (ref, line)
                if other[0] != ref:
                    check.add(
                        column, f"the same {label} as taxpayer {other[0]!r} on line {other[1]}"
                    )
            if account is not None:
                other = accounts.setdefault(account, (ref, line))
                if other[0] != ref:
                    check.add(
                        "account_number",
                        f"the same account number as taxpayer {other[0]!r} on line {other[1]}",
                    )
            check.done()
        except (Bad, BadRow) as bad:
            reader.report(line, bad)
            continue
        known = existing.get(ref)
        if known is None:
            plan.inserts.append(row.values)
            plan.inserted_rows.append(row)
        elif known[1] == row.values[-1]:
            plan.unchanged += 1
        else:
            plan.updates.append((known[0], *row.values[1:]))
            plan.updated_rows[known[0]] = row
    # A PESEL or NIP another taxpayer in the store has: refused, unless the file gives that
    # taxpayer another one (a correction of both).
    for column, _, label in _IDENTIFIERS:
        for value, (ref, line) in in_file[column].items():
            holder = holder_of[column].get(value)
            if holder is not None and holder != ref and holder not in seen:
                reader.error(line, column, f"already the {label} of taxpayer {holder!r}")
    # An account number may move from one taxpayer to another only if the file moves it too.
    file_account_of = {ref: account for account, (ref, _) in accounts.items()}
    for account, (ref, line) in accounts.items():
        holder = owner_of.get(account)
        if holder is None or holder == ref:
            continue
        if holder in seen and file_account_of.get(holder) != account:
            plan.release_accounts.append(existing[holder][0])
        else:
            reader.error(line, "account_number", f"already the account of taxpayer {holder!r}")
    return plan


# --- obligations and payments ----------------------------------------------------------------


async def plan_obligations(
    connection: AsyncConnection, reader: Reader, progress: Progress | None
) -> Plan:
    taxpayer_ids = await id_map(connection, _taxpayers)
    existing: dict[str, tuple[int, str, int]] = {}
    result = await connection.execute(
        sa.select(
            _obligations.c.ref,
            _obligations.c.id,
            _obligations.c.row_hash,
            _obligations.c.taxpayer_id,
        )
    )
    for ref, row_id, digest, taxpayer_id in result:
        existing[ref] = (row_id, digest, taxpayer_id)
    named = set(
        (
            await connection.execute(
                sa.select(_payments.c.obligation_id)
                .where(_payments.c.obligation_id.is_not(None))
                .distinct()
            )
        ).scalars()
    )
    taxpayer_refs = {row_id: ref for ref, row_id in taxpayer_ids.items()}
    plan = Plan()
    seen: dict[str, int] = {}
    for line, values in reader.rows(progress):
        try:
            row = obligation_values(values, taxpayer_ids)
            first_seen(seen, row[0], line, "obligation_ref")
            known = existing.get(row[0])
            if known is not None and known[2] != row[1] and known[0] in named:
                _refuse_move(row[0], taxpayer_refs[known[2]], values[1])
        except (Bad, BadRow) as bad:
            reader.report(line, bad)
            continue
        _sort_row(plan, existing.get(row[0]), row)
    return plan


def _refuse_move(obligation_ref: str, owner: str, new_owner: str) -> None:
    """An obligation that payments name stays with its taxpayer.

    The payments are that taxpayer's money, designated by them (OP art. 62 §1) for this
    liability. Moving the obligation would leave them paying another taxpayer's debt, and
    re-homing them (dropping the designation, crediting other debts or refunding) is a staff
    decision with its own procedure, not something an import can guess; so the row is refused.
    """
    raise Bad(
        "taxpayer_ref",
        f"obligation {obligation_ref!r} is named by payments of taxpayer {owner!r}; it cannot "
        f"move to {new_owner!r} (correct those payments first)",
    )


async def plan_payments(
    connection: AsyncConnection, reader: Reader, progress: Progress | None
) -> Plan:
    taxpayer_ids = await id_map(connection, _taxpayers)
    obligations: dict[str, tuple[int, int]] = {}
    result = await connection.execute(
        sa.select(_obligations.c.ref, _obligations.c.id, _obligations.c.taxpayer_id)
    )
    for ref, row_id, taxpayer_id in result:
        obligations[ref] = (row_id, taxpayer_id)
    existing: dict[str, tuple[int, str, int]] = {}
    on_record = await connection.execute(
        sa.select(_payments.c.ref, _payments.c.id, _payments.c.row_hash, _payments.c.taxpayer_id)
    )
    for ref, row_id, digest, taxpayer_id in on_record:
        existing[ref] = (row_id, digest, taxpayer_id)
    plan = Plan()
    seen: dict[str, int] = {}
    for line, values in reader.rows(progress):
        try:
            row = payment_values(values, taxpayer_ids, obligations)
            first_seen(seen, row[0], line, "payment_ref")
        except (Bad, BadRow) as bad:
            reader.report(line, bad)
            continue
        _sort_row(plan, existing.get(row[0]), row)
    return plan


def _sort_row(plan: Plan, known: tuple[int, str, int] | None, row: tuple[Any, ...]) -> None:
    """New, changed or unchanged, by the ref's record (id, row_hash, taxpayer_id)."""
    if known is None:
        plan.inserts.append(row)
        plan.touched.add(row[1])
    elif known[1] == row[-1]:
        plan.unchanged += 1
    else:
        plan.updates.append((known[0], *row[1:]))
        plan.touched.update((row[1], known[2]))
