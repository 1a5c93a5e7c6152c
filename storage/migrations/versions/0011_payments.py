"""payments: payment links and gateway transactions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 06:37:51
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('payment_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('taxpayer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['taxpayer_id'], ['taxpayers.id'], name=op.f('fk_payment_links_taxpayer_id_taxpayers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_payment_links_token_hash'))
    )
    with op.batch_alter_table('payment_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_links_taxpayer_id'), ['taxpayer_id'], unique=False)

    op.create_table('gateway_transactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('link_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('taxpayer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('gateway', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('provider_order_id', sa.String(length=64), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['payment_links.id'], name=op.f('fk_gateway_transactions_link_id_payment_links'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['taxpayer_id'], ['taxpayers.id'], name=op.f('fk_gateway_transactions_taxpayer_id_taxpayers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_transactions')),
    sa.UniqueConstraint('session_id', name=op.f('uq_gateway_transactions_session_id'))
    )
    with op.batch_alter_table('gateway_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_transactions_link_id'), ['link_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_transactions_taxpayer_id'), ['taxpayer_id'], unique=False)

    op.create_table('payment_link_obligations',
    sa.Column('link_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('obligation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['payment_links.id'], name=op.f('fk_payment_link_obligations_link_id_payment_links'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['obligation_id'], ['obligations.id'], name=op.f('fk_payment_link_obligations_obligation_id_obligations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'obligation_id', name=op.f('pk_payment_link_obligations'))
    )
    with op.batch_alter_table('payment_link_obligations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_link_obligations_obligation_id'), ['obligation_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment_link_obligations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_link_obligations_obligation_id'))

    op.drop_table('payment_link_obligations')
    with op.batch_alter_table('gateway_transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_transactions_taxpayer_id'))
        batch_op.drop_index(batch_op.f('ix_gateway_transactions_link_id'))

    op.drop_table('gateway_transactions')
    with op.batch_alter_table('payment_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_links_taxpayer_id'))

    op.drop_table('payment_links')
