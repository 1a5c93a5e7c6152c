"""Staff accounts: who may use the panel and act on broadcasts, with what role.

Passwords are argon2id hashes (argon2-cffi, its current default parameters); a hash made under
older parameters is replaced at the next successful check. Hashing takes tens of milliseconds of
CPU, so it runs in a worker thread, off the event loop. Every change is written to the audit
trail (never the password or its hash). The caller commits.

Exceptions:

    StaffError        (GminaError) the root of the refusals below
    ├── UnknownStaff      (NotFoundError) no staff member of that name
    ├── StaffExists       (ConflictError) the name is taken
    ├── BadStaffName      (InputError) not a name an account may have
    ├── WeakPassword      (InputError) the password is refused; the message is one line
    └── NotAllowed        the staff member is disabled, or their role may not do this
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exists, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import ConflictError, GminaError, InputError, NotFoundError
from storage.audit import audit
from storage.panel_models import PanelEndedSession
from storage.staff_models import StaffMember

# argon2id with the library's current (RFC 9106) parameters.
HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class Role(enum.StrEnum):
    CLERK = "clerk"
    APPROVER = "approver"
    ADMIN = "admin"


# Roles that may approve another's broadcast.
APPROVERS = frozenset({Role.APPROVER, Role.ADMIN})


class StaffError(GminaError):
    """A staff operation refused."""


class UnknownStaff(StaffError, NotFoundError):
    """No staff member has this name."""


class StaffExists(StaffError, ConflictError):
    """A staff member of this name exists already."""


class BadStaffName(StaffError, InputError):
    """Not a name an account may have."""


class WeakPassword(StaffError, InputError):
    """The password is refused; the message says why in one line."""


class NotAllowed(StaffError):
    """The staff member may not do this: disabled, or not in a role that may."""


@dataclass(frozen=True)
class Staff:
    """A staff member as others may see them: never the hash or the second factor's secret."""

    name: str
    role: Role
    disabled: bool
    has_totp: bool
    created_at: datetime
    updated_at: datetime


def _public(row: StaffMember) -> Staff:
    return Staff(
        name=row.name,
        role=Role(row.role),
        disabled=row.disabled,
        has_totp=row.totp_confirmed_at is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise BadStaffName(
            f"staff name {name!r}: 2 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter "
            "or digit"
        )
    return name


def check_password(name: str, password: str) -> None:
    """Refuse a password that is short, too long, the name itself, or one character repeated."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password refused: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"password refused: at most {MAX_PASSWORD_LENGTH} characters")
    if name.lower() in password.lower():
        raise WeakPassword("password refused: it contains the staff name")
    if len(set(password)) < 4:
        raise WeakPassword("password refused: it repeats too few characters")


async def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def staff_row(session: AsyncSession, name: str, *, for_update: bool = False) -> StaffMember:
    """The staff member's row (locked with `for_update`); UnknownStaff when there is none."""
    statement = select(StaffMember).where(StaffMember.name == name)
    if for_update:
        statement = statement.with_for_update()
    row = await session.scalar(statement)
    if row is None:
        raise UnknownStaff(f"no staff member named {name!r}")
    return row


async def add_staff(
    session: AsyncSession,
    name: str,
    role: Role,
    password: str,
    *,
    actor: str,
    now: datetime,
    hasher: PasswordHasher = HASHER,
) -> Staff:
    check_name(name)
    check_password(name, password)
    if await session.scalar(select(StaffMember.id).where(StaffMember.name == name)) is not None:
        raise StaffExists(f"a staff member named {name!r} exists already")
    row = StaffMember(
        name=name,
        role=str(role),
        password_hash=await hash_password(password, hasher),
        disabled=False,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(row)
    await session.flush()
    await audit(session, actor, "staff.add", None, {"staff": name, "role": str(role)}, now)
    return _public(row)


async def set_password(
    session: AsyncSession, name: str, password: str, *, actor: str, now: datetime
) -> None:
    check_password(name, password)
    row = await staff_row(session, name, for_update=True)
    row.password_hash = await hash_password(password)
    row.password_changed_at = now
    row.updated_at = now
    await audit(session, actor, "staff.passwd", None, {"staff": name}, now)


async def disable_staff(session: AsyncSession, name: str, *, actor: str, now: datetime) -> bool:
    """Disable the account; False when it was disabled already (nothing changes then)."""
    row = await staff_row(session, name, for_update=True)
    if row.disabled:
        return False
    row.disabled = True
    row.updated_at = now
    await audit(session, actor, "staff.disable", None, {"staff": name}, now)
    return True


async def list_staff(session: AsyncSession) -> list[Staff]:
    rows = await session.scalars(select(StaffMember).order_by(StaffMember.name))
    return [_public(row) for row in rows]


async def authenticate(
    session: AsyncSession, name: str, password: str, now: datetime
) -> Staff | None:
    """The enabled staff member when the password is theirs, else None (whichever was wrong).
    A hash made under older parameters is replaced by one under the current ones."""
    row = await session.scalar(select(StaffMember).where(StaffMember.name == name))
    if row is None or row.disabled:
        # The same work as a real check, so the answer's time does not tell which was wrong.
        await hash_password(password)
        return None
    try:
        await asyncio.to_thread(HASHER.verify, row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if HASHER.check_needs_rehash(row.password_hash):
        await session.execute(
            update(StaffMember)
            .where(StaffMember.id == row.id)
            .values(password_hash=await hash_password(password), updated_at=now)
        )
    return _public(row)


@dataclass(frozen=True)
class SignedInState:
    """What a panel session is checked against at every request: the account as it is now, and
    when its password last changed (a session begun before that has ended)."""

    staff: Staff
    password_changed_at: datetime
    # Sessions begun before this are over (`storage.second_factor.reset_second_factor`).
    sessions_revoked_at: datetime | None
    # The session asked about was ended by a logout (`storage.panel_security.end_session`).
    session_ended: bool = False

    @property
    def credentials_stamp(self) -> str:
        """Changes whenever the account's sessions must end: a new password, a revocation. A
        session keeps the stamp of its login and ends when the account's differs."""
        revoked = self.sessions_revoked_at.isoformat() if self.sessions_revoked_at else ""
        return f"{self.password_changed_at.isoformat()}|{revoked}"


async def signed_in_state(
    session: AsyncSession, name: str, sid: str | None = None
) -> SignedInState | None:
    """The account `name` as a panel session sees it, disabled or not, and whether the session
    `sid` was ended (logged out), in one query; None when nobody has the name."""
    ended = exists().where(PanelEndedSession.sid == sid) if sid is not None else literal(False)
    found = (
        await session.execute(select(StaffMember, ended).where(StaffMember.name == name))
    ).first()
    if found is None:
        return None
    row, session_ended = found
    return SignedInState(
        _public(row), row.password_changed_at, row.sessions_revoked_at, bool(session_ended)
    )


async def acting_staff(
    session: AsyncSession, name: str, roles: Collection[Role] = tuple(Role)
) -> Staff:
    """The staff member about to act, if enabled and in one of `roles`; else `NotAllowed`
    (`UnknownStaff` for a name nobody has)."""
    member = _public(await staff_row(session, name))
    if member.disabled:
        raise NotAllowed(f"staff member {name!r} is disabled")
    if member.role not in roles:
        allowed = " or ".join(sorted(str(role) for role in roles))
        raise NotAllowed(f"staff member {name!r} is a {member.role}; this needs {allowed}")
    return member
