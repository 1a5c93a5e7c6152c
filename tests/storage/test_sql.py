"""`storage.sql`: the engine differences behave alike on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from storage.models import Base, Taxpayer
from storage.sql import among, driver_timestamp, insert_rows, store_error_reason, update_rows
from tests.conftest import Store

_taxpayers = Base.metadata.tables[Taxpayer.__tablename__]
COLUMNS = (
    "ref", "pesel", "last_name", "row_hash", "first_name", "street", "building", "flat",
    "postal_code", "city", "district", "language",
)  # fmt: skip
EMPTY = ("", "", "", "", "", "", "", "pl")
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def test_bulk_writes_insert_update_and_read_back(store: Store) -> None:
    async with store.engine.begin() as connection:
        stamp = driver_timestamp(connection, NOW)
        rows = [(f"T{n}", None, f"Nowak{n}", "h", *EMPTY) for n in range(12)]
        await insert_rows(
            connection, _taxpayers, COLUMNS, rows, {"created_at": stamp, "updated_at": stamp}
        )
        ids = dict((await connection.execute(sa.select(_taxpayers.c.ref, _taxpayers.c.id))).all())
        await update_rows(
            connection, _taxpayers, ("last_name",), [(ids["T3"], "Kowalska")], {"updated_at": stamp}
        )
        chosen = [ids["T3"], ids["T5"]]
        names = await connection.execute(
            sa.select(_taxpayers.c.last_name, _taxpayers.c.created_at)
            .where(among(connection, _taxpayers.c.id, chosen))
            .order_by(_taxpayers.c.id)
        )
        assert names.all() == [("Kowalska", NOW), ("Nowak5", NOW)]


async def test_a_bulk_insert_refused_by_the_store_is_told_without_its_values(
    store: Store,
) -> None:
    secret = "44051401359"
    async with store.engine.connect() as connection:
        rows = [("T1", secret, "Kowalski", "h", *EMPTY)] * 2
        with pytest.raises(IntegrityError) as caught:
            await insert_rows(connection, _taxpayers, COLUMNS, rows)
        await connection.rollback()
    reason = store_error_reason(caught.value)
    assert secret not in reason
    assert "Kowalski" not in reason
    assert "taxpayers" in reason
