"""The outbox: every message to a resident is a row, queued once under its idempotency key.

    enqueue          insert rows; a key queued already is left as it is (a retried job adds none)
    claim_due        take due rows for sending (`FOR UPDATE SKIP LOCKED` on PostgreSQL), one
                     pending row per chat at a time, so each chat gets its messages in order
    record_outcomes  after the provider answered (no transaction is held across the call)
    apply_provider_status   a status callback, through the same forward-only state machine

Statuses: created → sending → sent → delivered, or temporary-failure (retried later),
permanent-failure, technical-failure; or withdrawn before it was sent (a cancelled broadcast).
A `sending` row whose lease ran out (its dispatcher died) is claimed again: such a message may
go out twice, never zero times.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.outbox_models import (
    PENDING_STATUSES,
    Lease,
    OutboxMessage,
    ReachabilityChange,
    UnreachableRecipient,
)
from storage.sql import (
    Stamp,
    analyze_after_load,
    driver_timestamp,
    insert_new_rows,
    insert_on_conflict,
    skip_locked,
    update_each,
)

_outbox = OutboxMessage.metadata.tables[OutboxMessage.__tablename__]


class Status(enum.StrEnum):
    CREATED = "created"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    TEMPORARY_FAILURE = "temporary-failure"
    PERMANENT_FAILURE = "permanent-failure"
    TECHNICAL_FAILURE = "technical-failure"
    # Taken back before it was sent (a cancelled broadcast); the row keeps its key.
    WITHDRAWN = "withdrawn"


# Forward only: a late or repeated callback cannot move a message back.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.CREATED: frozenset({Status.SENDING, Status.WITHDRAWN}),
    Status.TEMPORARY_FAILURE: frozenset({Status.SENDING, Status.WITHDRAWN}),
    Status.SENDING: frozenset(
        {
            Status.SENT,
            Status.DELIVERED,
            Status.TEMPORARY_FAILURE,
            Status.PERMANENT_FAILURE,
            Status.TECHNICAL_FAILURE,
        }
    ),
    Status.SENT: frozenset({Status.DELIVERED, Status.PERMANENT_FAILURE}),
    Status.DELIVERED: frozenset(),
    Status.PERMANENT_FAILURE: frozenset(),
    Status.TECHNICAL_FAILURE: frozenset(),
    Status.WITHDRAWN: frozenset(),
}


class Category(enum.StrEnum):
    CHAT_REPLY = "chat_reply"
    VERIFICATION = "verification"
    HANDOFF_REPLY = "handoff_reply"
    # A case the resident filed was moved by the office (storage.case_moves).
    CASE_UPDATE = "case_update"
    RECEIPT = "receipt"
    REMINDER = "reminder"
    ANNOUNCEMENT = "announcement"


# Lower goes first: a resident waiting in a chat before a reminder, a reminder before a broadcast.
PRIORITY = {
    Category.CHAT_REPLY: 0,
    Category.VERIFICATION: 0,
    Category.HANDOFF_REPLY: 1,
    Category.CASE_UPDATE: 1,
    Category.RECEIPT: 2,
    Category.REMINDER: 5,
    Category.ANNOUNCEMENT: 9,
}
ERROR_LENGTH = 200
# The reason of a mark the resident set themselves (an SMS STOP): only they lift it (START);
# writing to us again does not, where any other mark is lifted then.
WITHDRAWN_BY_RESIDENT = "withdrawn by the resident"


@dataclass(frozen=True)
class NewMessage:
    key: str
    channel: str
    recipient: str
    category: Category
    text: str
    language: str = "pl"
    buttons: Sequence[tuple[str, str]] = ()
    image: str | None = None
    taxpayer_id: int | None = None
    not_before: datetime | None = None
    # An SMS's segments and encoding (`gsm7` / `ucs2`), as notifier.sms_segments measured it.
    sms_segments: int | None = None
    sms_encoding: str | None = None
    broadcast_id: int | None = None

    def content(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [{"title": title, "payload": payload} for title, payload in self.buttons],
            "image": self.image,
        }


@dataclass(frozen=True)
class Claimed:
    """A message taken for sending, as the dispatcher hands it to a sender."""

    id: int
    key: str
    channel: str
    recipient: str
    category: str
    priority: int
    language: str
    content: dict[str, Any]
    attempts: int
    created_at: datetime

    @property
    def text(self) -> str:
        return str(self.content.get("text") or "")

    @property
    def buttons(self) -> list[dict[str, str]]:
        return list(self.content.get("buttons") or [])


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed message."""

    id: int
    status: Status
    provider_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    # Set when the provider said the recipient cannot be reached on this channel.
    unreachable: tuple[str, str] | None = field(default=None)


