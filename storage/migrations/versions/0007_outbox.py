"""outbox: outbound messages, leases, unreachable recipients

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 03:47:40.088418
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_leases'))
    )
    op.create_table('unreachable_recipients',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'recipient', name=op.f('pk_unreachable_recipients'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('taxpayer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_id', sa.String(length=64), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['taxpayer_id'], ['taxpayers.id'], name=op.f('fk_outbox_taxpayer_id_taxpayers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_channel_status', ['channel', 'status'], unique=False)
        batch_op.create_index('ix_outbox_due', ['priority', 'not_before'], unique=False, sqlite_where=sa.text("status IN ('created', 'temporary-failure', 'sending')"), postgresql_where=sa.text("status IN ('created', 'temporary-failure', 'sending')"))
        batch_op.create_index(batch_op.f('ix_outbox_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index('ix_outbox_recipient_pending', ['channel', 'recipient', 'id'], unique=False, sqlite_where=sa.text("status IN ('created', 'temporary-failure', 'sending')"), postgresql_where=sa.text("status IN ('created', 'temporary-failure', 'sending')"))
        batch_op.create_index(batch_op.f('ix_outbox_taxpayer_id'), ['taxpayer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_taxpayer_id'))
        batch_op.drop_index('ix_outbox_recipient_pending', sqlite_where=sa.text("status IN ('created', 'temporary-failure', 'sending')"), postgresql_where=sa.text("status IN ('created', 'temporary-failure', 'sending')"))
        batch_op.drop_index(batch_op.f('ix_outbox_provider_id'))
        batch_op.drop_index('ix_outbox_due', sqlite_where=sa.text("status IN ('created', 'temporary-failure', 'sending')"), postgresql_where=sa.text("status IN ('created', 'temporary-failure', 'sending')"))
        batch_op.drop_index('ix_outbox_channel_status')

    op.drop_table('outbox')
    op.drop_table('unreachable_recipients')
    op.drop_table('leases')
