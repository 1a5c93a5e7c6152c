"""Where SQLite and PostgreSQL differ, in one place: IN lists, row locks, bulk writes, upserts.

Every other storage module writes engine-neutral SQLAlchemy and calls these for the rest, so a
dialect branch appears here and nowhere else. Table and column names passed in come from our
own metadata, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

# Ids per statement where an engine takes them one placeholder each: well under SQLite's limit
# of 32,766 parameters.
IDS_PER_STATEMENT = 5_000


def is_postgresql(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


def among(connection: AsyncConnection, column: Column[int], values: Sequence[int]) -> Any:
    """`column IN values`. On PostgreSQL one array parameter: an IN of 500 placeholders is a new
    query text each time, parsed again by the driver and planned again by the server."""
    if is_postgresql(connection):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


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
