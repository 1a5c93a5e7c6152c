"""The reminder planner's queries: what is due at given effective due dates and still unpaid,
what each queued reminder covered, and which days were planned.

    obligations_due_at   per taxpayer, the obligations whose effective due date is one of the
                         dates given and that still have principal outstanding (payments known
                         now count, whatever day is planned: a late plan reminds of nothing paid)
    record_coverage      what each queued reminder listed (one row per outbox key)
    latest_reminder      the newest reminder of a taxpayer since a time, with what it listed
    covered_now          what a queued reminder listed, as it stands now (for its fallback copy)
    mark_planned / last_planned_day   the days planned, for catching up after a gap
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.ledger import DELIVERY_NOTICE, effective_due_date
from storage.models import Allocation, Contact, Obligation, Taxpayer, as_money
from storage.reminder_models import ReminderCoverage, ReminderRun
from storage.sql import add_days, insert_on_conflict

# How far back a deadline can lie and still be shifted onto a later day: Saturdays, Sundays and
# holidays in a row (24–26 December with a weekend is five).
_LONGEST_SHIFT = 10
# OP art. 47 §2: a decision delivered under fourteen days before a deadline moves it to fourteen
# days after delivery (then past days off), so it was delivered this long before its new date.
_DELIVERY_NOTICE = DELIVERY_NOTICE.days
_DELIVERY_REACH = _DELIVERY_NOTICE + _LONGEST_SHIFT


@dataclass(frozen=True)
class DueObligation:
    id: int
    ref: str
    kind: str
    effective_due_date: date
    outstanding: Decimal


@dataclass(frozen=True)
class DueTaxpayer:
    id: int
    ref: str
    language: str
    account_number: str | None
    obligations: list[DueObligation]


def statutory_due_dates(effective: Collection[date]) -> set[date]:
    """Every statutory due date whose working-day shift lands on one of `effective`."""
    return {
        day - timedelta(days=back)
        for day in effective
        for back in range(_LONGEST_SHIFT + 1)
        if effective_due_date(day - timedelta(days=back)) == day
    }


async def obligations_due_at(
    session: AsyncSession, effective: Collection[date], kinds: Sequence[str] = ()
) -> list[DueTaxpayer]:
    """Taxpayers with a consent on record and obligations whose effective due date is in
    `effective` and whose principal is not all paid; `kinds` narrows the kinds (empty: all)."""
    if not effective:
        return []
    paid = sa.func.coalesce(sa.func.sum(Allocation.principal), 0)
    latest = max(effective)
    # A decision delivered late moves its deadline (OP art. 47 §2): such obligations are
    # taken by the delivery date and their effective date is worked out below.
    by_date = Obligation.due_date.in_(sorted(statutory_due_dates(effective)))
    delivered = Obligation.decision_delivered_on
    late_delivery = delivered.between(
        min(effective) - timedelta(days=_DELIVERY_REACH),
        latest - timedelta(days=_DELIVERY_NOTICE),
    ) & (Obligation.due_date < add_days(session, delivered, _DELIVERY_NOTICE))
    # Only taxpayers who agreed to notices somewhere: most of a city has not.
    consented = (
        sa.select(Contact.id)
        .where(Contact.taxpayer_id == Obligation.taxpayer_id, Contact.notify_consent.is_(True))
        .exists()
    )
    query = (
        sa.select(
            Obligation.id,
            Obligation.ref,
            Obligation.kind,
            Obligation.due_date,
            Obligation.decision_delivered_on,
            as_money(Obligation.amount - paid).label("outstanding"),
            Taxpayer.id.label("taxpayer_id"),
            Taxpayer.ref.label("taxpayer_ref"),
            Taxpayer.language,
            Taxpayer.account_number,
        )
        .join(Taxpayer, Taxpayer.id == Obligation.taxpayer_id)
        .outerjoin(Allocation, Allocation.obligation_id == Obligation.id)
        .where(consented)
        .group_by(Obligation.id, Taxpayer.id)
        .having(Obligation.amount > paid)
    )
    if kinds:
        query = query.where(Obligation.kind.in_(list(kinds)))
    # Two index searches, not one scan for `by_date OR late_delivery`.
    rows = {}
    connection = await session.connection()
    for condition in (by_date, late_delivery):
        for row in await connection.execute(query.where(condition)):
            rows[row.id] = row
    found: dict[int, DueTaxpayer] = {}
    shifted = functools.lru_cache(maxsize=None)(effective_due_date)
    for row in sorted(rows.values(), key=lambda r: (r.taxpayer_id, r.due_date, r.id)):
        due = shifted(row.due_date, row.decision_delivered_on)
        if due not in effective:
            continue
        taxpayer = found.get(row.taxpayer_id)
        if taxpayer is None:
            taxpayer = found[row.taxpayer_id] = DueTaxpayer(
                row.taxpayer_id, row.taxpayer_ref, row.language, row.account_number, []
            )
        taxpayer.obligations.append(DueObligation(row.id, row.ref, row.kind, due, row.outstanding))
    return list(found.values())


@dataclass(frozen=True)
class Coverage:
    outbox_key: str
    taxpayer_id: int
    channel: str
    recipient: str
    on_date: date
    obligation_ids: list[int]


async def record_coverage(
    session: AsyncSession, covered: Sequence[Coverage], now: datetime
) -> None:
    """What each reminder listed; a reminder recorded already keeps its row."""
    if not covered:
        return
    await session.execute(
        insert_on_conflict(session, ReminderCoverage).on_conflict_do_nothing(
            index_elements=["outbox_key"]
        ),
        [
            {
                "outbox_key": item.outbox_key,
                "taxpayer_id": item.taxpayer_id,
                "channel": item.channel,
                "recipient": item.recipient,
                "on_date": item.on_date,
                "obligation_ids": item.obligation_ids,
                "queued_at": now,
            }
            for item in covered
        ],
    )


@dataclass(frozen=True)
class Reminded:
    """The newest reminder of a taxpayer: its day and the references of what it listed."""

    on_date: date
    queued_at: datetime
    refs: frozenset[str]


async def latest_reminder(
    session: AsyncSession, taxpayer_id: int, since: datetime, key: str | None = None
) -> Reminded | None:
    """The taxpayer's newest reminder queued since `since`; with `key`, that one reminder (None
    when the key names no reminder of this taxpayer: a key sent in a message names only the
    sender's own)."""
    query = (
        sa.select(
            ReminderCoverage.on_date,
            ReminderCoverage.queued_at,
            ReminderCoverage.obligation_ids,
        )
        .where(
            ReminderCoverage.taxpayer_id == taxpayer_id,
            ReminderCoverage.queued_at >= since,
        )
        .order_by(ReminderCoverage.queued_at.desc(), ReminderCoverage.id.desc())
        .limit(1)
    )
    if key is not None:
        query = query.where(ReminderCoverage.outbox_key == key)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    ids = [int(value) for value in row.obligation_ids]
    # An obligation the finance system has withdrawn since is simply no longer listed.
    refs = await session.scalars(sa.select(Obligation.ref).where(Obligation.id.in_(ids)))
    return Reminded(row.on_date, row.queued_at, frozenset(refs))


