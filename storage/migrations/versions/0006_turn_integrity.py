"""turn integrity: conversation leases, answered inbound messages, turn keys on side effects

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('inbound_messages',
    sa.Column('id', _ID, nullable=False),
    sa.Column('conversation_id', _ID, nullable=False),
    sa.Column('message_id', sa.String(length=128), nullable=False),
    sa.Column('replies', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_inbound_messages_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('conversation_id', 'message_id', name=op.f('uq_inbound_messages_conversation_id'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_received_at'), ['received_at'], unique=False)
    for table in ('cases', 'verification_attempts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('turn_key', sa.String(length=160), nullable=True))
            batch_op.create_unique_constraint(batch_op.f(f'uq_{table}_turn_key'), ['turn_key'])


def downgrade() -> None:
    for table in ('verification_attempts', 'cases'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'uq_{table}_turn_key'), type_='unique')
            batch_op.drop_column('turn_key')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_received_at'))
    op.drop_table('inbound_messages')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_owner')
