"""Staff members' second factor (TOTP) and their one-time recovery codes.

The TOTP secret is stored as the panel hands it over: encrypted (the panel holds the key), so
this module never sees it in clear. Recovery codes are argon2id hashes, each removed when used.
A TOTP time step is accepted at most once per account: the update that records it only
succeeds for a step later than the last one, so two processes cannot both accept the same code.
Enrolment, the use of a recovery code and a reset are audited (never the secret or a code).
The caller commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import audit
from storage.staff import hash_password, staff_row
from storage.staff_models import StaffMember

# Recovery codes are random (about 49 bits each), not chosen by people like passwords: argon2id
# with OWASP's lighter recommended setting (19 MiB, 2 passes) is plenty, and keeps ten of them
# (hashed at enrolment, tried in turn at use) to a fraction of a second.
RECOVERY_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass(frozen=True)
class SecondFactor:
    """An account's second factor as stored: the encrypted secret (pending until confirmed)."""

    encrypted_secret: str | None
    confirmed: bool
    recovery_codes_left: int


async def second_factor(session: AsyncSession, name: str) -> SecondFactor:
    row = await staff_row(session, name)
    return SecondFactor(
        encrypted_secret=row.totp_secret,
        confirmed=row.totp_confirmed_at is not None,
        recovery_codes_left=len(row.recovery_code_hashes or []),
    )


async def begin_enrolment(
    session: AsyncSession, name: str, encrypted_secret: str, now: datetime
) -> None:
    """Keep a new, not yet confirmed secret; an account with a confirmed one keeps it."""
    await session.execute(
        update(StaffMember)
        .where(StaffMember.name == name, StaffMember.totp_confirmed_at.is_(None))
        .values(totp_secret=encrypted_secret, totp_last_step=None, updated_at=now)
    )


async def accept_step(session: AsyncSession, name: str, step: int) -> bool:
    """Record `step` as the last accepted TOTP step; False when it (or a later one) was
    accepted already: a replayed code."""
    result = await session.execute(
        update(StaffMember)
        .where(
            StaffMember.name == name,
            or_(StaffMember.totp_last_step.is_(None), StaffMember.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def confirm_enrolment(
    session: AsyncSession,
    name: str,
    recovery_codes: Sequence[str],
    *,
    actor: str,
    now: datetime,
) -> None:
    """The pending secret is confirmed (a code from it was accepted); the recovery codes are
    kept as argon2 hashes."""
    hashes = [await hash_password(code, RECOVERY_HASHER) for code in recovery_codes]
    row = await staff_row(session, name, for_update=True)
    row.totp_confirmed_at = now
    row.recovery_code_hashes = hashes
    row.updated_at = now
    await audit(session, actor, "staff.totp_enrol", None, {"staff": name}, now)


async def use_recovery_code(
    session: AsyncSession, name: str, code: str, *, actor: str, now: datetime
) -> bool:
    """True when `code` is one of the account's unused recovery codes, which is then used up."""
    row = await staff_row(session, name, for_update=True)
    hashes = list(row.recovery_code_hashes or [])
    for stored in hashes:
        try:
            await asyncio.to_thread(RECOVERY_HASHER.verify, stored, code)
        except (VerificationError, InvalidHashError):
            continue
        hashes.remove(stored)
        row.recovery_code_hashes = hashes
        row.updated_at = now
        details = {"staff": name, "left": len(hashes)}
        await audit(session, actor, "staff.recovery_code_used", None, details, now)
        return True
    return False


async def reset_second_factor(
    session: AsyncSession, name: str, *, actor: str, now: datetime
) -> None:
    """Forget the account's second factor and recovery codes (a lost device): the next login
    enrols again. The account's panel sessions end."""
    row = await staff_row(session, name, for_update=True)
    row.totp_secret = None
    row.totp_confirmed_at = None
    row.recovery_code_hashes = None
    row.totp_last_step = None
    row.sessions_revoked_at = now
    row.updated_at = now
    await audit(session, actor, "staff.reset_totp", None, {"staff": name}, now)