def _row(message: NewMessage, now: datetime) -> dict[str, Any]:
    return {
        "key": message.key,
        "channel": message.channel,
        "recipient": message.recipient,
        "category": str(message.category),
        "priority": PRIORITY[message.category],
        "language": message.language,
        "taxpayer_id": message.taxpayer_id,
        "broadcast_id": message.broadcast_id,
        "content": message.content(),
        "status": str(Status.CREATED),
        "attempts": 0,
        "not_before": message.not_before or now,
        "sms_segments": message.sms_segments,
        "sms_encoding": message.sms_encoding,
        "created_at": now,
        "updated_at": now,
    }


async def enqueue(session: AsyncSession, messages: Iterable[NewMessage], now: datetime) -> int:
    """Queue messages; those whose key is queued already are left alone. Returns how many were
    new. The caller commits (so a message can be queued in the transaction that caused it)."""
    rows = [_row(message, now) for message in messages]
    if not rows:
        return 0
    statement = (
        insert_on_conflict(session, OutboxMessage)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(OutboxMessage.id)
    )
    # render_nulls: rows with and without an SMS cost (or a broadcast) are one batch; the ORM
    # would otherwise split the batch wherever a column turns None, one statement per run.
    result = await session.execute(statement, rows, execution_options={"render_nulls": True})
    added = len(result.all())
    # A freshly filled queue with no statistics would be claimed by scanning all of it.
    await analyze_after_load(await session.connection(), _outbox, added)
    return added


async def enqueue_bulk(session: AsyncSession, messages: Sequence[NewMessage], now: datetime) -> int:
    """`enqueue` for thousands of messages at once (a broadcast's batch): the same rows, written
    through `storage.sql.insert_new_rows` (COPY on PostgreSQL)."""
    connection = await session.connection()
    stamps: dict[datetime, Stamp] = {}

    def stamp(value: datetime) -> Stamp:
        if value not in stamps:
            stamps[value] = driver_timestamp(connection, value)
        return stamps[value]

    rows = []
    for message in messages:
        row = _row(message, now)
        row["content"] = orjson.dumps(row["content"]).decode()
        for name in ("not_before", "created_at", "updated_at"):
            row[name] = stamp(row[name])
        rows.append(row)
    columns = tuple(rows[0]) if rows else ()
    values = [tuple(row.values()) for row in rows]
    return await insert_new_rows(connection, _outbox, columns, values, unique=["key"])


def pending(column: Any) -> Any:
    """`status IN ('created', …)` with the values written in the SQL, not bound: only then do
    SQLite and PostgreSQL see that the partial indexes on pending rows answer the condition."""
    return column.in_([sa.literal_column(f"'{status}'") for status in PENDING_STATUSES])


