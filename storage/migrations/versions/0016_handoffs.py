"""handoffs: the thread of a hand-off ticket, who took and closed it, its language; open-ticket indexes

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 09:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    with op.batch_alter_table('handoff_tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=2), server_default='pl', nullable=False))
        batch_op.add_column(sa.Column('taken_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('message_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_handoff_tickets_taken_by_staff'), 'staff', ['taken_by'], ['name'])
        batch_op.create_foreign_key(batch_op.f('fk_handoff_tickets_closed_by_staff'), 'staff', ['closed_by'], ['name'])
    # The inbox reads open tickets oldest first (the status-only index becomes its first column);
    # every chat turn asks whether its chat has one open.
    op.drop_index('ix_handoff_tickets_status', table_name='handoff_tickets')
    op.create_index('ix_handoff_tickets_status_oldest', 'handoff_tickets', ['status', 'created_at', 'id'], unique=False)
    op.create_index('ix_handoff_tickets_open_chat', 'handoff_tickets', ['channel', 'sender_id'], unique=False, sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_table('handoff_messages',
    sa.Column('id', Id, nullable=False),
    sa.Column('ticket_id', Id, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=8), nullable=False),
    sa.Column('staff_name', sa.String(length=64), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('inbound_key', sa.String(length=200), nullable=True),
    sa.Column('submission_key', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['staff_name'], ['staff.name'], name=op.f('fk_handoff_messages_staff_name_staff')),
    sa.ForeignKeyConstraint(['ticket_id'], ['handoff_tickets.id'], name=op.f('fk_handoff_messages_ticket_id_handoff_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_messages')),
    sa.UniqueConstraint('ticket_id', 'number', name='uq_handoff_messages_number'),
    sa.UniqueConstraint('ticket_id', 'inbound_key', name='uq_handoff_messages_inbound_key'),
    sa.UniqueConstraint('ticket_id', 'submission_key', name='uq_handoff_messages_submission_key')
    )


def downgrade() -> None:
    op.drop_table('handoff_messages')
    op.drop_index('ix_handoff_tickets_open_chat', table_name='handoff_tickets', sqlite_where=OPEN, postgresql_where=OPEN)
    op.drop_index('ix_handoff_tickets_status_oldest', table_name='handoff_tickets')
    op.create_index('ix_handoff_tickets_status', 'handoff_tickets', ['status'], unique=False)
    with op.batch_alter_table('handoff_tickets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_handoff_tickets_closed_by_staff'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_handoff_tickets_taken_by_staff'), type_='foreignkey')
        batch_op.drop_column('message_count')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('taken_at')
        batch_op.drop_column('taken_by')
        batch_op.drop_column('language')
