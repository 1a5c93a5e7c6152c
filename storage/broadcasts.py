"""Broadcasts in the store: drafts, approval by a second person, fan-out batches, cancelling.

    create_broadcast / set_text / set_segment      a draft, by any enabled staff member
    approve_broadcast     draft → approved, by an enabled approver or admin who is not the author
    begin_send            approved → sending (a `sending` one again, after a crash)
    enqueue_batch         outbox rows of one batch, under the broadcast's row lock: a batch
                          and a cancel never interleave (one sees the other's outcome)
    finish_send           sending → sent, with how many messages were queued
    cancel_broadcast      any but cancelled → cancelled; its queued rows become `withdrawn`
    broadcast_counts      (channel, status, count) of its outbox rows
    broadcast_timeline    its messages handed to a provider per channel and interval (a chart)
    sending_broadcasts    those whose fan-out has not finished (the server resumes them)

`staff` is a staff member's name, or None for the operator at the server's command line (who is
nobody's second pair of eyes: a broadcast drafted without a name may be approved by any
approver). Every change is audited; the caller commits.

Exceptions:

    BroadcastError   (GminaError) the root of the refusals below
    ├── UnknownBroadcast   (NotFoundError)
    ├── BadText            (InputError) an empty or too long text, an unknown language
    └── WrongState         (ConflictError) not possible in the broadcast's present state
    and storage.staff's NotAllowed / UnknownStaff for who may act
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import ConflictError, GminaError, InputError, NotFoundError
from kernel.i18n import DEFAULT_LANGUAGE, LANGUAGES
from storage.audit import audit
from storage.models import Base, Contact, Taxpayer
from storage.outbox import NewMessage, Status, enqueue_bulk
from storage.outbox_models import OutboxMessage
from storage.preferences import channel_of_kind, reachable_addresses
from storage.segments import Segment, overdue_taxpayers, parse_segment, segment_filter
from storage.sql import epoch_seconds, lock_rows
from storage.staff import APPROVERS, NotAllowed, Role, acting_staff
from storage.staff_models import Broadcast

# Telegram's limit for one message; an SMS of this length goes out in many parts.
MAX_TEXT_LENGTH = 4096
CLI_OPERATOR = "cli"
_BROADCASTS = Base.metadata.tables[Broadcast.__tablename__]
_CONTACTS = Base.metadata.tables[Contact.__tablename__]
# The preferences' category for broadcasts.
ANNOUNCEMENTS = "announcements"


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class BroadcastError(GminaError):
    """A broadcast operation refused."""


class UnknownBroadcast(BroadcastError, NotFoundError):
    """No broadcast has this id."""


class BadText(BroadcastError, InputError):
    """A text that cannot be sent, or a language we do not speak."""


class WrongState(BroadcastError, ConflictError):
    """The broadcast's present state does not allow this."""


@dataclass(frozen=True)
class BroadcastView:
    id: int
    segment: str
    texts: dict[str, str]
    status: BroadcastStatus
    author: str | None
    approved_by: str | None
    approved_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    queued: int | None
    created_at: datetime
    updated_at: datetime

    def text_for(self, language: str) -> str:
        """The text in `language`, or the Polish one when there is none in it."""
        return self.texts.get(language) or self.texts[DEFAULT_LANGUAGE]


@dataclass(frozen=True)
class Recipient:
    """One taxpayer of a segment, on the channel an announcement reaches them."""

    taxpayer_id: int
    language: str
    channel: str
    address: str


