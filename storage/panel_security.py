"""The panel's sign-in defences in the store, so that every server process agrees.

- **Throttling**: each failed sign-in (a wrong password, a wrong second-factor code) is a row
  with the account name as typed and the client's address. While an account has `failures` of
  them within `window`, or an address `address_failures`, sign-in for it is paused, even with the
  right password; a good sign-in forgets the account's failures. Rows older than the window are
  purged as new ones come.
- **Ended sessions**: a logout records the session's id until the session would have expired,
  so a copy of its cookie no longer works either.

The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.panel_models import PanelEndedSession, PanelLoginFailure


@dataclass(frozen=True)
class ThrottlePolicy:
    failures: int
    address_failures: int
    window: timedelta


async def login_paused_until(
    session: AsyncSession, account: str, address: str, now: datetime, policy: ThrottlePolicy
) -> datetime | None:
    """When sign-in for this account from this address may be tried again; None: now."""
    since = now - policy.window
    until: datetime | None = None
    for column, key, limit in (
        (PanelLoginFailure.account, account, policy.failures),
        (PanelLoginFailure.address, address, policy.address_failures),
    ):
        recent = (
            await session.scalars(
                select(PanelLoginFailure.at)
                .where(column == key, PanelLoginFailure.at > since)
                .order_by(PanelLoginFailure.at.desc())
                .limit(limit)
            )
        ).all()
        if len(recent) >= limit:
            # Paused until the oldest of the last `limit` failures leaves the window.
            free_at = recent[-1] + policy.window
            until = free_at if until is None else max(until, free_at)
    return until


async def record_login_failure(
    session: AsyncSession, account: str, address: str, now: datetime, policy: ThrottlePolicy
) -> None:
    await session.execute(
        delete(PanelLoginFailure).where(PanelLoginFailure.at <= now - policy.window)
    )
    await session.execute(
        insert(PanelLoginFailure).values(at=now, account=account[:64], address=address[:64])
    )


async def forget_login_failures(session: AsyncSession, account: str) -> None:
    """A good sign-in: the account's earlier failures no longer count."""
    await session.execute(delete(PanelLoginFailure).where(PanelLoginFailure.account == account))


async def end_session(session: AsyncSession, sid: str, now: datetime, expires_at: datetime) -> None:
    """The session `sid` is over; remembered until `expires_at`, when it would be anyway."""
    await session.execute(delete(PanelEndedSession).where(PanelEndedSession.expires_at <= now))
    if await session_ended(session, sid):
        return
    await session.execute(
        insert(PanelEndedSession).values(sid=sid, ended_at=now, expires_at=expires_at)
    )


async def session_ended(session: AsyncSession, sid: str) -> bool:
    found = await session.scalar(select(PanelEndedSession.sid).where(PanelEndedSession.sid == sid))
    return found is not None
