"""Money in the store is whole grosze (BIGINT) on both engines, Decimal złoty in Python.

Before: `Numeric(12, 2)` was REAL or INTEGER on SQLite, row by row, and a SUM in SQL gave a float
there and a Decimal on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.db import sync_url
from storage.migrate import upgrade
from storage.models import Allocation, Obligation, Payment, as_money
from tests.conftest import Store, _postgres_admin_url, _require_engine
from tests.storage.test_imports import load_city

MONEY_COLUMNS = (
    (Obligation, "amount"),
    (Payment, "amount"),
    (Allocation, "principal"),
    (Allocation, "interest"),
)


async def test_every_amount_is_stored_as_one_integer_type(store: Store, tmp_path: Path) -> None:
    await load_city(store, tmp_path)
    async with store.sessions() as session:
        for model, column in MONEY_COLUMNS:
            if store.engine_name == "sqlite":
                query = f"SELECT DISTINCT typeof({column}) FROM {model.__tablename__}"
            else:
                query = f"SELECT DISTINCT pg_typeof({column})::text FROM {model.__tablename__}"
            kinds = set((await session.execute(sa.text(query))).scalars())
            assert kinds == {"integer" if store.engine_name == "sqlite" else "bigint"}, column


async def test_sums_in_sql_equal_sums_in_python(store: Store, tmp_path: Path) -> None:
    await load_city(store, tmp_path)
    async with store.sessions() as session:
        for model, name in MONEY_COLUMNS:
            column = getattr(model, name)
            in_sql = (await session.execute(sa.select(sa.func.sum(column)))).scalar_one()
            values = list((await session.execute(sa.select(column))).scalars())
            assert all(isinstance(value, Decimal) for value in values)
            assert isinstance(in_sql, Decimal), (name, type(in_sql))
            assert in_sql == sum(values, Decimal("0.00")), name
        # Arithmetic in SQL, read back as złoty.
        both = as_money(sa.func.sum(Allocation.principal + Allocation.interest))
        in_sql = (await session.execute(sa.select(both))).scalar_one()
        parts = (await session.execute(sa.select(Allocation.principal, Allocation.interest))).all()
        assert in_sql == sum((p + i for p, i in parts), Decimal("0.00"))
    # Amounts that are not exact in binary floating point, summed many times.
    async with store.sessions() as session:
        taxpayer_id = (await session.execute(sa.text("SELECT min(id) FROM taxpayers"))).scalar_one()
        amounts = [Decimal("0.10"), Decimal("0.20"), Decimal("1234567.89"), Decimal("0.07")] * 50
        session.add_all(
            Payment(
                ref=f"float-{index}",
                taxpayer_id=taxpayer_id,
                paid_on=sa.func.current_date(),
                amount=amount,
                row_hash="x",
            )
            for index, amount in enumerate(amounts)
        )
        await session.commit()
        total = (
            await session.execute(
                sa.select(sa.func.sum(Payment.amount)).where(Payment.ref.like("float-%"))
            )
        ).scalar_one()
    assert total == sum(amounts) == Decimal("61728413.00")
    assert str(total) == "61728413.00"


async def test_the_store_refuses_a_fraction_of_a_grosz(store: Store, tmp_path: Path) -> None:
    await load_city(store, tmp_path)
    async with store.sessions() as session:
        payment = (await session.execute(sa.select(Payment).limit(1))).scalar_one()
        payment.amount = Decimal("1.005")
        with pytest.raises(sa.exc.StatementError, match="fraction of a grosz"):
            await session.commit()


@pytest.fixture
def store_at_0002(engine_name: str, database_urls: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A store of its own, migrated only to 0002 (Numeric amounts)."""
    _require_engine(engine_name, database_urls)
    if engine_name == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, "0002")
        yield url
        return
    name = f"gmina_money_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(sync_url(_postgres_admin_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sync_url(_postgres_admin_url()).set(database=name).render_as_string(False)
    upgrade(url, "0002")
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_migration_converts_an_existing_store(store_at_0002: str) -> None:
    engine = sa.create_engine(sync_url(store_at_0002))
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO taxpayers (ref, first_name, last_name, street, building, flat, "
                "postal_code, city, district, language, row_hash) "
                "VALUES ('T1', '', 'Nowak', '', '', '', '', '', '', 'pl', 'h')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO obligations (ref, taxpayer_id, kind, year, installment, due_date, "
                "amount, decision_ref, description, row_hash) VALUES "
                "('O1', 1, 'dog_fee', 2026, 1, '2026-03-31', 62.5, '', '', 'h'), "
                "('O2', 1, 'dog_fee', 2026, 2, '2026-05-31', 0.29, '', '', 'h')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO payments (ref, taxpayer_id, paid_on, amount, source, row_hash) "
                "VALUES ('P1', 1, '2026-03-30', 62.79, 'import', 'h')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO allocations (payment_id, obligation_id, principal, interest) "
                "VALUES (1, 1, 62.5, 0), (1, 2, 0.29, 0)"
            )
        )
    upgrade(store_at_0002)
    with engine.connect() as connection:
        raw = (
            connection.execute(sa.text("SELECT amount FROM obligations ORDER BY ref"))
            .scalars()
            .all()
        )
        assert raw == [6250, 29]
        assert connection.execute(sa.text("SELECT amount FROM payments")).scalar_one() == 6279
        principals = (
            connection.execute(sa.text("SELECT principal FROM allocations ORDER BY principal"))
            .scalars()
            .all()
        )
        assert principals == [29, 6250]
        read = connection.execute(sa.select(Obligation.amount).order_by(Obligation.ref))
        assert read.scalars().all() == [Decimal("62.50"), Decimal("0.29")]
    engine.dispose()
