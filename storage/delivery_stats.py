"""What the staff panel shows of delivery: the outbox counted over a period, its failures, and
the reminder runs per day. Read-only; recipients leave this module masked, bodies never.

    Period               a half-open span of UTC instants, made from Europe/Warsaw days
    delivery_counts      (channel, category, status) → messages queued in the period
    delivery_failures    failed messages of the period, newest first, a page at a time
    reminder_days        each day of a span: when it was planned and its reminders by status

A message belongs to the period in which it was queued (`outbox.created_at`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import WARSAW
from kernel.redact import mask_recipient
from storage.outbox import Status
from storage.outbox_models import OutboxMessage
from storage.reminder_models import ReminderCoverage, ReminderRun
from storage.sql import not_for_index

__all__ = [
    "FAILURE_STATUSES",
    "DeliveryCount",
    "DeliveryFilter",
    "FailurePage",
    "FailureRow",
    "Period",
    "ReminderDay",
    "delivery_counts",
    "delivery_failures",
    "reminder_days",
]

# Failed for now (retried) or for good: the statuses a failure list shows, each with its reason.
FAILURE_STATUSES: Final = (
    Status.TEMPORARY_FAILURE,
    Status.PERMANENT_FAILURE,
    Status.TECHNICAL_FAILURE,
)
_outbox = OutboxMessage.metadata.tables[OutboxMessage.__tablename__]
# A coverage row whose outbox row is gone (retention purged it) counts under this status.
PURGED: Final = "purged"


@dataclass(frozen=True)
class Period:
    """[since, until) in UTC."""

    since: datetime
    until: datetime

    @classmethod
    def of_days(cls, first: date, last: date) -> Period:
        """The Warsaw days `first` to `last`, both whole (a DST day is 23 or 25 hours)."""
        if last < first:
            raise ValueError("a period's last day is before its first")
        start = datetime.combine(first, time(), WARSAW)
        end = datetime.combine(last + timedelta(days=1), time(), WARSAW)
        return cls(start.astimezone(UTC), end.astimezone(UTC))


@dataclass(frozen=True)
class DeliveryFilter:
    """Narrowing by channel, category and status; None keeps all."""

    channel: str | None = None
    category: str | None = None
    status: str | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        chosen = (
            (OutboxMessage.channel, self.channel),
            (OutboxMessage.category, self.category),
            (OutboxMessage.status, self.status),
        )
        return [column == value for column, value in chosen if value is not None]


def _in_period(period: Period, created_at: Any = OutboxMessage.created_at) -> list[Any]:
    return [created_at >= period.since, created_at < period.until]


@dataclass(frozen=True)
class DeliveryCount:
    channel: str
    category: str
    status: str
    count: int


async def delivery_counts(
    session: AsyncSession, period: Period, narrowing: DeliveryFilter = DeliveryFilter()
) -> list[DeliveryCount]:
    """How many messages queued in the period are in each (channel, category, status)."""
    row = OutboxMessage
    query = (
        sa.select(row.channel, row.category, row.status, sa.func.count())
        .where(*_in_period(period), *narrowing.conditions())
        .group_by(row.channel, row.category, row.status)
        .order_by(row.channel, row.category, row.status)
    )
    return [DeliveryCount(*values) for values in (await session.execute(query)).all()]


@dataclass(frozen=True)
class FailureRow:
    """A failed message as staff see it: the recipient masked, no content."""

    id: int
    channel: str
    category: str
    status: str
    recipient_masked: str
    error: str
    attempts: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FailurePage:
    rows: list[FailureRow]
    # Pass as `before_id` for the next (older) page; None on the last page.
    next_before_id: int | None


async def delivery_failures(
    session: AsyncSession,
    period: Period,
    narrowing: DeliveryFilter = DeliveryFilter(),
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> FailurePage:
    """Failed messages queued in the period, newest first (by id), `limit` at a time.

    A status filter that is not a failure status gives an empty page."""
    row = OutboxMessage
    if narrowing.status is not None and narrowing.status not in FAILURE_STATUSES:
        return FailurePage([], None)
    # The failures' partial index gives the order; the period only filters what it finds.
    created_at = not_for_index(await session.connection(), _outbox.c.created_at)
    query = (
        sa.select(
            row.id,
            row.channel,
            row.category,
            row.status,
            row.recipient,
            row.error,
            row.attempts,
            row.created_at,
            row.updated_at,
        )  # fmt: skip
        .where(
            *_in_period(period, created_at),
            *narrowing.conditions(),
            # Written out, not bound, so that the planner can use the failures' partial index.
            row.status.in_([sa.literal_column(f"'{status}'") for status in FAILURE_STATUSES]),
        )
        .order_by(row.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(row.id < before_id)
    found = (await session.execute(query)).all()
    rows = [
        FailureRow(
            id=r.id,
            channel=r.channel,
            category=r.category,
            status=r.status,
            recipient_masked=mask_recipient(r.recipient),
            error=r.error or "",
            attempts=r.attempts,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )  # fmt: skip
        for r in found[:limit]
    ]
    return FailurePage(rows, rows[-1].id if len(found) > limit else None)


@dataclass(frozen=True)
class ReminderDay:
    """One day's reminder run: when it was planned (None: not planned, or not yet) and how many
    reminders it queued, by (channel, outbox status)."""

    on_date: date
    planned_at: datetime | None
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_status(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for (_, status), count in self.counts.items():
            totals[status] += count
        return totals

    def by_channel(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for (channel, _), count in self.counts.items():
            totals[channel] += count
        return totals


async def reminder_days(session: AsyncSession, first: date, last: date) -> list[ReminderDay]:
    """Every day from `last` back to `first` that was planned or has reminders, newest first."""
    runs = dict(
        (
            await session.execute(
                sa.select(ReminderRun.on_date, ReminderRun.planned_at).where(
                    ReminderRun.on_date.between(first, last)
                )
            )
        ).all()
    )
    coverage, outbox = ReminderCoverage, OutboxMessage
    status = sa.func.coalesce(outbox.status, PURGED)
    counted: Sequence[Any] = (
        await session.execute(
            sa.select(coverage.on_date, coverage.channel, status, sa.func.count())
            .outerjoin(outbox, outbox.key == coverage.outbox_key)
            .where(coverage.on_date.between(first, last))
            .group_by(coverage.on_date, coverage.channel, status)
        )
    ).all()
    days = {day: ReminderDay(day, planned_at) for day, planned_at in runs.items()}
    for day, channel, outbox_status, count in counted:
        days.setdefault(day, ReminderDay(day, None)).counts[(channel, outbox_status)] = count
    return sorted(days.values(), key=lambda day: day.on_date, reverse=True)