def _view(row: Broadcast) -> BroadcastView:
    return BroadcastView(
        id=row.id,
        segment=row.segment,
        texts=dict(row.texts),
        status=BroadcastStatus(row.status),
        author=row.author,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        cancelled_by=row.cancelled_by,
        cancelled_at=row.cancelled_at,
        queued=row.queued,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _actor(staff: str | None) -> str:
    return f"staff:{staff or CLI_OPERATOR}"


async def _may_act(
    session: AsyncSession, staff: str | None, roles: Collection[Role] = tuple(Role)
) -> None:
    if staff is not None:
        await acting_staff(session, staff, roles)


def check_text(language: str, text: str) -> str:
    if language not in LANGUAGES:
        raise BadText(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    text = text.strip()
    if not text:
        raise BadText(f"the {language} text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise BadText(
            f"the {language} text has {len(text)} characters; at most {MAX_TEXT_LENGTH} "
            "(Telegram's limit for one message)"
        )
    return text


async def _row(session: AsyncSession, broadcast_id: int) -> Broadcast:
    row = await session.get(Broadcast, broadcast_id, populate_existing=True)
    if row is None:
        raise UnknownBroadcast(f"no broadcast {broadcast_id}")
    return row


async def _locked(session: AsyncSession, broadcast_id: int) -> Broadcast:
    """The broadcast's row, held against other writers until the transaction ends."""
    await lock_rows(await session.connection(), _BROADCASTS, [broadcast_id])
    return await _row(session, broadcast_id)


def _require(row: Broadcast, allowed: Collection[BroadcastStatus], doing: str) -> None:
    if row.status not in allowed:
        raise WrongState(f"broadcast {row.id} is {row.status}: it cannot be {doing}")


async def get_broadcast(session: AsyncSession, broadcast_id: int) -> BroadcastView:
    return _view(await _row(session, broadcast_id))


async def create_broadcast(
    session: AsyncSession,
    segment: str,
    language: str,
    text: str,
    *,
    staff: str | None,
    now: datetime,
) -> BroadcastView:
    parsed = parse_segment(segment)
    text = check_text(language, text)
    await _may_act(session, staff)
    row = Broadcast(
        segment=parsed.spec,
        texts={language: text},
        status=BroadcastStatus.DRAFT,
        author=staff,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    details = {"broadcast": row.id, "segment": parsed.spec, "language": language}
    await audit(session, _actor(staff), "broadcast.create", None, details, now)
    return _view(row)


async def set_text(
    session: AsyncSession,
    broadcast_id: int,
    language: str,
    text: str,
    *,
    staff: str | None,
    now: datetime,
) -> BroadcastView:
    """Add or replace the text in one language; only while a draft (approval covers the text)."""
    text = check_text(language, text)
    await _may_act(session, staff)
    row = await _locked(session, broadcast_id)
    _require(row, [BroadcastStatus.DRAFT], "edited")
    row.texts = {**row.texts, language: text}
    row.updated_at = now
    details = {"broadcast": row.id, "language": language}
    await audit(session, _actor(staff), "broadcast.text", None, details, now)
    return _view(row)


async def set_segment(
    session: AsyncSession, broadcast_id: int, segment: str, *, staff: str | None, now: datetime
) -> BroadcastView:
    parsed = parse_segment(segment)
    await _may_act(session, staff)
    row = await _locked(session, broadcast_id)
    _require(row, [BroadcastStatus.DRAFT], "edited")
    row.segment = parsed.spec
    row.updated_at = now
    details = {"broadcast": row.id, "segment": parsed.spec}
    await audit(session, _actor(staff), "broadcast.segment", None, details, now)
    return _view(row)


async def approve_broadcast(
    session: AsyncSession, broadcast_id: int, *, staff: str, now: datetime
) -> BroadcastView:
    """The second pair of eyes: an enabled approver or admin other than the author."""
    await acting_staff(session, staff, APPROVERS)
    row = await _locked(session, broadcast_id)
    if row.author == staff:
        raise NotAllowed(f"{staff} wrote broadcast {row.id}: another approver must approve it")
    _require(row, [BroadcastStatus.DRAFT], "approved")
    if DEFAULT_LANGUAGE not in row.texts:
        raise BadText(
            f"broadcast {row.id} has no {DEFAULT_LANGUAGE} text, which every other language "
            "falls back to"
        )
    row.status = BroadcastStatus.APPROVED
    row.approved_by = staff
    row.approved_at = now
    row.updated_at = now
    await audit(session, _actor(staff), "broadcast.approve", None, {"broadcast": row.id}, now)
    return _view(row)


async def begin_send(
    session: AsyncSession, broadcast_id: int, *, staff: str | None, now: datetime
) -> BroadcastView:
    """approved → sending; a `sending` one (its fan-out was cut short) goes on as it is."""
    await _may_act(session, staff)
    row = await _locked(session, broadcast_id)
    _require(row, [BroadcastStatus.APPROVED, BroadcastStatus.SENDING], "sent")
    if row.status == BroadcastStatus.APPROVED:
        row.status = BroadcastStatus.SENDING
        row.send_started_at = now
        row.updated_at = now
    details = {"broadcast": row.id, "resumed": row.send_started_at != now}
    await audit(session, _actor(staff), "broadcast.send", None, details, now)
    return _view(row)


async def enqueue_batch(
    session: AsyncSession, broadcast_id: int, messages: Sequence[NewMessage], now: datetime
) -> int | None:
    """Queue one batch of the fan-out; None (and nothing queued) when the broadcast is no longer
    sending (it was cancelled). Returns how many were new. Commits."""
    row = await _locked(session, broadcast_id)
    if row.status != BroadcastStatus.SENDING:
        await session.rollback()
        return None
    added = await enqueue_bulk(session, messages, now)
    await session.commit()
    return added


async def finish_send(
    session: AsyncSession, broadcast_id: int, queued: int, now: datetime
) -> BroadcastView:
    row = await _locked(session, broadcast_id)
    if row.status == BroadcastStatus.SENDING:
        row.status = BroadcastStatus.SENT
        row.queued = queued
        row.queued_at = now
        row.updated_at = now
    return _view(row)


async def cancel_broadcast(
    session: AsyncSession, broadcast_id: int, *, staff: str | None, now: datetime
) -> int:
    """Cancel it, withdrawing its messages not yet taken for sending; returns how many.

    Withdrawn rows stay in the outbox with the terminal status `withdrawn` rather than being
    deleted: their keys keep a later fan-out from queueing them again, and the counts still
    show what was held back. A message already `sending` goes (its provider call is under way).
    """
    await _may_act(session, staff)
    row = await _locked(session, broadcast_id)
    _require(row, [s for s in BroadcastStatus if s != BroadcastStatus.CANCELLED], "cancelled")
    row.status = BroadcastStatus.CANCELLED
    row.cancelled_by = staff or CLI_OPERATOR
    row.cancelled_at = now
    row.updated_at = now
    result: sa.CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.broadcast_id == broadcast_id,
            OutboxMessage.status.in_([Status.CREATED, Status.TEMPORARY_FAILURE]),
        )
        .values(status=Status.WITHDRAWN, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    withdrawn = int(result.rowcount)
    details = {"broadcast": row.id, "withdrawn": withdrawn}
    await audit(session, _actor(staff), "broadcast.cancel", None, details, now)
    return withdrawn


async def broadcast_counts(session: AsyncSession, broadcast_id: int) -> list[tuple[str, str, int]]:
    """`(channel, status, count)` of the broadcast's outbox rows."""
    row = OutboxMessage
    result = await session.execute(
        sa.select(row.channel, row.status, sa.func.count())
        .where(row.broadcast_id == broadcast_id)
        .group_by(row.channel, row.status)
        .order_by(row.channel, row.status)
    )
    return [(channel, status, int(count)) for channel, status, count in result.all()]


# Interval widths a timeline may use, in seconds: the first that keeps it within its bars.
TIMELINE_STEPS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)


@dataclass(frozen=True)
class Timeline:
    """Messages handed to a provider (`sent_at`) per channel and interval, oldest first."""

    start: datetime
    step_seconds: int
    # channel → one count per interval
    counts: dict[str, list[int]]

    @property
    def intervals(self) -> int:
        return len(next(iter(self.counts.values()), []))

    def interval_start(self, index: int) -> datetime:
        return self.start + timedelta(seconds=index * self.step_seconds)


async def broadcast_timeline(
    session: AsyncSession, broadcast_id: int, most_intervals: int = 48
) -> Timeline | None:
    """When its messages went out, in at most `most_intervals` intervals of a round width;
    None before the first one went."""
    row = OutboxMessage
    mine = sa.and_(row.broadcast_id == broadcast_id, row.sent_at.is_not(None))
    second = epoch_seconds(session, row.sent_at)
    first, last = (
        await session.execute(sa.select(sa.func.min(second), sa.func.max(second)).where(mine))
    ).one()
    if first is None:
        return None
    span = int(last) - int(first) + 1
    step = next((s for s in TIMELINE_STEPS if span <= s * most_intervals), TIMELINE_STEPS[-1])
    origin = int(first) - int(first) % step
    interval = ((second - origin) // step).label("interval")
    result = await session.execute(
        sa.select(row.channel, interval, sa.func.count())
        .where(mine)
        .group_by(row.channel, interval)
    )
    intervals = (int(last) - origin) // step + 1
    counts: dict[str, list[int]] = {}
    for channel, index, count in result.all():
        counts.setdefault(channel, [0] * intervals)[int(index)] += int(count)
    return Timeline(datetime.fromtimestamp(origin, UTC), step, dict(sorted(counts.items())))


async def sending_broadcasts(session: AsyncSession) -> list[int]:
    result = await session.scalars(
        sa.select(Broadcast.id)
        .where(Broadcast.status == BroadcastStatus.SENDING)
        .order_by(Broadcast.id)
    )
    return list(result)


async def list_broadcasts(session: AsyncSession, limit: int = 50) -> list[BroadcastView]:
    rows = await session.scalars(sa.select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))
    return [_view(row) for row in rows]


async def segment_recipients(
    session: AsyncSession, segment: Segment, today: date
) -> list[Recipient]:
    """Every taxpayer of the segment on their first channel for announcements (consented, not
    opted out, not unreachable: storage.preferences), in taxpayer order; those no channel
    reaches are left out."""
    query = (
        reachable_addresses(ANNOUNCEMENTS)
        .join(Taxpayer, Taxpayer.id == _CONTACTS.c.taxpayer_id)
        .add_columns(Taxpayer.language)
        .where(segment_filter(segment, today), channel_of_kind().in_(segment.channels))
    )
    overdue = await overdue_taxpayers(session, today) if segment.overdue else None
    found: dict[int, Recipient] = {}
    for taxpayer_id, channel, address, language in await session.execute(query):
        if taxpayer_id in found or (overdue is not None and taxpayer_id not in overdue):
            continue
        found[taxpayer_id] = Recipient(taxpayer_id, language, channel, address)
    return list(found.values())
