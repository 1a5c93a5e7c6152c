"""sms: segments and encoding per outbox message; the history of unreachable marks; choices offered

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-29 06:38:53.083745
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reachability_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('change', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reachability_changes'))
    )
    with op.batch_alter_table('reachability_changes', schema=None) as batch_op:
        batch_op.create_index('ix_reachability_changes_recipient', ['channel', 'recipient', 'at'], unique=False)

    op.create_table('sms_choices',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_sms_choices'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_segments', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('sms_encoding', sa.String(length=4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('sms_encoding')
        batch_op.drop_column('sms_segments')

    op.drop_table('sms_choices')

    with op.batch_alter_table('reachability_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_reachability_changes_recipient')

    op.drop_table('reachability_changes')
