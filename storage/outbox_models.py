"""Tables of outbound delivery: the outbox every message to a resident goes through, and leases.

Defined on `storage.models.Base`; the functions that read and write them are in `storage.outbox`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id, UtcDateTime

# Statuses from which a message may still go out; `sending` holds a claim until its lease ends.
PENDING_STATUSES = ("created", "temporary-failure", "sending")
_PENDING = "status IN ('created', 'temporary-failure', 'sending')"
# Failed for now or for good: the staff panel's failure list (storage.delivery_stats).
_FAILED = "status IN ('temporary-failure', 'permanent-failure', 'technical-failure')"


class OutboxMessage(Base):
    """One message to one recipient on one channel; `key` makes enqueueing it twice a no-op."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The dispatcher's scan: what is due, cheapest first.
        Index(
            "ix_outbox_due",
            "priority",
            "not_before",
            sqlite_where=text(_PENDING),
            postgresql_where=text(_PENDING),
        ),
        # "Is an earlier message to this chat still pending?" keeps each chat in order.
        Index(
            "ix_outbox_recipient_pending",
            "channel",
            "recipient",
            "id",
            sqlite_where=text(_PENDING),
            postgresql_where=text(_PENDING),
        ),
        Index("ix_outbox_channel_status", "channel", "status"),
        # A reply to a reminder ("ZAPŁAĆ") finds the newest one sent to that recipient.
        Index(
            "ix_outbox_reminders_sent",
            "channel",
            "recipient",
            "sent_at",
            sqlite_where=text("category = 'reminder'"),
            postgresql_where=text("category = 'reminder'"),
        ),
        # The panel's counts over a period: read from the index alone on PostgreSQL.
        Index("ix_outbox_created_counts", "created_at", "channel", "category", "status"),
        # The panel's reminder runs: each reminder's status found from the index alone.
        Index("ix_outbox_key_status", "key", "status"),
        # The panel's failure list, newest first.
        Index(
            "ix_outbox_failed",
            "id",
            sqlite_where=text(_FAILED),
            postgresql_where=text(_FAILED),
        ),
        # A broadcast's messages by channel and status (its counts, its withdrawal).
        Index(
            "ix_outbox_broadcast",
            "broadcast_id",
            "channel",
            "status",
            sqlite_where=text("broadcast_id IS NOT NULL"),
            postgresql_where=text("broadcast_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    category: Mapped[str] = mapped_column(String(24))
    # Lower goes first: chat replies before bulk.
    priority: Mapped[int] = mapped_column(SmallInteger)
    language: Mapped[str] = mapped_column(String(2))
    taxpayer_id: Mapped[int | None] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="SET NULL"), index=True
    )
    # {"text": str, "buttons": [{"title", "payload"}], "image": str | None}
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not to be sent before this time: a retry's backoff, quiet hours.
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    # While `sending`: the claim ends here, and a dispatcher that died is taken over after it.
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Why it failed, in the provider's words without personal data.
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # An SMS's cost as queued: segments, and `gsm7` or `ucs2` (notifier.sms_segments).
    sms_segments: Mapped[int | None] = mapped_column(SmallInteger)
    sms_encoding: Mapped[str | None] = mapped_column(String(4))
    # The staff broadcast this message is part of (storage.broadcasts), if any.
    broadcast_id: Mapped[int | None] = mapped_column(Id)


class Lease(Base):
    """A named lease one process holds at a time, such as the only outbox dispatcher on SQLite."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UnreachableRecipient(Base):
    """A recipient a provider says cannot be reached (a blocked bot, a bounced address, STOP):
    nothing more goes to them on that channel until they write again."""

    __tablename__ = "unreachable_recipients"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    since: Mapped[datetime] = mapped_column(UtcDateTime())


class ReachabilityChange(Base):
    """The history behind `unreachable_recipients`: each time a recipient was marked (a resident
    who texted STOP, a provider's refusal) or cleared (START), with the reason and the time."""

    __tablename__ = "reachability_changes"
    __table_args__ = (Index("ix_reachability_changes_recipient", "channel", "recipient", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    # `unreachable` or `reachable`
    change: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class SmsChoices(Base):
    """The numbered choices last offered to a phone number by SMS (a reply's buttons), so that
    an answer "1" (or the choice's title) is the first one's payload."""

    __tablename__ = "sms_choices"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    # [{"title", "payload"}, ...] in the order they were numbered
    choices: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime())
