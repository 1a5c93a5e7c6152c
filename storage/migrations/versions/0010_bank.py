"""bank: unmatched bank credits, kept for staff

A payment always has a taxpayer; a credit on the city's bank statement that no taxpayer's
individual account received waits in `unmatched_credits`, once per (source, external_ref),
until staff assign it (storage/bookings.py).

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('unmatched_credits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('external_ref', sa.String(length=96), nullable=False),
    sa.Column('account', sa.String(length=34), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('counterparty', sa.String(length=140), nullable=False),
    sa.Column('counterparty_account', sa.String(length=34), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('assigned_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_unmatched_credits_payment_id_payments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unmatched_credits')),
    sa.UniqueConstraint('source', 'external_ref', name=op.f('uq_unmatched_credits_source'))
    )
    op.create_index(op.f('ix_unmatched_credits_payment_id'), 'unmatched_credits', ['payment_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_unmatched_credits_payment_id'), table_name='unmatched_credits')
    op.drop_table('unmatched_credits')
