"""reminder links: the payment link a reminder hands out, one per reminder

Revision ID: 0019
Revises: 0014
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('payment_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminder_key', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_payment_links_reminder_key'), ['reminder_key']
        )


def downgrade() -> None:
    with op.batch_alter_table('payment_links', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_payment_links_reminder_key'), type_='unique')
        batch_op.drop_column('reminder_key')
