"""Where SQLite and PostgreSQL differ, in one place: IN lists, row locks, bulk writes, upserts.

Every other storage module writes engine-neutral SQLAlchemy and calls these for the rest, so a
dialect branch appears here and nowhere else. The API: `is_postgresql`, `among` (IN lists),
`lock_rows` and `lock_name` (row and named locks until the transaction ends), `add_days` and
`epoch_seconds`, `insert_rows`, `insert_new_rows`, `update_rows`, `update_each` and `copy_rows`
(bulk writes),
`insert_on_conflict` and `upsert`, `skip_locked` and `has_one_writer` (work queues),
`driver_timestamp`, `analyze_after_load`, and `store_error_reason` / `is_lock_timeout` for driver
errors. Table and column names passed in come from our own metadata, never from input.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Integer,
    Select,
    Table,
    Update,
    any_,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlalchemy.types import TypeEngine

from storage.models import UtcDateTime

# Ids per statement where an engine takes them one placeholder each: well under SQLite's limit
# of 32,766 parameters.
IDS_PER_STATEMENT = 5_000

T = TypeVar("T")


def is_postgresql(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


def among(connection: AsyncConnection, column: Column[Any], values: Sequence[Any]) -> Any:
    """`column IN values`. On PostgreSQL one array parameter: an IN of 500 placeholders is a new
    query text each time, parsed again by the driver and planned again by the server."""
    if is_postgresql(connection):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def not_for_index(connection: AsyncConnection, column: Column[Any]) -> ColumnElement[Any]:
    """The column, kept from choosing the index on SQLite (`+column`): SQLite is never ANALYZEd
    here, and without statistics it takes an index on a range of this column over a better one
    (a small partial index that gives the order wanted). PostgreSQL's planner has statistics."""
    if is_postgresql(connection):
        return column
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


async def lock_rows(connection: AsyncConnection, table: Table, ids: Sequence[int]) -> None:
    """Hold these rows against other lockers until the transaction ends.

    PostgreSQL: `SELECT … FOR UPDATE` in id order (two lockers of overlapping sets cannot
    deadlock). SQLite has one writer at a time: the transaction takes the file's write lock
    now, before it reads, so that what it reads next is what it writes over (BEGIN IMMEDIATE).
    """
    if not ids:
        return
    if not is_postgresql(connection):
        await take_write_lock(connection, table)
        return
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), IDS_PER_STATEMENT):
        chunk = ordered[start : start + IDS_PER_STATEMENT]
        await connection.execute(
            select(table.c.id)
            .where(among(connection, table.c.id, chunk))
            .order_by(table.c.id)
            .with_for_update()
        )


async def take_write_lock(connection: AsyncConnection, table: Table) -> None:
    """SQLite: begin writing now. A write that changes no row still takes the write lock, and
    waits for it up to the busy timeout (storage.db.SQLITE_BUSY_TIMEOUT_MS)."""
    never: ColumnElement[bool] = table.c.id.is_(None)
    await connection.execute(update(table).where(never).values(id=table.c.id))


# --- bulk writes ----------------------------------------------------------------------------

# Rows per executemany round trip on SQLite.
ROWS_PER_STATEMENT = 5_000
# Rows written after which PostgreSQL's statistics are refreshed at once.
ANALYZE_AFTER = 10_000

# A timestamp as the engine's driver takes it in a raw write (see `driver_timestamp`).
Stamp = datetime | str


def chunks(rows: Sequence[T], size: int = ROWS_PER_STATEMENT) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def driver_timestamp(connection: AsyncConnection, now: datetime) -> Stamp:
    """`now` for raw writes: SQLite gets the text SQLAlchemy's own column type would store."""
    if is_postgresql(connection):
        return now
    column_type = UtcDateTime().dialect_impl(connection.dialect)
    processor = column_type.bind_processor(connection.dialect)
    stored = processor(now) if processor is not None else now
    if not isinstance(stored, str):
        raise TypeError(f"expected the stored text of a timestamp, got {type(stored).__name__}")
    return stored


