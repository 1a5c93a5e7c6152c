"""Writing a planned import: taxpayers with their contacts, obligations, payments, and the
ledger's allocations of the taxpayers concerned, through storage.sql's bulk writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.balances import load_rate_tables, refresh_allocations
from storage.import_plan import Plan, TaxpayerPlan, id_map
from storage.import_reader import ImportKind
from storage.import_rows import (
    CONSENT_SOURCE,
    OBLIGATION_COLUMNS,
    PAYMENT_COLUMNS,
    TAXPAYER_COLUMNS,
    TaxpayerRow,
)
from storage.ledger import LedgerPolicy
from storage.models import Base, Contact, ContactKind, Obligation, Payment, Taxpayer
from storage.preferences import record_imported_consents
from storage.sql import Stamp, among, analyze_after_load, chunks, insert_rows, update_rows

_taxpayers = Base.metadata.tables[Taxpayer.__tablename__]
_contacts = Base.metadata.tables[Contact.__tablename__]
_obligations = Base.metadata.tables[Obligation.__tablename__]
_payments = Base.metadata.tables[Payment.__tablename__]


def _contact_rows(taxpayer_id: int, row: TaxpayerRow, now: Stamp) -> list[tuple[Any, ...]]:
    consent = row.consent or (False, False)
    rows = []
    for kind, value, agreed in (
        (ContactKind.PHONE, row.phone, consent[0]),
        (ContactKind.EMAIL, row.email, consent[1]),
    ):
        if value is not None:
            rows.append((
                taxpayer_id, kind.value, value, CONSENT_SOURCE, agreed,
                CONSENT_SOURCE if agreed else None, now if agreed else None, now,
            ))  # fmt: skip
    return rows


CONTACT_COLUMNS: Final = (
    "taxpayer_id", "kind", "value", "source", "notify_consent", "consent_source", "consent_at",
    "created_at",
)  # fmt: skip


async def _sync_contacts(
    connection: AsyncConnection, changed: Mapping[int, TaxpayerRow], now: Stamp
) -> None:
    """Bring the imported contacts of changed taxpayers in line with the file.

    Contacts from other sources (chat, portal, staff) stay; so does a consent given elsewhere.
    """
    on_record: dict[int, list[Any]] = defaultdict(list)
    ids = list(changed)
    for chunk in chunks(ids, 500):
        result = await connection.execute(
            sa.select(
                _contacts.c.id, _contacts.c.taxpayer_id, _contacts.c.kind, _contacts.c.value,
                _contacts.c.source, _contacts.c.notify_consent, _contacts.c.consent_source,
            ).where(among(connection, _contacts.c.taxpayer_id, chunk))
        )  # fmt: skip
        for contact in result:
            on_record[contact.taxpayer_id].append(contact)
    inserts: list[tuple[Any, ...]] = []
    consent_updates: list[tuple[Any, ...]] = []
    consent_changes: list[tuple[int, str, str, bool]] = []
    deletes: list[int] = []
    for taxpayer_id, row in changed.items():
        wanted = {(r[1], r[2]): r for r in _contact_rows(taxpayer_id, row, now)}
        for contact in on_record.get(taxpayer_id, []):
            new = wanted.pop((contact.kind, contact.value), None)
            if new is None:
                imported_consent = contact.consent_source in (None, CONSENT_SOURCE)
                if contact.source == CONSENT_SOURCE and imported_consent:
                    deletes.append(contact.id)
                    if contact.notify_consent:
                        consent_changes.append((taxpayer_id, contact.kind, contact.value, False))
                continue
            if row.consent is None or new[4] == contact.notify_consent:
                continue
            if new[4] or contact.consent_source == CONSENT_SOURCE:
                consent_updates.append((contact.id, new[4], new[5], new[6]))
                consent_changes.append((taxpayer_id, contact.kind, contact.value, new[4]))
        inserts.extend(wanted.values())
    consent_changes.extend(_consents_given(inserts))
    if deletes:
        for chunk in chunks(deletes, 500):
            await connection.execute(
                _contacts.delete().where(among(connection, _contacts.c.id, chunk))
            )
    await update_rows(
        connection, _contacts, ("notify_consent", "consent_source", "consent_at"), consent_updates
    )
    await insert_rows(connection, _contacts, CONTACT_COLUMNS, inserts)
    await record_imported_consents(connection, consent_changes, CONSENT_SOURCE, now)


def _consents_given(contacts: Sequence[tuple[Any, ...]]) -> list[tuple[int, str, str, bool]]:
    """(taxpayer_id, kind, value, True) of the new contact rows that carry a consent."""
    return [(row[0], row[1], row[2], True) for row in contacts if row[4]]


async def write_taxpayers(connection: AsyncConnection, plan: TaxpayerPlan, now: Stamp) -> None:
    if plan.release_accounts:
        for chunk in chunks(plan.release_accounts, 500):
            await connection.execute(
                _taxpayers.update()
                .where(among(connection, _taxpayers.c.id, chunk))
                .values(account_number=None)
            )
    stamped = {"updated_at": now}
    await update_rows(connection, _taxpayers, TAXPAYER_COLUMNS[1:], plan.updates, stamped)
    created = {"created_at": now, "updated_at": now}
    await insert_rows(connection, _taxpayers, TAXPAYER_COLUMNS, plan.inserts, created)
    await analyze_after_load(connection, _taxpayers, len(plan.inserts) + len(plan.updates))
    await _sync_contacts(connection, plan.updated_rows, now)
    if plan.inserted_rows:
        ids = await id_map(connection, _taxpayers)
        contacts = [
            contact
            for row in plan.inserted_rows
            for contact in _contact_rows(ids[row.values[0]], row, now)
        ]
        await insert_rows(connection, _contacts, CONTACT_COLUMNS, contacts)
        await record_imported_consents(connection, _consents_given(contacts), CONSENT_SOURCE, now)


async def write_rows(connection: AsyncConnection, kind: ImportKind, plan: Plan, now: Stamp) -> None:
    """Obligations or payments: changed rows updated in place by id, new ones inserted."""
    columns: tuple[str, ...]
    if kind is ImportKind.OBLIGATIONS:
        table, columns = _obligations, OBLIGATION_COLUMNS
        stamped: dict[str, Stamp] = {"updated_at": now}
        created: dict[str, Stamp] = {"created_at": now, "updated_at": now}
    else:
        # A payment is a fact that happened: it has no updated_at.
        table, columns = _payments, PAYMENT_COLUMNS
        stamped, created = {}, {"created_at": now}
    await update_rows(connection, table, columns[1:], plan.updates, stamped)
    await insert_rows(connection, table, columns, plan.inserts, created)
    await analyze_after_load(connection, table, len(plan.updates) + len(plan.inserts))


async def refresh_ledger(session: AsyncSession, touched: set[int], policy: LedgerPolicy) -> None:
    """Rewrite the allocations of the touched taxpayers that have payments."""
    if not touched:
        return
    connection = await session.connection()
    result = await connection.execute(sa.select(_payments.c.taxpayer_id).distinct())
    paying = touched.intersection(result.scalars())
    if paying:
        rates = await load_rate_tables(session)
        await refresh_allocations(session, paying, policy, rates)
