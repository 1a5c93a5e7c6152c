"""reminder replies: the reminders sent to one recipient on one channel, newest first

Revision ID: 0018
Revises: 0014
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REMINDERS = sa.text("category = 'reminder'")


def upgrade() -> None:
    # An SMS "ZAPŁAĆ" finds the reminder it answers: the newest sent to that number.
    op.create_index('ix_outbox_reminders_sent', 'outbox', ['channel', 'recipient', 'sent_at'], unique=False, sqlite_where=REMINDERS, postgresql_where=REMINDERS)


def downgrade() -> None:
    op.drop_index('ix_outbox_reminders_sent', table_name='outbox', sqlite_where=REMINDERS, postgresql_where=REMINDERS)
