"""panel security: failed logins, ended sessions, the TOTP replay guard, revoked sessions

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 09:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('panel_login_failures',
    sa.Column('id', Id, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panel_login_failures'))
    )
    op.create_index('ix_panel_login_failures_account_at', 'panel_login_failures', ['account', 'at'], unique=False)
    op.create_index('ix_panel_login_failures_address_at', 'panel_login_failures', ['address', 'at'], unique=False)
    op.create_table('panel_ended_sessions',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sid', name=op.f('pk_panel_ended_sessions'))
    )
    op.create_index(op.f('ix_panel_ended_sessions_expires_at'), 'panel_ended_sessions', ['expires_at'], unique=False)
    # Plain ADD COLUMNs: SQLite need not copy the table.
    op.add_column('staff', sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
    op.add_column('staff', sa.Column('sessions_revoked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('sessions_revoked_at')
        batch.drop_column('totp_last_step')
    op.drop_index(op.f('ix_panel_ended_sessions_expires_at'), table_name='panel_ended_sessions')
    op.drop_table('panel_ended_sessions')
    op.drop_index('ix_panel_login_failures_address_at', table_name='panel_login_failures')
    op.drop_index('ix_panel_login_failures_account_at', table_name='panel_login_failures')
    op.drop_table('panel_login_failures')