async def copy_rows(
    connection: AsyncConnection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """PostgreSQL's COPY FROM STDIN through psycopg: far faster than executemany for bulk rows.

    The driver's error is raised as SQLAlchemy's (an IntegrityError for a duplicate key, …),
    as every other statement's is, and without the rows: `store_error_reason` then tells it.
    """
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # psycopg.AsyncConnection
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    try:
        async with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                await copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from None


async def insert_rows(
    connection: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows` of `columns`, each with the same `extra` column values (timestamps).

    Values go to the driver as they are (money as grosze, timestamps from `driver_timestamp`):
    COPY on PostgreSQL, executemany in chunks on SQLite.
    """
    if not rows:
        return
    added = tuple((extra or {}).values())
    names = (*columns, *(extra or {}))
    if is_postgresql(connection):
        await copy_rows(connection, table.name, names, ((*row, *added) for row in rows))
        return
    marks = ", ".join("?" * len(names))
    statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"
    for chunk in chunks(rows):
        await connection.exec_driver_sql(statement, [(*row, *added) for row in chunk])


async def update_rows(
    connection: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Set `columns` from each row `(id, *values)` by id, and the same `extra` on each.

    PostgreSQL: COPY into a temporary table, then one UPDATE … FROM; SQLite: executemany.
    """
    if not rows:
        return
    added = tuple((extra or {}).values())
    names = (*columns, *(extra or {}))
    if is_postgresql(connection):
        staging = f"import_{table.name}"
        await connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT id, {', '.join(names)} FROM {table.name} WITH NO DATA"
        )
        await copy_rows(connection, staging, ("id", *names), ((*row, *added) for row in rows))
        assignments = ", ".join(f"{name} = s.{name}" for name in names)
        await connection.exec_driver_sql(
            f"UPDATE {table.name} AS t SET {assignments} FROM {staging} AS s WHERE t.id = s.id"
        )
        await connection.exec_driver_sql(f"DROP TABLE {staging}")
        return
    statement = f"UPDATE {table.name} SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?"
    for chunk in chunks(rows):
        await connection.exec_driver_sql(statement, [(*row[1:], *added, row[0]) for row in chunk])


async def update_each(
    connection: AsyncConnection,
    rows: Sequence[Mapping[str, Any]],
    types: Mapping[str, TypeEngine[Any]],
    build: Callable[[Mapping[str, ColumnElement[Any]]], Update],
) -> int:
    """One UPDATE for many rows, each with values of its own; returns how many rows it changed.

    `build` gets one column per name in `types`, standing for that value of each row, and makes
    the statement (its WHERE names which row each set of values is for). PostgreSQL: one
    statement over `unnest` of one array per name, the same query text whatever the number of
    rows; SQLite: that statement with bound parameters, executemany.
    """
    if not rows:
        return 0
    if is_postgresql(connection):
        arrays = [
            bindparam(None, [row[name] for row in rows], type_=postgresql.ARRAY(type_))
            for name, type_ in types.items()
        ]
        source = func.unnest(*arrays).table_valued(*types).render_derived()
        statement = build({name: source.c[name] for name in types})
        return (await connection.execute(statement)).rowcount
    params = {name: bindparam(f"each_{name}", type_=type_) for name, type_ in types.items()}
    values = [{f"each_{name}": row[name] for name in types} for row in rows]
    statement = build(params)
    return (await connection.execute(statement, values)).rowcount


async def insert_new_rows(
    connection: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    unique: Sequence[str],
) -> int:
    """Insert `rows` of `columns`, passing over those whose `unique` columns match a row there
    already (ON CONFLICT DO NOTHING); returns how many were inserted. Values go to the driver as
    they are (timestamps from `driver_timestamp`, JSON as text).

    PostgreSQL: thousands of rows in one multi-row INSERT cost psycopg more to parse than the
    server to write, so they are COPYed: straight into the table when none of their keys is there
    yet (nor twice among them), else into a temporary table and then one INSERT … SELECT. A
    single-column key is looked up first; the caller holds off other writers of the same keys
    meanwhile (a row lock), or a key written between the look-up and the COPY fails the COPY.
    SQLite: executemany.
    """
    if not rows:
        return 0
    names = ", ".join(columns)
    skip = f"ON CONFLICT ({', '.join(unique)}) DO NOTHING"
    if is_postgresql(connection):
        if len(unique) == 1:
            key = table.c[unique[0]]
            at = list(columns).index(unique[0])
            keys = [row[at] for row in rows]
            present = select(key).where(among(connection, key, keys)).limit(1)
            if len(set(keys)) == len(keys) and (await connection.execute(present)).first() is None:
                await copy_rows(connection, table.name, columns, rows)
                return len(rows)
        staging = f"new_{table.name}"
        await connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {names} FROM {table.name} WITH NO DATA"
        )
        await copy_rows(connection, staging, columns, rows)
        result = await connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} {skip}"
        )
        await connection.exec_driver_sql(f"DROP TABLE {staging}")
        return int(result.rowcount)
    marks = ", ".join("?" * len(columns))
    statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks}) {skip}"
    inserted = 0
    for chunk in chunks(rows):
        inserted += int((await connection.exec_driver_sql(statement, list(chunk))).rowcount)
    return inserted


async def analyze_after_load(connection: AsyncConnection, table: Table, written: int) -> None:
    """Fresh planner statistics after a bulk load on PostgreSQL.

    Autovacuum gets there later; until then the planner takes a freshly filled table for an
    empty one and scans it whole for every look-up, the ledger refresh's included.
    """
    if is_postgresql(connection) and written >= ANALYZE_AFTER:
        await connection.exec_driver_sql(f"ANALYZE {table.name}")


def insert_on_conflict(
    bind: AsyncConnection | AsyncSession, table: Table | type[Any]
) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that knows ON CONFLICT (`.on_conflict_do_nothing()`, `.on_conflict_do_update()`),
    for whichever engine `bind` is on: both dialects spell it alike."""
    dialect = bind.get_bind().dialect if isinstance(bind, AsyncSession) else bind.dialect
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def add_days(bind: AsyncSession, column: Any, days: int) -> ColumnElement[Any]:
    """`column + days` for a DATE column: PostgreSQL adds integers to dates, SQLite has
    `date(column, '+N days')`."""
    if bind.get_bind().dialect.name == "postgresql":
        return column + days  # type: ignore[no-any-return]
    return func.date(column, f"{days:+d} days")


def epoch_seconds(bind: AsyncSession, column: Any) -> ColumnElement[int]:
    """Whole seconds since 1970 of a UtcDateTime column, as an integer on both engines (so that
    `epoch_seconds(...) / n` divides whole numbers): PostgreSQL extracts the epoch, SQLite reads
    its stored UTC text with strftime('%s')."""
    if bind.get_bind().dialect.name == "postgresql":
        return func.floor(func.extract("epoch", column)).cast(BigInteger)
    return func.strftime("%s", column).cast(Integer)


def skip_locked(statement: Select[Any], bind: AsyncSession, of: Any) -> Select[Any]:
    """A SELECT that takes the rows it finds and passes over rows another transaction holds
    (`FOR UPDATE SKIP LOCKED`): work queues shared by several processes on PostgreSQL. SQLite
    has one writer at a time and needs nothing (nor knows it)."""
    if bind.get_bind().dialect.name == "postgresql":
        # OF the table whose rows are taken, not a grouped subquery joined in.
        return statement.with_for_update(skip_locked=True, of=of)
    return statement


def has_one_writer(bind: AsyncSession) -> bool:
    """SQLite: one writer at a time, and no way to pass over another's rows."""
    return bind.get_bind().dialect.name != "postgresql"


def upsert(
    bind: AsyncConnection | AsyncSession,
    table: Table,
    values: Mapping[str, Any],
    keys: Sequence[Column[Any]],
    update: Sequence[str],
) -> sqlite.Insert | postgresql.Insert:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET the `update` columns from the new row."""
    statement = insert_on_conflict(bind, table).values(**values)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in update},
    )


# --- locks by name ----------------------------------------------------------------------------


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


async def lock_name(
    connection: AsyncConnection, name: str, *, table: Table, wait_seconds: int
) -> None:
    """One holder of `name` at a time until the transaction ends; waits up to `wait_seconds`,
    then raises the driver's error (`is_lock_timeout` tells it apart).

    PostgreSQL: a transaction-level advisory lock; readers and other writers go on. SQLite: the
    file's write lock (through a write to `table` that changes nothing), whose wait is the
    connection's busy timeout.
    """
    if not is_postgresql(connection):
        await take_write_lock(connection, table)
        return
    previous = (await connection.exec_driver_sql("SHOW lock_timeout")).scalar_one()
    await connection.execute(
        text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": f"{wait_seconds}s"}
    )
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(name)})
    await connection.execute(
        text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": previous}
    )


# --- driver errors ----------------------------------------------------------------------------

# PostgreSQL's SQLSTATEs we name; any other is told by its code.
_SQLSTATE_REASONS = {
    "23505": "a row with the same key is already there",
    "23503": "a row refers to one that is missing or belongs elsewhere",
    "23514": "a rule of the store would be broken",
    "23502": "a required value is missing",
    "55P03": "another writer held the lock too long",
    "40P01": "a deadlock with another writer",
    "40001": "a conflict with another writer",
}


def is_lock_timeout(exc: DBAPIError) -> bool:
    """A wait for a lock that ran out (PostgreSQL lock_timeout, SQLite busy timeout)."""
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return orig.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return getattr(orig, "sqlstate", None) == "55P03"


def store_error_reason(exc: DBAPIError) -> str:
    """What went wrong in a driver error, as one line that holds no value of any row.

    SQLAlchemy's own text carries the statement's parameters (PESELs, names, accounts) and
    PostgreSQL's message and detail may quote values, so neither is used: the reason is built
    from the error's code and the names of the constraint and table only. SQLite's messages
    name columns, never values; our own triggers' messages hold no values either.
    """
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        return f"the store refused the write: {str(orig).splitlines()[0]}"
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    table = getattr(diag, "table_name", None)
    if sqlstate == "23514" and constraint is None and diag is not None:
        # Raised by our own triggers (storage/migrations): their text holds no values.
        return f"the store refused the write: {diag.message_primary}"
    reason = _SQLSTATE_REASONS.get(sqlstate, f"the store refused the write (SQLSTATE {sqlstate})")
    where = ", ".join(
        part for part in (f"table {table}" if table else "", constraint or "") if part
    )
    return f"{reason} ({where})" if where else reason
