"""payment obligation owner: a payment may name only its own taxpayer's obligation

The payments import checks this, but an obligations re-import (or one racing a payments
import) could move a named obligation to another taxpayer. Now the store refuses that state.

PostgreSQL: a composite foreign key, (obligation_id, taxpayer_id) of a payment to (id,
taxpayer_id) of an obligation, checked with the row locks that foreign keys take, so two
transactions cannot slip past each other. An obligation's deletion still sets the payment's
obligation_id to NULL through the single-column key (a NULL skips the composite one).
SQLite (one writer at a time): triggers on both tables, without rebuilding `payments`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "a payment names another taxpayer''s obligation"

SQLITE_TRIGGERS = {
    'payments_obligation_owner_insert': f"""
CREATE TRIGGER payments_obligation_owner_insert BEFORE INSERT ON payments
WHEN NEW.obligation_id IS NOT NULL
 AND (SELECT taxpayer_id FROM obligations WHERE id = NEW.obligation_id) IS NOT NEW.taxpayer_id
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
""",
    'payments_obligation_owner_update': f"""
CREATE TRIGGER payments_obligation_owner_update
BEFORE UPDATE OF obligation_id, taxpayer_id ON payments
WHEN NEW.obligation_id IS NOT NULL
 AND (SELECT taxpayer_id FROM obligations WHERE id = NEW.obligation_id) IS NOT NEW.taxpayer_id
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
""",
    'obligations_keep_named_payments': f"""
CREATE TRIGGER obligations_keep_named_payments BEFORE UPDATE OF taxpayer_id ON obligations
WHEN NEW.taxpayer_id IS NOT OLD.taxpayer_id
 AND EXISTS (SELECT 1 FROM payments WHERE obligation_id = OLD.id)
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
""",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.create_unique_constraint(
            'uq_obligations_id_taxpayer_id', 'obligations', ['id', 'taxpayer_id']
        )
        op.create_foreign_key(
            'fk_payments_obligation_id_taxpayer_id_obligations', 'payments', 'obligations',
            ['obligation_id', 'taxpayer_id'], ['id', 'taxpayer_id'],
        )
    else:
        for statement in SQLITE_TRIGGERS.values():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(
            'fk_payments_obligation_id_taxpayer_id_obligations', 'payments', type_='foreignkey'
        )
        op.drop_constraint('uq_obligations_id_taxpayer_id', 'obligations', type_='unique')
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f'DROP TRIGGER {name}')
