"""Import of the city finance system's CSV exports: taxpayers, obligations, payments.

The format is the operator contract (CONTRACT.md, "Finance-system export").

- All or nothing: every row is validated first and every bad column reported, one line each,
  `FILE:LINE: column: reason`; if there is any, nothing is written.
- Idempotent: each row's normalised values are hashed into `row_hash`; an unchanged row is not
  written at all, a changed one is updated in place (so an obligation keeps its id and the
  payments that name it), keyed by the finance system's refs.
- Bulk: the existing refs are loaded in one query per table, the rows are validated in Python,
  and the writes go in one transaction as executemany (SQLite) or COPY (PostgreSQL).
- One at a time per kind: see `import_file`.

The rooms: storage.import_reader (the CSV), storage.import_rows (row checks), storage.import_plan
(against the store), storage.import_writers (the writes), storage.sql (engine differences).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kernel.clock import Clock, SystemClock
from kernel.errors import StoreError
from kernel.settings import LedgerSettings
from storage.db import SQLITE_BUSY_TIMEOUT_MS
from storage.import_plan import Plan, TaxpayerPlan, plan_obligations, plan_payments, plan_taxpayers
from storage.import_reader import ImportKind, Progress, Reader, RowError, file_sha256
from storage.import_writers import refresh_ledger, write_rows, write_taxpayers
from storage.ledger import LedgerPolicy
from storage.models import Base, ImportRun
from storage.sql import driver_timestamp, is_lock_timeout, lock_name, store_error_reason

__all__ = ["ImportKind", "ImportRefused", "ImportResult", "Progress", "RowError", "import_file"]

log = logging.getLogger(__name__)

_import_runs = Base.metadata.tables[ImportRun.__tablename__]


@dataclass
class ImportResult:
    kind: ImportKind
    file_name: str
    sha256: str = ""
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line for the operator."""
        counts = f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged"
        if self.dry_run:
            line = (
                f"{self.file_name}: {self.rows} {self.kind} rows valid; dry run, would be: "
                f"{counts}; nothing written"
            )
        else:
            line = f"{self.file_name}: {self.rows} {self.kind} rows: {counts}"
        if self.ignored_columns:
            line += f"; ignored unknown columns: {', '.join(self.ignored_columns)}"
        return line


# --- the import ------------------------------------------------------------------------------


class ImportRefused(StoreError):
    """The store refused the import's writes: one line for the operator, no row's values."""


# How long an import waits for another of its kind to finish (SQLite: the busy timeout).
IMPORT_LOCK_WAIT_S: Final = SQLITE_BUSY_TIMEOUT_MS // 1000


async def _take_import_lock(connection: AsyncConnection, kind: ImportKind) -> None:
    """One import per kind at a time; a second one waits for the first, then plans again."""
    await lock_name(
        connection, f"gmina import {kind.value}", table=_import_runs,
        wait_seconds=IMPORT_LOCK_WAIT_S,
    )  # fmt: skip


def _refusal(kind: ImportKind, exc: DBAPIError) -> str:
    if is_lock_timeout(exc):
        return (
            f"another {kind.value} import (or another writer) held the store for over "
            f"{IMPORT_LOCK_WAIT_S} s; try again when it has finished"
        )
    return store_error_reason(exc)


async def _last_run(connection: AsyncConnection, kind: ImportKind) -> int | None:
    """The newest import of this kind: a plan made before it is stale."""
    query = sa.select(sa.func.max(_import_runs.c.id)).where(_import_runs.c.kind == kind.value)
    newest: int | None = (await connection.execute(query)).scalar_one()
    return newest


async def _plan_import(
    connection: AsyncConnection,
    kind: ImportKind,
    reader: Reader,
    result: ImportResult,
    progress: Progress | None,
) -> Plan:
    """Validate the file against the store; the counts and the errors go into `result`."""
    plan: Plan
    if kind is ImportKind.TAXPAYERS:
        plan = await plan_taxpayers(connection, reader, progress)
    elif kind is ImportKind.OBLIGATIONS:
        plan = await plan_obligations(connection, reader, progress)
    else:
        plan = await plan_payments(connection, reader, progress)
    result.errors = sorted(reader.errors, key=lambda error: error.line)
    result.ignored_columns = reader.unknown
    result.inserted, result.updated = len(plan.inserts), len(plan.updates)
    result.unchanged = plan.unchanged
    result.rows = result.inserted + result.updated + result.unchanged
    if result.errors:
        # Not above DEBUG: the operator's stderr carries exactly one line per bad row.
        log.debug("%s: %d bad rows; nothing imported", reader.name, len(result.errors))
    return plan


async def import_file(
    session: AsyncSession,
    kind: ImportKind | str,
    path: str | Path,
    *,
    dry_run: bool = False,
    display_name: str | None = None,
    policy: LedgerPolicy | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate one export file and, if every row is good, write it in one transaction.

    `display_name` is how errors name the file (default: the path as given). The session's
    transaction is the import's own: it is committed when rows are taken, rolled back otherwise.
    Imports of one kind take turns (`_take_import_lock`); a write the store refuses raises
    `ImportRefused` with one line that holds no row's values.
    """
    kind = ImportKind(kind)
    path = Path(path)
    name = display_name if display_name is not None else str(path)
    result = ImportResult(kind, name, dry_run=dry_run)
    connection = await session.connection()
    generation = await _last_run(connection, kind)
    plan = await _plan_import(connection, kind, Reader(path, name, kind), result, progress)
    # Validation is long and reads only: hold no transaction open across it on PostgreSQL.
    await session.rollback()
    if not result.ok or dry_run:
        return result
    result.sha256 = file_sha256(path)
    now = (clock or SystemClock()).now()
    try:
        connection = await session.connection()
        await _take_import_lock(connection, kind)
        if await _last_run(connection, kind) != generation:
            # Another import of this kind committed while this one validated: plan again,
            # now that no other can start, from what it wrote.
            plan = await _plan_import(connection, kind, Reader(path, name, kind), result, progress)
            if not result.ok:
                await session.rollback()
                return result
        stamp = driver_timestamp(connection, now)
        if isinstance(plan, TaxpayerPlan):
            await write_taxpayers(connection, plan, stamp)
        else:
            await write_rows(connection, kind, plan, stamp)
            await refresh_ledger(
                session, plan.touched, policy or LedgerPolicy.from_settings(LedgerSettings())
            )
        await connection.execute(
            _import_runs.insert().values(
                kind=kind.value,
                file_name=name[-500:],
                sha256=result.sha256,
                rows=result.rows,
                inserted=result.inserted,
                updated=result.updated,
                unchanged=result.unchanged,
                created_at=now,
            )
        )
        await session.commit()
    except DBAPIError as exc:
        await session.rollback()
        # `from None`: the driver's error carries the rows' values (PESELs, names, accounts).
        raise ImportRefused(_refusal(kind, exc)) from None
    except BaseException:
        await session.rollback()
        raise
    log.info(
        "imported %s from %s: %d inserted, %d updated, %d unchanged",
        kind.value, name, result.inserted, result.updated, result.unchanged,
    )  # fmt: skip
    return result
