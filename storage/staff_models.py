"""Tables of the city's staff and their broadcasts.

Defined on `storage.models.Base`; the functions that read and write them are `storage.staff`
and `storage.broadcasts`. A broadcast's messages are outbox rows carrying its id
(`outbox.broadcast_id`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id, UtcDateTime


class StaffMember(Base):
    """A person of the tax office who may use the panel and act on broadcasts."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # clerk, approver, admin
    # argon2id in the PHC string format (parameters and salt inside).
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # For the panel's second factor: the TOTP secret as the panel stores it (encrypted by the
    # panel, never logged), when it was confirmed, and the recovery codes as argon2 hashes.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    recovery_code_hashes: Mapped[list[str] | None] = mapped_column(JSON)
    # The TOTP time step of the last code accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Panel sessions begun before this are over (a reset second factor, say).
    sessions_revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Broadcast(Base):
    """An announcement to a segment of the city: drafted by one staff member, approved by
    another, then fanned out into the outbox."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # The segment as written (`all`, `district:Bielszowice,overdue`): parsed again when used.
    segment: Mapped[str] = mapped_column(String(500))
    # {"pl": "...", "en": "..."}: a language without its own text gets the Polish one.
    texts: Mapped[dict[str, Any]] = mapped_column(JSON)
    # draft → approved → sending → sent; or cancelled from any but cancelled.
    status: Mapped[str] = mapped_column(String(16), index=True)
    # NULL: made from the command line without `--as` (the operator of the server).
    author: Mapped[str | None] = mapped_column(ForeignKey("staff.name"))
    approved_by: Mapped[str | None] = mapped_column(ForeignKey("staff.name"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    send_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When the fan-out had put every message into the outbox, and how many it queued.
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    queued: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
