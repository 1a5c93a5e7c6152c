"""reminders: channel order in subscriptions, preference history, reminder coverage and runs, late deliveries indexed

Revision ID: 0012
Revises: 0007
Create Date: 2026-11-29 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # The reminder planner finds decisions delivered late (OP art. 47 §2) by this date.
    op.create_index(op.f('ix_obligations_decision_delivered_on'), 'obligations', ['decision_delivered_on'], unique=False)
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.SmallInteger(), nullable=True))
    op.create_table('preference_changes',
    sa.Column('id', _Id, nullable=False),
    sa.Column('taxpayer_id', _Id, nullable=False),
    sa.Column('category', sa.String(length=16), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=True),
    sa.Column('change', sa.String(length=16), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['taxpayer_id'], ['taxpayers.id'], name=op.f('fk_preference_changes_taxpayer_id_taxpayers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preference_changes'))
    )
    op.create_index('ix_preference_changes_taxpayer_at', 'preference_changes', ['taxpayer_id', 'at'], unique=False)
    op.create_table('reminder_coverage',
    sa.Column('id', _Id, nullable=False),
    sa.Column('outbox_key', sa.String(length=200), nullable=False),
    sa.Column('taxpayer_id', _Id, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('obligation_ids', sa.JSON(), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['taxpayer_id'], ['taxpayers.id'], name=op.f('fk_reminder_coverage_taxpayer_id_taxpayers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_coverage')),
    sa.UniqueConstraint('outbox_key', name=op.f('uq_reminder_coverage_outbox_key'))
    )
    op.create_index('ix_reminder_coverage_taxpayer_at', 'reminder_coverage', ['taxpayer_id', 'queued_at'], unique=False)
    op.create_table('reminder_runs',
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('on_date', name=op.f('pk_reminder_runs'))
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_obligations_decision_delivered_on'), table_name='obligations')
    op.drop_table('reminder_runs')
    op.drop_index('ix_reminder_coverage_taxpayer_at', table_name='reminder_coverage')
    op.drop_table('reminder_coverage')
    op.drop_index('ix_preference_changes_taxpayer_at', table_name='preference_changes')
    op.drop_table('preference_changes')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('position')
