"""case moves: the history of each case's moves, the chat a case was filed from, list indexes

Revision ID: 0017
Revises: 0015
Create Date: 2026-11-29 09:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('case_events',
    sa.Column('id', Id, nullable=False),
    sa.Column('case_id', Id, nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('staff_name', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notice_channel', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_events_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_name'], ['staff.name'], name=op.f('fk_case_events_staff_name_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events'))
    )
    op.create_index('ix_case_events_case', 'case_events', ['case_id', 'id'], unique=False)
    # A plain ADD COLUMN: SQLite need not copy the cases to add it.
    op.add_column('cases', sa.Column('sender_id', sa.String(length=128), nullable=True))
    op.create_index('ix_cases_created', 'cases', ['created_at', 'id'], unique=False)
    op.create_index('ix_cases_status_created', 'cases', ['status', 'created_at', 'id'], unique=False)
    op.create_index('ix_cases_form_status_created', 'cases', ['form_type', 'status', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_cases_form_status_created', table_name='cases')
    op.drop_index('ix_cases_status_created', table_name='cases')
    op.drop_index('ix_cases_created', table_name='cases')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('sender_id')
    op.drop_index('ix_case_events_case', table_name='case_events')
    op.drop_table('case_events')