@dataclass(frozen=True)
class CoveredNow:
    """A queued reminder's day and taxpayer, with what it listed that is still unpaid."""

    on_date: date
    taxpayer: DueTaxpayer


async def covered_now(session: AsyncSession, outbox_key: str) -> CoveredNow | None:
    """What the reminder queued under `outbox_key` listed and is still outstanding now (its
    obligations may have none: all paid since); None when no reminder has that key."""
    found = (
        await session.execute(
            sa.select(
                ReminderCoverage.on_date,
                ReminderCoverage.obligation_ids,
                Taxpayer.id,
                Taxpayer.ref,
                Taxpayer.language,
                Taxpayer.account_number,
            )
            .join(Taxpayer, Taxpayer.id == ReminderCoverage.taxpayer_id)
            .where(ReminderCoverage.outbox_key == outbox_key)
        )
    ).one_or_none()
    if found is None:
        return None
    paid = sa.func.coalesce(sa.func.sum(Allocation.principal), 0)
    rows = await session.execute(
        sa.select(
            Obligation.id,
            Obligation.ref,
            Obligation.kind,
            Obligation.due_date,
            Obligation.decision_delivered_on,
            as_money(Obligation.amount - paid).label("outstanding"),
        )
        .outerjoin(Allocation, Allocation.obligation_id == Obligation.id)
        .where(Obligation.id.in_([int(value) for value in found.obligation_ids]))
        .group_by(Obligation.id)
        .having(Obligation.amount > paid)
        .order_by(Obligation.due_date, Obligation.id)
    )
    obligations = [
        DueObligation(
            row.id,
            row.ref,
            row.kind,
            effective_due_date(row.due_date, row.decision_delivered_on),
            row.outstanding,
        )
        for row in rows
    ]
    taxpayer = DueTaxpayer(found.id, found.ref, found.language, found.account_number, obligations)
    return CoveredNow(found.on_date, taxpayer)


async def mark_planned(session: AsyncSession, day: date, now: datetime) -> None:
    await session.execute(
        insert_on_conflict(session, ReminderRun)
        .values(on_date=day, planned_at=now)
        .on_conflict_do_nothing(index_elements=["on_date"])
    )


async def last_planned_day(session: AsyncSession) -> date | None:
    found: date | None = await session.scalar(sa.select(sa.func.max(ReminderRun.on_date)))
    return found
