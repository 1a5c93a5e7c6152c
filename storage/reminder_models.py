"""Tables of the notifier's choices: every change of a resident's notice preferences, and what
each reminder covered.

Defined on `storage.models.Base`; the functions that read and write them are
`storage.preferences` (consent and channel order) and `storage.reminder_plan` (coverage).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id, UtcDateTime


class PreferenceChange(Base):
    """One change of consent, opt-out or order: what changed, when, and who said so."""

    __tablename__ = "preference_changes"
    __table_args__ = (Index("ix_preference_changes_taxpayer_at", "taxpayer_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayers.id", ondelete="CASCADE"))
    # reminders, announcements; NULL: the consent to use the address at all.
    category: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(320))
    # consent, withdrawal, opt-in, opt-out
    change: Mapped[str] = mapped_column(String(16))
    position: Mapped[int | None] = mapped_column(SmallInteger)
    # import, chat, unsubscribe-link, staff, …
    source: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReminderCoverage(Base):
    """What one queued reminder covered: the pay action answers a reply with exactly these."""

    __tablename__ = "reminder_coverage"
    __table_args__ = (
        Index("ix_reminder_coverage_taxpayer_at", "taxpayer_id", "queued_at"),
        # The panel's reminder runs per day, by channel, joined to the outbox by key from the
        # index alone.
        Index("ix_reminder_coverage_day", "on_date", "channel", "outbox_key"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # The outbox key of the reminder: one coverage row per queued reminder.
    outbox_key: Mapped[str] = mapped_column(String(200), unique=True)
    taxpayer_id: Mapped[int] = mapped_column(ForeignKey("taxpayers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    on_date: Mapped[date] = mapped_column(Date)
    obligation_ids: Mapped[list[Any]] = mapped_column(JSON)
    # Whether and when it reached the resident: the outbox row's status and sent_at, by key.
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReminderRun(Base):
    """A day the planner has planned: a server started after a gap plans the days missed."""

    __tablename__ = "reminder_runs"

    on_date: Mapped[date] = mapped_column(Date, primary_key=True)
    planned_at: Mapped[datetime] = mapped_column(UtcDateTime())
