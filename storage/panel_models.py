"""Tables of the staff panel's sign-in defences, shared by every server process.

Defined on `storage.models.Base`; `storage.panel_security` reads and writes them. The staff
accounts themselves, with their second factor, are `storage.staff_models.StaffMember`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id, UtcDateTime


class PanelLoginFailure(Base):
    """One failed sign-in (wrong password, wrong second-factor code): counted per account and
    per address over a window to throttle guessing, in the store so that every process agrees."""

    __tablename__ = "panel_login_failures"
    __table_args__ = (
        Index("ix_panel_login_failures_account_at", "account", "at"),
        Index("ix_panel_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The name as typed (an account may not exist: guessing names is throttled the same way).
    account: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))


class PanelEndedSession(Base):
    """A panel session ended by its owner (logout) before it expired: its cookie, even copied,
    no longer works. Kept until the session would have expired anyway."""

    __tablename__ = "panel_ended_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
