"""Tables of the conversation: chat state, verified residents, audit trail, cases, hand-offs.

Defined on `storage.models.Base`, so that one metadata (and Alembic) sees every table; the
functions that read and write them are one module per aggregate: `storage.conversation_state`,
`storage.bindings`, `storage.casework`, `storage.subscriptions`, `storage.audit`. A chat bound to
a taxpayer is a `contacts` row whose `kind` is the channel name and whose `value` is the sender id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Contact, Id, UtcDateTime

# Phones and e-mail addresses are the city's records (a family may share one); every other
# contact kind is a chat channel, and a chat binds at most one taxpayer.
_CHAT_KIND = "kind NOT IN ('phone', 'email')"

Index(
    "uq_contacts_chat_binding",
    Contact.kind,
    Contact.value,
    unique=True,
    sqlite_where=text(_CHAT_KIND),
    postgresql_where=text(_CHAT_KIND),
)


class Conversation(Base):
    """The dialogue state of one sender; `version` makes concurrent saves fail instead of mix."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "sender_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(2), default="pl")
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    # A copy of the binding as of the last save, for staff queries; the contacts row decides.
    taxpayer_id: Mapped[int | None] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Who is running a turn of this conversation, until when: turns of one sender take turns
    # across processes (storage.conversation_state.claim_conversation).
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AnsweredInbound(Base):
    """A provider's message already answered, with its replies: a redelivery gets them again."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "message_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(128))
    replies: Mapped[list[Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class LinkToken(Base):
    """A one-time token that binds a chat to a taxpayer; only its SHA-256 is kept."""

    __tablename__ = "link_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    taxpayer_id: Mapped[int] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="CASCADE"), index=True
    )
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    used_channel: Mapped[str | None] = mapped_column(String(16))
    used_sender: Mapped[str | None] = mapped_column(String(128))


class ActivationCode(Base):
    """The code the city prints on its decisions; one per taxpayer, kept as a salted HMAC."""

    __tablename__ = "activation_codes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="CASCADE"), unique=True
    )
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())


class VerificationAttempt(Base):
    """Every PESEL/NIP + activation-code attempt, counted for the hourly limits."""

    __tablename__ = "verification_attempts"
    __table_args__ = (
        Index("ix_verification_attempts_sender_at", "channel", "sender_id", "at"),
        Index("ix_verification_attempts_taxpayer_at", "taxpayer_id", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    succeeded: Mapped[bool] = mapped_column(Boolean)
    # False when the sender was locked out and the code was not compared at all.
    checked: Mapped[bool] = mapped_column(Boolean)
    # The taxpayer the identifier named, if any: limits guessing one code from many senders.
    taxpayer_id: Mapped[int | None] = mapped_column(ForeignKey("taxpayers.id", ondelete="SET NULL"))
    # The turn that made the attempt: a turn run again counts it once.
    turn_key: Mapped[str | None] = mapped_column(String(160), unique=True)


class AuditEntry(Base):
    """Who did what to whose data (tax secrecy); never PESEL, phone, e-mail or amounts."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_taxpayer_at", "taxpayer_id", "at"),
        # The panel's audit page: newest first by (at, id), and filtered by who (migration 0015).
        Index("ix_audit_log_at_id", "at", "id"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    # No foreign key: the trail outlives the taxpayer row.
    taxpayer_id: Mapped[int | None] = mapped_column(Id)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class Case(Base):
    """A form a resident submitted; `ref` is `<prefix>-<year>-<number>`, numbered per year."""

    __tablename__ = "cases"
    # The staff panel's list, newest or oldest first, unfiltered or by kind and status
    # (storage.case_queue): each a walk along one index.
    __table_args__ = (
        Index("ix_cases_created", "created_at", "id"),
        Index("ix_cases_status_created", "status", "created_at", "id"),
        Index("ix_cases_form_status_created", "form_type", "status", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    taxpayer_id: Mapped[int] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="CASCADE"), index=True
    )
    form_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # submitted, in_review, decided, rejected
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The turn that filed it: a turn run again files nothing more.
    turn_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    # The chat it was filed from, told of its moves while still bound to the taxpayer; NULL for
    # cases filed before it was kept.
    sender_id: Mapped[str | None] = mapped_column(String(128))


class CaseEvent(Base):
    """A move of a case by a staff member, with the note the resident is told."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(1000))
    staff_name: Mapped[str] = mapped_column(ForeignKey("staff.name"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The channel the resident was told on (the address stays in the outbox); NULL: nowhere
    # to tell them.
    notice_channel: Mapped[str | None] = mapped_column(String(16))


class RefSequence(Base):
    """The last number given out per kind of reference and year; its row lock orders writers."""

    __tablename__ = "ref_sequences"
    __table_args__ = (UniqueConstraint("name", "year"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer)


class HandoffTicket(Base):
    """A conversation handed to a person at the office, with the last turns for context."""

    __tablename__ = "handoff_tickets"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str] = mapped_column(String(128))
    taxpayer_id: Mapped[int | None] = mapped_column(
        ForeignKey("taxpayers.id", ondelete="SET NULL"), index=True
    )
    # The last turns before the hand-off, for context; what is said after is `HandoffMessage`s.
    transcript: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # open, closed
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The conversation's language when handed off: staff answer in it, the closing notice too.
    language: Mapped[str] = mapped_column(String(2), server_default="pl")
    # The one clerk working on it (storage.handoffs.take_ticket), and who closed it.
    taken_by: Mapped[str | None] = mapped_column(ForeignKey("staff.name"))
    taken_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_by: Mapped[str | None] = mapped_column(ForeignKey("staff.name"))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The number of the last message in the thread; its UPDATE orders concurrent writers.
    message_count: Mapped[int] = mapped_column(Integer, server_default="0")


# The inbox: open tickets oldest first, and how many there are.
Index(
    "ix_handoff_tickets_status_oldest",
    HandoffTicket.status,
    HandoffTicket.created_at,
    HandoffTicket.id,
)
# Every chat turn asks whether its chat has a ticket open.
Index(
    "ix_handoff_tickets_open_chat",
    HandoffTicket.channel,
    HandoffTicket.sender_id,
    sqlite_where=text("status = 'open'"),
    postgresql_where=text("status = 'open'"),
)


class HandoffMessage(Base):
    """One message of a hand-off's thread: the resident's (from the chat) or a clerk's answer."""

    __tablename__ = "handoff_messages"
    __table_args__ = (
        UniqueConstraint("ticket_id", "number", name="uq_handoff_messages_number"),
        # A redelivered resident message, or an answer form sent twice, is one message.
        UniqueConstraint("ticket_id", "inbound_key", name="uq_handoff_messages_inbound_key"),
        UniqueConstraint("ticket_id", "submission_key", name="uq_handoff_messages_submission_key"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("handoff_tickets.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(8))  # resident, staff
    staff_name: Mapped[str | None] = mapped_column(ForeignKey("staff.name"))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    inbound_key: Mapped[str | None] = mapped_column(String(200))
    submission_key: Mapped[str | None] = mapped_column(String(64))


class Subscription(Base):
    """Whether a taxpayer wants reminders or announcements on a channel."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("taxpayer_id", "channel", "category"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))  # reminders, announcements
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The resident's order of channels for the category, lowest first (storage.preferences).
    position: Mapped[int | None] = mapped_column(SmallInteger)