async def claim_due(
    session: AsyncSession,
    channels: Sequence[str],
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[Claimed]:
    """Take up to `limit` due messages on `channels` and mark them `sending` until now + lease,
    committing at once. A chat's message waits while an earlier one to that chat is pending."""
    row = OutboxMessage
    earlier = sa.orm.aliased(OutboxMessage, name="earlier")
    # The oldest pending message of the row's chat: only it may go. A correlated subquery, looked
    # up in the chat's index for each candidate only, so the scan of due rows in the order of
    # `ix_outbox_due` stops at `limit` however many are queued.
    head = (
        sa.select(sa.func.min(earlier.id))
        .where(
            earlier.channel == row.channel,
            earlier.recipient == row.recipient,
            pending(earlier.status),
        )
        .scalar_subquery()
    )
    due = (
        sa.select(row.id)
        .where(
            pending(row.status),
            row.channel.in_(channels),
            sa.or_(
                sa.and_(
                    row.status.in_((Status.CREATED, Status.TEMPORARY_FAILURE)),
                    row.not_before <= now,
                ),
                sa.and_(row.status == Status.SENDING, row.lease_until < now),
            ),
            row.id == head,
        )
        .order_by(row.priority, row.not_before)
        .limit(limit)
    )
    due = skip_locked(due, session, of=row)
    claim = (
        sa.update(row)
        .where(row.id.in_(due.scalar_subquery()))
        .values(
            status=Status.SENDING,
            attempts=row.attempts + 1,
            lease_until=now + lease,
            updated_at=now,
        )
        .returning(
            row.id,
            row.key,
            row.channel,
            row.recipient,
            row.category,
            row.priority,
            row.language,
            row.content,
            row.attempts,
            row.created_at,
        )
        .execution_options(synchronize_session=False)
    )
    claimed = [Claimed(*values) for values in (await session.execute(claim)).all()]
    await session.commit()
    return sorted(claimed, key=lambda message: (message.priority, message.id))


async def record_outcomes(session: AsyncSession, outcomes: Sequence[Outcome], now: datetime) -> int:
    """Write what the providers answered, each only from `sending` (a row another dispatcher took
    over meanwhile keeps its newer state), in one statement. Returns how many rows changed; the
    caller commits."""
    row = OutboxMessage
    values = [
        {
            "id": outcome.id,
            "status": str(outcome.status),
            "provider_id": outcome.provider_id,
            "error": (outcome.error or "")[:ERROR_LENGTH] or None,
            "not_before": outcome.retry_at or now,
        }
        for outcome in outcomes
    ]
    types = {
        "id": row.id.type,
        "status": row.status.type,
        "provider_id": row.provider_id.type,
        "error": row.error.type,
        "not_before": row.not_before.type,
    }

    def statement(each: Mapping[str, Any]) -> sa.Update:
        # Not IN (…): SQLite's executemany takes no list parameter.
        delivered = sa.or_(each["status"] == Status.SENT, each["status"] == Status.DELIVERED)
        return (
            sa.update(row)
            .where(row.id == each["id"], row.status == Status.SENDING)
            .values(
                status=each["status"],
                provider_id=sa.func.coalesce(each["provider_id"], row.provider_id),
                error=each["error"],
                not_before=each["not_before"],
                lease_until=None,
                updated_at=now,
                sent_at=sa.case((delivered, now), else_=row.sent_at),
            )
            .execution_options(synchronize_session=False)
        )

    changed = await update_each(await session.connection(), values, types, statement)
    unreachable = {outcome.unreachable for outcome in outcomes if outcome.unreachable}
    for channel, recipient in unreachable:
        await mark_unreachable(session, channel, recipient, "the provider refused it", now)
    return changed


async def apply_provider_status(
    session: AsyncSession,
    channel: str,
    provider_id: str,
    status: Status,
    error: str | None,
    now: datetime,
) -> int | None:
    """A provider's status callback; the id of the message it moved forward, or None. A callback
    that comes out of order (a `sent` after `delivered`) or twice changes nothing."""
    allowed_from = [old for old, targets in TRANSITIONS.items() if status in targets]
    moved = await session.scalar(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.provider_id == provider_id,
            OutboxMessage.status.in_(allowed_from),
        )
        .values(status=status, error=(error or None), updated_at=now, lease_until=None)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return None if moved is None else int(moved)


async def mark_unreachable(
    session: AsyncSession, channel: str, recipient: str, reason: str, now: datetime
) -> None:
    """Nothing more goes to the recipient on this channel; the change is kept in the history."""
    reason = reason[:ERROR_LENGTH]
    statement = insert_on_conflict(session, UnreachableRecipient).values(
        channel=channel, recipient=recipient, reason=reason, since=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["channel", "recipient"],
            set_={"reason": statement.excluded.reason, "since": statement.excluded.since},
        )
    )
    await _reachability_changed(session, channel, recipient, "unreachable", reason, now)


