"""Verified residents: chats bound to taxpayers, link tokens, activation codes, attempt limits.

A sender is verified when a `contacts` row with `kind` = channel and `value` = sender id binds it
to a taxpayer (see docs/conversation.md). Every function takes an `AsyncSession` and leaves
committing to the caller; `now` is an aware datetime from the injected clock.

Secrets are never stored in the clear: link tokens as SHA-256, activation codes as an HMAC-SHA256
keyed with a per-row random salt. A chat keeps, between the PESEL and the code, only the taxpayer
ids the PESEL named (`identified_taxpayers`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    delete,
    distinct,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import audit, chat_actor
from storage.conversation_models import ActivationCode, Conversation, LinkToken, VerificationAttempt
from storage.models import Contact, Taxpayer
from storage.sql import insert_on_conflict
from storage.taxpayers import TaxpayerSummary, taxpayer_id_by_ref, taxpayer_summary

LINK_TOKEN_TTL = timedelta(minutes=30)


# Failed activation-code tries allowed per sender, and per targeted taxpayer across all senders
# (a web-chat sender id is the browser's own choice), within ATTEMPT_WINDOW.
SENDER_FAILURE_LIMIT = 5
TAXPAYER_FAILURE_LIMIT = 10
ATTEMPT_WINDOW = timedelta(hours=1)


# No 0/O or 1/I: the code is read off paper. 32 symbols, 8 of them: 40 bits.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


# Contact kinds that are the city's records, not chats.
_RECORD_KINDS = ("phone", "email")
# The chat channel whose sender ids are phone numbers, matched against the records' phones.
SMS_CHANNEL = "sms"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    taxpayer_id: int


class VerifyStatus(enum.StrEnum):
    VERIFIED = "verified"
    REJECTED = "rejected"
    LOCKED = "locked"


@dataclass(frozen=True)
class VerifyOutcome:
    status: VerifyStatus
    taxpayer_id: int | None = None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _binding(channel: str, sender_id: str) -> ColumnElement[bool]:
    return (Contact.kind == channel) & (Contact.value == sender_id)


def bound_taxpayer_query(channel: str, sender_id: str) -> ScalarSelect[int]:
    """The id of the taxpayer this chat is bound to, as a subquery for other statements.

    On SMS the sender id is the E.164 number: a number verified with an activation code is bound
    like any chat; otherwise a number the city's records hold for exactly one taxpayer
    identifies them (CONTRACT.md), and one held for several (a family) or none for nobody.
    """
    bound = select(Contact.taxpayer_id).where(_binding(channel, sender_id)).limit(1)
    if channel != SMS_CHANNEL:
        return bound.scalar_subquery()
    held_by_one = (
        select(func.min(Contact.taxpayer_id))
        .where(Contact.kind == "phone", Contact.value == sender_id)
        .having(func.count(distinct(Contact.taxpayer_id)) == 1)
    )
    return select(
        func.coalesce(bound.scalar_subquery(), held_by_one.scalar_subquery())
    ).scalar_subquery()


async def bound_taxpayer(session: AsyncSession, channel: str, sender_id: str) -> int | None:
    return await session.scalar(select(bound_taxpayer_query(channel, sender_id)))


async def bound_taxpayer_summary(
    session: AsyncSession, channel: str, sender_id: str
) -> TaxpayerSummary | None:
    """The summary of the taxpayer this chat is bound to, in one statement; None when unbound."""
    return await taxpayer_summary(session, bound_taxpayer_query(channel, sender_id))


async def _bind(
    session: AsyncSession,
    taxpayer_id: int,
    channel: str,
    sender_id: str,
    source: str,
    now: datetime,
) -> None:
    """Bind the chat to this taxpayer, releasing it from any other (one chat, one taxpayer)."""
    if channel in _RECORD_KINDS:
        raise ValueError(f"{channel!r} is a kind of record, not a chat channel")
    released = (
        await session.scalars(
            delete(Contact)
            .where(_binding(channel, sender_id), Contact.taxpayer_id != taxpayer_id)
            .returning(Contact.taxpayer_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for previous in released:
        await audit(
            session,
            chat_actor(channel),
            "chat.unbound",
            previous,
            {"channel": channel, "reason": "bound to another taxpayer"},
            now,
        )
    await session.execute(
        insert_on_conflict(session, Contact)
        .values(taxpayer_id=taxpayer_id, kind=channel, value=sender_id, source=source)
        .on_conflict_do_nothing()
    )


async def unbind(session: AsyncSession, channel: str, sender_id: str, now: datetime) -> int | None:
    """Forget me: the chat is no longer verified. Returns the taxpayer it was bound to."""
    released = await session.scalar(
        delete(Contact)
        .where(_binding(channel, sender_id))
        .returning(Contact.taxpayer_id)
        .execution_options(synchronize_session=False)
    )
    if released is None:
        return None
    await session.execute(
        update(Conversation)
        .where(Conversation.channel == channel, Conversation.sender_id == sender_id)
        .values(taxpayer_id=None)
        .execution_options(synchronize_session=False)
    )
    await audit(session, chat_actor(channel), "chat.unbound", released, {"channel": channel}, now)
    return released


# --- link tokens ---------------------------------------------------------------------------------


async def create_link_token(
    session: AsyncSession,
    taxpayer_ref: str,
    now: datetime,
    ttl: timedelta = LINK_TOKEN_TTL,
    issued_by: str = "staff",
) -> IssuedToken:
    """A one-time token for `/start TOKEN`; only its hash is kept. Raises `UnknownTaxpayer`."""
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    taxpayer_id = await taxpayer_id_by_ref(session, taxpayer_ref)
    # 43 URL-safe characters: fits Telegram's 64-character deep-link parameter.
    token = secrets.token_urlsafe(32)
    expires_at = now + ttl
    token_id = await session.scalar(
        insert(LinkToken)
        .values(
            token_hash=_sha256(token),
            taxpayer_id=taxpayer_id,
            issued_by=issued_by,
            issued_at=now,
            expires_at=expires_at,
        )
        .returning(LinkToken.id)
    )
    await audit(
        session,
        issued_by,
        "link_token.issued",
        taxpayer_id,
        {"link_token_id": token_id, "ttl_minutes": int(ttl.total_seconds() // 60)},
        now,
    )
    return IssuedToken(token, expires_at, taxpayer_id)


async def redeem_link_token(
    session: AsyncSession, token: str, channel: str, sender_id: str, now: datetime
) -> int | None:
    """Bind the sender to the token's taxpayer; None, alike, for unknown, used or expired.

    The sender who used the token and is still bound by it may redeem it again (a turn run
    again, a message redelivered): that changes nothing and returns the taxpayer.
    """
    token_hash = _sha256(token.strip())
    # One UPDATE claims the token, so two chats racing for it cannot both win.
    claimed = (
        await session.execute(
            update(LinkToken)
            .where(
                LinkToken.token_hash == token_hash,
                LinkToken.used_at.is_(None),
                LinkToken.expires_at > now,
            )
            .values(used_at=now, used_channel=channel, used_sender=sender_id)
            .returning(LinkToken.id, LinkToken.taxpayer_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    actor = chat_actor(channel)
    if claimed is None:
        known = (
            await session.execute(
                select(
                    LinkToken.id,
                    LinkToken.taxpayer_id,
                    LinkToken.used_at,
                    LinkToken.used_channel,
                    LinkToken.used_sender,
                ).where(LinkToken.token_hash == token_hash)
            )
        ).one_or_none()
        if (
            known is not None
            and (known.used_channel, known.used_sender) == (channel, sender_id)
            and await bound_taxpayer(session, channel, sender_id) == known.taxpayer_id
        ):
            return int(known.taxpayer_id)
        details: dict[str, Any] = {"channel": channel, "reason": "unknown"}
        if known is not None:
            details.update(
                reason="used" if known.used_at is not None else "expired", link_token_id=known.id
            )
        await audit(
            session,
            actor,
            "link_token.refused",
            known.taxpayer_id if known else None,
            details,
            now,
        )
        return None
    await _bind(session, claimed.taxpayer_id, channel, sender_id, "link_token", now)
    await audit(
        session,
        actor,
        "chat.bound",
        claimed.taxpayer_id,
        {"channel": channel, "method": "link_token", "link_token_id": claimed.id},
        now,
    )
    return int(claimed.taxpayer_id)


# --- activation codes ----------------------------------------------------------------------------


def _normalise_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


def looks_like_activation_code(text: str) -> bool:
    """Written as a code could be (`ABCD-EFGH`, `abcdefgh`), whether or not it is one."""
    code = _normalise_code(text)
    return len(code) == CODE_LENGTH and all(char in CODE_ALPHABET for char in code)


def _code_hash(salt: str, code: str) -> str:
    return hmac.new(bytes.fromhex(salt), code.encode(), hashlib.sha256).hexdigest()


async def issue_activation_code(
    session: AsyncSession, taxpayer_ref: str, now: datetime, issued_by: str = "staff"
) -> str:
    """A new code shown as `ABCD-EFGH`, replacing the old one. Raises `UnknownTaxpayer`."""
    taxpayer_id = await taxpayer_id_by_ref(session, taxpayer_ref)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    salt = secrets.token_hex(16)
    row = {"salt": salt, "code_hash": _code_hash(salt, code), "issued_at": now}
    await session.execute(
        insert_on_conflict(session, ActivationCode)
        .values(taxpayer_id=taxpayer_id, **row)
        .on_conflict_do_update(index_elements=["taxpayer_id"], set_=row)
    )
    await audit(session, issued_by, "activation_code.issued", taxpayer_id, {}, now)
    return f"{code[:4]}-{code[4:]}"


async def _recent_failures(session: AsyncSession, since: datetime, *where: Any) -> int:
    count = await session.scalar(
        select(func.count()).where(
            VerificationAttempt.at > since,
            VerificationAttempt.checked.is_(True),
            VerificationAttempt.succeeded.is_(False),
            *where,
        )
    )
    return int(count or 0)


async def identified_taxpayers(session: AsyncSession, identifier: str) -> list[int]:
    """The taxpayers with this PESEL or NIP (non-digits ignored) who have an activation code.

    A chat keeps these ids between the identifier and the code, never the identifier itself.
    """
    digits = re.sub(r"\D", "", identifier)
    column = {11: Taxpayer.pesel, 10: Taxpayer.nip}.get(len(digits))
    found = await session.scalars(
        select(Taxpayer.id)
        .join(ActivationCode, ActivationCode.taxpayer_id == Taxpayer.id)
        .where(column == digits if column is not None else false())
        .order_by(Taxpayer.id)
    )
    return list(found)


async def verify_with_activation_code(
    session: AsyncSession,
    identifier: str,
    code: str,
    channel: str,
    sender_id: str,
    now: datetime,
    turn_key: str | None = None,
) -> VerifyOutcome:
    """`verify_identified` for the taxpayers this PESEL or NIP names."""
    taxpayer_ids = await identified_taxpayers(session, identifier)
    return await verify_identified(session, taxpayer_ids, code, channel, sender_id, now, turn_key)


async def verify_identified(
    session: AsyncSession,
    taxpayer_ids: Sequence[int],
    code: str,
    channel: str,
    sender_id: str,
    now: datetime,
    turn_key: str | None = None,
) -> VerifyOutcome:
    """Bind the sender when the code is one of these taxpayers' (those the identifier named).

    A turn run again (same `turn_key`) gets the first outcome, and the attempt counts once.

    `rejected` looks and takes the same whether or not the identifier exists: the same queries
    run and at least one HMAC is compared either way. After SENDER_FAILURE_LIMIT failures in the
    hour the sender gets `locked` without a check; a taxpayer whose code was guessed at
    TAXPAYER_FAILURE_LIMIT times in the hour is silently `rejected`, so the lock tells nothing.
    """
    if turn_key is not None:
        earlier = await _earlier_outcome(session, turn_key, channel, sender_id)
        if earlier is not None:
            return earlier
    since = now - ATTEMPT_WINDOW
    actor = chat_actor(channel)
    sender = (VerificationAttempt.channel == channel) & (VerificationAttempt.sender_id == sender_id)
    if await _recent_failures(session, since, sender) >= SENDER_FAILURE_LIMIT:
        await _record_attempt(
            session, channel, sender_id, now, None, checked=False, ok=False, turn_key=turn_key
        )
        await audit(session, actor, "verify.locked", None, {"channel": channel}, now)
        return VerifyOutcome(VerifyStatus.LOCKED)

    candidates = (
        await session.execute(
            select(
                ActivationCode.taxpayer_id.label("id"),
                ActivationCode.salt,
                ActivationCode.code_hash,
            )
            .where(ActivationCode.taxpayer_id.in_(list(taxpayer_ids)))
            .order_by(ActivationCode.taxpayer_id)
        )
    ).all()
    ids = [row.id for row in candidates]
    targeted = await _recent_failures(session, since, VerificationAttempt.taxpayer_id.in_(ids))
    # A dummy record when nothing matched, so that the work done does not reveal it.
    checks = [(row.id, row.salt, row.code_hash) for row in candidates] or [
        (None, secrets.token_hex(16), "0" * 64)
    ]
    given = _normalise_code(code)
    matched: int | None = None
    for taxpayer_id, salt, stored in checks:
        if hmac.compare_digest(_code_hash(salt, given), stored) and matched is None:
            matched = taxpayer_id
    if matched is not None and targeted < TAXPAYER_FAILURE_LIMIT:
        await _record_attempt(
            session, channel, sender_id, now, matched, checked=True, ok=True, turn_key=turn_key
        )
        await _bind(session, matched, channel, sender_id, "activation_code", now)
        await audit(
            session,
            actor,
            "chat.bound",
            matched,
            {"channel": channel, "method": "activation_code"},
            now,
        )
        return VerifyOutcome(VerifyStatus.VERIFIED, matched)
    target = ids[0] if ids else None
    await _record_attempt(
        session, channel, sender_id, now, target, checked=True, ok=False, turn_key=turn_key
    )
    await audit(session, actor, "verify.rejected", target, {"channel": channel}, now)
    return VerifyOutcome(VerifyStatus.REJECTED)


async def _record_attempt(
    session: AsyncSession,
    channel: str,
    sender_id: str,
    now: datetime,
    taxpayer_id: int | None,
    *,
    checked: bool,
    ok: bool,
    turn_key: str | None,
) -> None:
    await session.execute(
        insert(VerificationAttempt).values(
            channel=channel,
            sender_id=sender_id,
            at=now,
            succeeded=ok,
            checked=checked,
            taxpayer_id=taxpayer_id,
            turn_key=turn_key,
        )
    )


async def _earlier_outcome(
    session: AsyncSession, turn_key: str, channel: str, sender_id: str
) -> VerifyOutcome | None:
    """The outcome of this turn's attempt when the turn is run again."""
    attempt = (
        await session.execute(
            select(
                VerificationAttempt.succeeded,
                VerificationAttempt.checked,
                VerificationAttempt.taxpayer_id,
            ).where(VerificationAttempt.turn_key == turn_key)
        )
    ).one_or_none()
    if attempt is None:
        return None
    if not attempt.checked:
        return VerifyOutcome(VerifyStatus.LOCKED)
    bound = await bound_taxpayer(session, channel, sender_id)
    if attempt.succeeded and bound is not None and bound == attempt.taxpayer_id:
        return VerifyOutcome(VerifyStatus.VERIFIED, bound)
    return VerifyOutcome(VerifyStatus.REJECTED)


