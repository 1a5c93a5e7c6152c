"""money in grosze: amounts become whole grosze in an integer column on both engines

Numeric(12, 2) was kept by SQLite as REAL or INTEGER row by row (binary floating point for
amounts such as 0.29); a SUM in SQL gave a float there and a Decimal on PostgreSQL. Every amount
is now its count of grosze, and `storage.models.Money` gives Python the Decimal złoty.

PostgreSQL: the columns become BIGINT. SQLite: the values are rewritten as integers in place;
the declared type stays NUMERIC(12, 2), whose affinity keeps an integer an integer. Rebuilding
the tables to rename the type would drop `payments` under `PRAGMA foreign_keys=ON`, which
cascades to the allocations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY_COLUMNS = (
    ('obligations', 'amount'),
    ('payments', 'amount'),
    ('allocations', 'principal'),
    ('allocations', 'interest'),
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table, column in MONEY_COLUMNS:
        if postgresql:
            op.alter_column(
                table, column, type_=sa.BigInteger(), existing_nullable=False,
                postgresql_using=f'round({column} * 100)::bigint',
            )
        else:
            op.execute(f'UPDATE {table} SET {column} = CAST(round({column} * 100) AS INTEGER)')


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table, column in MONEY_COLUMNS:
        if postgresql:
            op.alter_column(
                table, column, type_=sa.Numeric(12, 2), existing_nullable=False,
                postgresql_using=f'({column} / 100.0)::numeric(12, 2)',
            )
        else:
            op.execute(f'UPDATE {table} SET {column} = round({column} / 100.0, 2)')