async def mark_reachable(
    session: AsyncSession, channel: str, recipient: str, reason: str, now: datetime
) -> bool:
    """The recipient may be written to again (an SMS START), whatever marked them; True when a
    mark was lifted, which the history keeps."""
    result: sa.CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        sa.delete(UnreachableRecipient).where(
            UnreachableRecipient.channel == channel, UnreachableRecipient.recipient == recipient
        )
    )
    if not result.rowcount:
        return False
    await _reachability_changed(session, channel, recipient, "reachable", reason, now)
    return True


async def _reachability_changed(
    session: AsyncSession, channel: str, recipient: str, change: str, reason: str, now: datetime
) -> None:
    await session.execute(
        sa.insert(ReachabilityChange).values(
            channel=channel, recipient=recipient, change=change, reason=reason, at=now
        )
    )


async def reachability_history(
    session: AsyncSession, channel: str, recipient: str
) -> list[tuple[str, str, datetime]]:
    """`(change, reason, at)` for the recipient on the channel, oldest first."""
    row = ReachabilityChange
    result = await session.execute(
        sa.select(row.change, row.reason, row.at)
        .where(row.channel == channel, row.recipient == recipient)
        .order_by(row.at, row.id)
    )
    return [(change, reason, at) for change, reason, at in result.all()]


async def is_unreachable(session: AsyncSession, channel: str, recipient: str) -> bool:
    found = await session.scalar(
        sa.select(UnreachableRecipient.since).where(
            UnreachableRecipient.channel == channel, UnreachableRecipient.recipient == recipient
        )
    )
    return found is not None


async def next_due(session: AsyncSession, channels: Sequence[str]) -> datetime | None:
    """When the earliest waiting message falls due (a retry's backoff, a claim's lease)."""
    row = OutboxMessage
    waiting = sa.select(sa.func.min(row.not_before)).where(
        row.channel.in_(channels), row.status.in_((Status.CREATED, Status.TEMPORARY_FAILURE))
    )
    leased = sa.select(sa.func.min(row.lease_until)).where(
        row.channel.in_(channels), row.status == Status.SENDING
    )
    times = [await session.scalar(waiting), await session.scalar(leased)]
    return min((t for t in times if t is not None), default=None)


async def status_counts(session: AsyncSession) -> list[tuple[str, str, int]]:
    """`(channel, status, count)` for every pair that has messages."""
    row = OutboxMessage
    result = await session.execute(
        sa.select(row.channel, row.status, sa.func.count())
        .group_by(row.channel, row.status)
        .order_by(row.channel, row.status)
    )
    return [(channel, status, int(count)) for channel, status, count in result.all()]


async def acquire_lease(
    session: AsyncSession, name: str, owner: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the named lease for `owner`; False while another owner holds it unexpired."""
    statement = insert_on_conflict(session, Lease).values(
        name=name, owner=owner, expires_at=now + ttl
    )
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"owner": owner, "expires_at": now + ttl},
        where=sa.or_(Lease.owner == owner, Lease.expires_at < now),
    )
    await session.execute(statement)
    holder = await session.scalar(sa.select(Lease.owner).where(Lease.name == name))
    await session.commit()
    return holder == owner


async def release_lease(session: AsyncSession, name: str, owner: str) -> None:
    await session.execute(sa.delete(Lease).where(Lease.name == name, Lease.owner == owner))
    await session.commit()


@dataclass(frozen=True)
class Stored:
    """A queued message as the outbox keeps it, with whom it is for."""

    id: int
    key: str
    channel: str
    recipient: str
    category: str
    language: str
    content: dict[str, Any]
    taxpayer_id: int | None


async def stored_messages(session: AsyncSession, ids: Sequence[int]) -> dict[int, Stored]:
    """The messages of these ids that are in the outbox, by id."""
    row = OutboxMessage
    result = await session.execute(
        sa.select(
            row.id,
            row.key,
            row.channel,
            row.recipient,
            row.category,
            row.language,
            row.content,
            row.taxpayer_id,
        ).where(row.id.in_(sorted(set(ids))))
    )
    return {values[0]: Stored(*values) for values in result}


async def channels_of(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """The channels of the messages queued under any of `keys`."""
    result = await session.scalars(
        sa.select(OutboxMessage.channel).where(OutboxMessage.key.in_(sorted(set(keys))))
    )
    return set(result)