async def _failures_since(
    session: AsyncSession, since: datetime, where: ColumnElement[bool]
) -> list[datetime]:
    times = await session.scalars(
        select(VerificationAttempt.at)
        .where(
            VerificationAttempt.at > since,
            VerificationAttempt.checked.is_(True),
            VerificationAttempt.succeeded.is_(False),
            where,
        )
        .order_by(VerificationAttempt.at)
    )
    return list(times)


def _lifts_at(failures: Sequence[datetime], limit: int) -> datetime | None:
    """When fewer than `limit` of these failures remain in the window, or None if not locked."""
    if len(failures) < limit:
        return None
    return failures[len(failures) - limit] + ATTEMPT_WINDOW


async def verification_locked_until(
    session: AsyncSession, channel: str, sender_id: str, taxpayer_ids: Sequence[int], now: datetime
) -> datetime | None:
    """The time the chat's lock, or the lock of a taxpayer the identifier named, lifts; None when
    neither is locked. A lock lifts when enough of its failures have left ATTEMPT_WINDOW."""
    since = now - ATTEMPT_WINDOW
    sender = (VerificationAttempt.channel == channel) & (VerificationAttempt.sender_id == sender_id)
    times = [_lifts_at(await _failures_since(session, since, sender), SENDER_FAILURE_LIMIT)]
    for taxpayer_id in taxpayer_ids:
        targeted = VerificationAttempt.taxpayer_id == taxpayer_id
        times.append(
            _lifts_at(await _failures_since(session, since, targeted), TAXPAYER_FAILURE_LIMIT)
        )
    locks = [time for time in times if time is not None]
    return max(locks) if locks else None
