"""broadcast: staff accounts, broadcasts, and the broadcast each outbox row belongs to

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-29 06:37:26.859612
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WITH_BROADCAST = sa.text('broadcast_id IS NOT NULL')


def upgrade() -> None:
    op.create_table('staff',
    sa.Column('id', Id, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('totp_secret', sa.String(length=255), nullable=True),
    sa.Column('totp_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recovery_code_hashes', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('name', name=op.f('uq_staff_name'))
    )
    op.create_table('broadcasts',
    sa.Column('id', Id, nullable=False),
    sa.Column('segment', sa.String(length=500), nullable=False),
    sa.Column('texts', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=True),
    sa.Column('approved_by', sa.String(length=64), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.String(length=64), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('send_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('queued', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_by'], ['staff.name'], name=op.f('fk_broadcasts_approved_by_staff')),
    sa.ForeignKeyConstraint(['author'], ['staff.name'], name=op.f('fk_broadcasts_author_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcasts'))
    )
    op.create_index(op.f('ix_broadcasts_status'), 'broadcasts', ['status'], unique=False)
    # A plain ADD COLUMN (no foreign key): SQLite need not copy the outbox to add it.
    op.add_column('outbox', sa.Column('broadcast_id', Id, nullable=True))
    op.create_index('ix_outbox_broadcast', 'outbox', ['broadcast_id', 'channel', 'status'], unique=False, sqlite_where=WITH_BROADCAST, postgresql_where=WITH_BROADCAST)


def downgrade() -> None:
    op.drop_index('ix_outbox_broadcast', table_name='outbox', sqlite_where=WITH_BROADCAST, postgresql_where=WITH_BROADCAST)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('broadcast_id')
    op.drop_index(op.f('ix_broadcasts_status'), table_name='broadcasts')
    op.drop_table('broadcasts')
    op.drop_table('staff')
