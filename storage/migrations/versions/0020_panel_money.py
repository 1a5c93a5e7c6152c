"""panel money and delivery: outbox counts by period and its failures, reminder coverage by day, open unmatched credits

Revision ID: 0020
Revises: 0015
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAILED = sa.text("status IN ('temporary-failure', 'permanent-failure', 'technical-failure')")
OPEN = sa.text('assigned_at IS NULL')


def upgrade() -> None:
    op.create_index('ix_outbox_created_counts', 'outbox', ['created_at', 'channel', 'category', 'status'], unique=False)
    op.create_index('ix_outbox_failed', 'outbox', ['id'], unique=False, sqlite_where=FAILED, postgresql_where=FAILED)
    op.create_index('ix_outbox_key_status', 'outbox', ['key', 'status'], unique=False)
    op.create_index('ix_reminder_coverage_day', 'reminder_coverage', ['on_date', 'channel', 'outbox_key'], unique=False)
    op.create_index('ix_unmatched_credits_open', 'unmatched_credits', ['paid_on', 'id'], unique=False, sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade() -> None:
    op.drop_index('ix_unmatched_credits_open', table_name='unmatched_credits', sqlite_where=OPEN, postgresql_where=OPEN)
    op.drop_index('ix_reminder_coverage_day', table_name='reminder_coverage')
    op.drop_index('ix_outbox_key_status', table_name='outbox')
    op.drop_index('ix_outbox_failed', table_name='outbox', sqlite_where=FAILED, postgresql_where=FAILED)
    op.drop_index('ix_outbox_created_counts', table_name='outbox')
