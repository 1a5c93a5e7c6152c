"""allocations within payments: the store refuses an over-allocation or one across taxpayers

A payment's allocations add up to at most its amount, and an allocation's obligation belongs
to the payment's taxpayer. `storage.balances.refresh_allocations` serialises its writers per
taxpayer; these triggers make a state that breaks either rule impossible to commit, whatever
wrote it.

PostgreSQL: one check per statement over its new rows (a transition table, so a COPY of many
allocations is checked in one query), after locking their payments in id order: a second
transaction allocating the same payment waits there and then sees the first one's rows.
SQLite: a check per row before it is written (one writer at a time, so nothing to wait for).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OVER_ALLOCATED = 'over-allocation: the allocations of a payment exceed its amount'
ACROSS_TAXPAYERS = "allocation of a payment to another taxpayer's obligation"

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION allocations_within_payments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM payments
    WHERE id IN (SELECT payment_id FROM new_allocations) ORDER BY id FOR UPDATE;
    IF EXISTS (
        SELECT 1 FROM payments p
        JOIN (SELECT DISTINCT payment_id FROM new_allocations) n ON n.payment_id = p.id
        WHERE p.amount < (
            SELECT sum(a.principal + a.interest) FROM allocations a WHERE a.payment_id = p.id
        )
    ) THEN
        RAISE EXCEPTION '{OVER_ALLOCATED}' USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM new_allocations n
        JOIN payments p ON p.id = n.payment_id
        JOIN obligations o ON o.id = n.obligation_id
        WHERE o.taxpayer_id <> p.taxpayer_id
    ) THEN
        RAISE EXCEPTION '{ACROSS_TAXPAYERS.replace("'", "''")}' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$
"""


def _sqlite_trigger(event: str, others: str) -> str:
    return f"""
CREATE TRIGGER allocations_within_payments_{event.lower()} BEFORE {event} ON allocations
BEGIN
    SELECT RAISE(ABORT, '{OVER_ALLOCATED}')
    WHERE NEW.principal + NEW.interest + (
        SELECT coalesce(sum(principal + interest), 0) FROM allocations
        WHERE payment_id = NEW.payment_id{others}
    ) > (SELECT amount FROM payments WHERE id = NEW.payment_id);
    SELECT RAISE(ABORT, '{ACROSS_TAXPAYERS.replace("'", "''")}')
    WHERE NEW.obligation_id IS NOT NULL
      AND (SELECT taxpayer_id FROM obligations WHERE id = NEW.obligation_id)
          IS NOT (SELECT taxpayer_id FROM payments WHERE id = NEW.payment_id);
END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(POSTGRESQL_FUNCTION)
        for event in ('INSERT', 'UPDATE'):
            op.execute(
                f'CREATE TRIGGER allocations_within_payments_{event.lower()} '
                f'AFTER {event} ON allocations REFERENCING NEW TABLE AS new_allocations '
                'FOR EACH STATEMENT EXECUTE FUNCTION allocations_within_payments()'
            )
    else:
        op.execute(_sqlite_trigger('INSERT', ''))
        op.execute(_sqlite_trigger('UPDATE', ' AND id <> OLD.id'))


def downgrade() -> None:
    for event in ('insert', 'update'):
        op.execute(f'DROP TRIGGER allocations_within_payments_{event}'
                   + (' ON allocations' if op.get_bind().dialect.name == 'postgresql' else ''))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION allocations_within_payments()')
