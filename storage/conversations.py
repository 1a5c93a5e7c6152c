"""The conversation's side of the store: chat state, verified residents, audit, cases, hand-offs.

Every function takes an `AsyncSession` and leaves committing to the caller; the time comes in as
`now`, an aware datetime from the injected clock. A sender is verified when a `contacts` row with
`kind` = channel and `value` = sender id binds it to a taxpayer (see docs/conversation.md).

Exceptions:

    ConversationConflict   another process saved the conversation first: roll back, redo the turn
    UnknownTaxpayer        (LookupError) no taxpayer has the reference given
    ValueError             an argument outside its domain (category, channel, ttl)

Secrets are never stored in the clear: link tokens as SHA-256, activation codes as an HMAC-SHA256
keyed with a per-row random salt. The audit log gets no PESEL, phone, e-mail, token, code or amount.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import WARSAW
from kernel.redact import mask_pesel_everywhere, mask_secrets
from storage.conversation_models import (
    ActivationCode,
    AnsweredInbound,
    AuditEntry,
    Case,
    Conversation,
    HandoffTicket,
    LinkToken,
    RefSequence,
    Subscription,
    VerificationAttempt,
)
from storage.models import Base, Contact, Taxpayer, display_name

LINK_TOKEN_TTL = timedelta(minutes=30)
# How long one turn may hold its conversation before another process may take it over.
CONVERSATION_LEASE = timedelta(seconds=15)
# How long the replies to a provider's message are kept to answer a redelivery of it.
ANSWERED_MESSAGE_TTL = timedelta(days=2)
# Failed activation-code tries allowed per sender, and per targeted taxpayer across all senders
# (a web-chat sender id is the browser's own choice), within ATTEMPT_WINDOW.
SENDER_FAILURE_LIMIT = 5
TAXPAYER_FAILURE_LIMIT = 10
ATTEMPT_WINDOW = timedelta(hours=1)
# No 0/O or 1/I: the code is read off paper. 32 symbols, 8 of them: 40 bits.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CASE_PREFIX = "RS"
TICKET_PREFIX = "ZG"
SUBSCRIPTION_CATEGORIES = ("reminders", "announcements")
# Contact kinds that are the city's records, not chats.
_RECORD_KINDS = ("phone", "email")


class ConversationConflict(Exception):
    """Another process saved this conversation since it was loaded."""


class UnknownTaxpayer(LookupError):
    """No taxpayer has this reference."""


@dataclass
class ConversationState:
    """One sender's dialogue state; `taxpayer_id` comes from the binding and is never saved.

    `id` and `lease_owner` are set when the state was claimed for a turn (`claim_conversation`).
    """

    channel: str
    sender_id: str
    language: str = "pl"
    state: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    taxpayer_id: int | None = None
    is_new: bool = True
    id: int | None = None
    lease_owner: str | None = None


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


class CaseStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    DECIDED = "decided"
    REJECTED = "rejected"


@dataclass(frozen=True)
class CaseRecord:
    ref: str
    form_type: str
    status: CaseStatus
    channel: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SubscriptionRecord:
    channel: str
    category: str
    enabled: bool
    updated_at: datetime


@dataclass(frozen=True)
class TaxpayerSummary:
    """What actions may show a verified sender about themselves."""

    id: int
    ref: str
    display_name: str
    language: str
    account_number: str | None


def _insert(session: AsyncSession, entity: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that knows ON CONFLICT, for whichever engine the session is on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _chat_actor(channel: str) -> str:
    return f"chat:{channel}"


async def _taxpayer_id(session: AsyncSession, taxpayer_ref: str) -> int:
    found = await session.scalar(select(Taxpayer.id).where(Taxpayer.ref == taxpayer_ref.strip()))
    if found is None:
        raise UnknownTaxpayer(taxpayer_ref)
    return found


def _binding(channel: str, sender_id: str) -> ColumnElement[bool]:
    return (Contact.kind == channel) & (Contact.value == sender_id)


def _binding_subquery(channel: str, sender_id: str) -> ScalarSelect[int]:
    return (
        select(Contact.taxpayer_id).where(_binding(channel, sender_id)).limit(1).scalar_subquery()
    )


# --- conversations -------------------------------------------------------------------------------


async def load_conversation(
    session: AsyncSession, channel: str, sender_id: str
) -> ConversationState:
    """The sender's state, or a new empty one; `taxpayer_id` is the current binding.

    One statement for a known sender (it runs every turn): the binding is a subquery.
    """
    binding = _binding_subquery(channel, sender_id).label("bound_taxpayer_id")
    row = (
        await session.execute(
            select(Conversation.language, Conversation.state, Conversation.version, binding).where(
                Conversation.channel == channel, Conversation.sender_id == sender_id
            )
        )
    ).one_or_none()
    if row is None:
        taxpayer_id = await bound_taxpayer(session, channel, sender_id)
        return ConversationState(channel, sender_id, taxpayer_id=taxpayer_id)
    return ConversationState(
        channel,
        sender_id,
        language=row.language,
        state=dict(row.state),
        version=row.version,
        taxpayer_id=row.bound_taxpayer_id,
        is_new=False,
    )


async def claim_conversation(
    session: AsyncSession,
    channel: str,
    sender_id: str,
    owner: str,
    now: datetime,
    lease: timedelta = CONVERSATION_LEASE,
) -> ConversationState | None:
    """Take the conversation for one turn, or None while another turn holds it.

    The lease is free when nobody holds it, when `owner` already does (a turn tried again), or
    when it has expired (its holder died). One conditional UPDATE claims it, so two processes
    cannot both win; a sender's first message inserts the row already claimed. The stored
    taxpayer id is refreshed from the binding on the way, and returned as `taxpayer_id`.
    """
    binding = _binding_subquery(channel, sender_id)
    claim = {"lease_owner": owner, "lease_expires_at": now + lease, "taxpayer_id": binding}
    returned = (
        Conversation.id,
        Conversation.language,
        Conversation.state,
        Conversation.version,
        Conversation.taxpayer_id,
    )
    row = (
        await session.execute(
            update(Conversation)
            .where(
                Conversation.channel == channel,
                Conversation.sender_id == sender_id,
                or_(
                    Conversation.lease_owner.is_(None),
                    Conversation.lease_owner == owner,
                    Conversation.lease_expires_at <= now,
                ),
            )
            .values(**claim)
            .returning(*returned)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        row = (
            await session.execute(
                _insert(session, Conversation)
                .values(
                    channel=channel,
                    sender_id=sender_id,
                    language="pl",
                    state={},
                    version=0,
                    updated_at=now,
                    **claim,
                )
                .on_conflict_do_nothing()
                .returning(*returned)
            )
        ).one_or_none()
    if row is None:
        return None
    return ConversationState(
        channel,
        sender_id,
        language=row.language,
        state=dict(row.state),
        version=row.version,
        taxpayer_id=row.taxpayer_id,
        is_new=row.version == 0,
        id=row.id,
        lease_owner=owner,
    )


async def release_conversation(session: AsyncSession, state: ConversationState) -> None:
    """Give up the lease without saving (the turn failed)."""
    await session.execute(
        update(Conversation)
        .where(Conversation.id == state.id, Conversation.lease_owner == state.lease_owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class AnsweredMessage:
    """A provider's message id and the replies the turn gave it."""

    message_id: str
    replies: list[dict[str, Any]]


async def earlier_replies(
    session: AsyncSession, state: ConversationState, message_id: str
) -> list[dict[str, Any]] | None:
    """The replies already given to this provider message in this conversation, if any."""
    replies = await session.scalar(
        select(AnsweredInbound.replies).where(
            AnsweredInbound.conversation_id == state.id, AnsweredInbound.message_id == message_id
        )
    )
    return list(replies) if replies is not None else None


async def save_conversation(
    session: AsyncSession,
    state: ConversationState,
    now: datetime | None = None,
    answered: AnsweredMessage | None = None,
) -> None:
    """Write the state if nobody else has since it was loaded; on success `state` is current.

    A claimed state is saved only while its lease holds, and the lease is released. `answered`
    records a provider's message with its replies (kept for ANSWERED_MESSAGE_TTL). Raises
    `ConversationConflict` otherwise. `now` defaults to the database's clock.
    """
    updated_at: Any = now if now is not None else func.now()
    # The stored taxpayer id mirrors the binding; the engine's copy in `state` is not trusted.
    binding = _binding_subquery(state.channel, state.sender_id)
    values = {
        "language": state.language,
        "state": state.state,
        "version": state.version + 1,
        "taxpayer_id": binding,
        "updated_at": updated_at,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if state.is_new and state.id is None:
        saved = await session.scalar(
            _insert(session, Conversation)
            .values(channel=state.channel, sender_id=state.sender_id, **values)
            .on_conflict_do_nothing()
            .returning(Conversation.id)
        )
    else:
        held = Conversation.version == state.version
        if state.lease_owner is not None:
            held &= Conversation.lease_owner == state.lease_owner
        saved = await session.scalar(
            update(Conversation)
            .where(
                Conversation.channel == state.channel,
                Conversation.sender_id == state.sender_id,
                held,
            )
            .values(**values)
            .returning(Conversation.id)
            .execution_options(synchronize_session=False)
        )
    if saved is None:
        raise ConversationConflict(f"{state.channel} conversation saved by another process")
    if answered is not None:
        await _record_answered(session, saved, answered, now or datetime.now(WARSAW))
    state.version += 1
    state.is_new = False
    state.id = saved


async def _record_answered(
    session: AsyncSession, conversation_id: int, answered: AnsweredMessage, now: datetime
) -> None:
    # Kept for a while only: providers redeliver within minutes or hours, not days.
    await session.execute(
        delete(AnsweredInbound)
        .where(
            AnsweredInbound.conversation_id == conversation_id,
            AnsweredInbound.received_at < now - ANSWERED_MESSAGE_TTL,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        insert(AnsweredInbound).values(
            conversation_id=conversation_id,
            message_id=answered.message_id,
            replies=answered.replies,
            received_at=now,
        )
    )


# --- binding a chat to a taxpayer ----------------------------------------------------------------


async def bound_taxpayer(session: AsyncSession, channel: str, sender_id: str) -> int | None:
    return await session.scalar(select(_binding_subquery(channel, sender_id)))


async def taxpayer_by_phone(session: AsyncSession, e164: str) -> int | None:
    """The taxpayer whose records hold this phone; None when none or several (a shared phone)."""
    found = (
        await session.scalars(
            select(Contact.taxpayer_id)
            .where(Contact.kind == "phone", Contact.value == e164)
            .distinct()
            .limit(2)
        )
    ).all()
    return found[0] if len(found) == 1 else None


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
            _chat_actor(channel),
            "chat.unbound",
            previous,
            {"channel": channel, "reason": "bound to another taxpayer"},
            now,
        )
    await session.execute(
        _insert(session, Contact)
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
    await audit(session, _chat_actor(channel), "chat.unbound", released, {"channel": channel}, now)
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
    taxpayer_id = await _taxpayer_id(session, taxpayer_ref)
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
    actor = _chat_actor(channel)
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
    taxpayer_id = await _taxpayer_id(session, taxpayer_ref)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    salt = secrets.token_hex(16)
    row = {"salt": salt, "code_hash": _code_hash(salt, code), "issued_at": now}
    await session.execute(
        _insert(session, ActivationCode)
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
    actor = _chat_actor(channel)
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


# --- cases and hand-offs -------------------------------------------------------------------------


async def _next_number(session: AsyncSession, name: str, year: int) -> int:
    """The next number of `name` in `year`; the row stays locked until the caller commits."""
    await session.execute(
        _insert(session, RefSequence).values(name=name, year=year, last=0).on_conflict_do_nothing()
    )
    claimed = await session.execute(
        update(RefSequence)
        .where(RefSequence.name == name, RefSequence.year == year)
        .values(last=RefSequence.last + 1)
        .returning(RefSequence.last)
        .execution_options(synchronize_session=False)
    )
    number: int = claimed.scalar_one()
    return number


async def create_case(
    session: AsyncSession,
    taxpayer_id: int,
    form_type: str,
    data: Mapping[str, Any],
    channel: str,
    now: datetime,
    prefix: str = CASE_PREFIX,
    turn_key: str | None = None,
) -> str:
    """File a submitted form; returns its reference, e.g. `RS-2026-000123`.

    A turn run again (same `turn_key`) gets the case it filed the first time.
    """
    if turn_key is not None:
        filed = await session.scalar(select(Case.ref).where(Case.turn_key == turn_key))
        if filed is not None:
            return filed
    year = now.astimezone(WARSAW).year
    ref = f"{prefix}-{year}-{await _next_number(session, 'case', year):06d}"
    await session.execute(
        insert(Case).values(
            ref=ref,
            taxpayer_id=taxpayer_id,
            form_type=form_type,
            status=CaseStatus.SUBMITTED.value,
            data=dict(data),
            channel=channel,
            created_at=now,
            updated_at=now,
            turn_key=turn_key,
        )
    )
    await audit(
        session,
        _chat_actor(channel),
        "case.created",
        taxpayer_id,
        {"case_ref": ref, "form_type": form_type},
        now,
    )
    return ref


def _case_record(case: Case) -> CaseRecord:
    return CaseRecord(
        ref=case.ref,
        form_type=case.form_type,
        status=CaseStatus(case.status),
        channel=case.channel,
        data=dict(case.data),
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


async def list_cases(session: AsyncSession, taxpayer_id: int) -> list[CaseRecord]:
    """The taxpayer's own cases, newest first."""
    cases = await session.scalars(
        select(Case)
        .where(Case.taxpayer_id == taxpayer_id)
        .order_by(Case.created_at.desc(), Case.id.desc())
    )
    return [_case_record(case) for case in cases]


async def get_case(session: AsyncSession, taxpayer_id: int, case_ref: str) -> CaseRecord | None:
    """The case if it is this taxpayer's; another's case is as unknown as a missing one."""
    case = await session.scalar(
        select(Case).where(Case.ref == case_ref.strip().upper(), Case.taxpayer_id == taxpayer_id)
    )
    return _case_record(case) if case is not None else None


async def create_handoff_ticket(
    session: AsyncSession,
    channel: str,
    sender_id: str,
    taxpayer_id: int | None,
    last_turns: Sequence[Any],
    now: datetime,
) -> str:
    """Hand the conversation to the office; returns the ticket reference, e.g. `ZG-2026-000007`.

    PESEL-shaped numbers and activation codes in the transcript are masked before it is kept.

    A chat with a ticket still open joins it: asking twice (or a turn run again) is one ticket.
    """
    open_ref = await session.scalar(
        select(HandoffTicket.ref)
        .where(
            HandoffTicket.channel == channel,
            HandoffTicket.sender_id == sender_id,
            HandoffTicket.status == "open",
        )
        .order_by(HandoffTicket.id)
        .limit(1)
    )
    if open_ref is not None:
        return open_ref
    year = now.astimezone(WARSAW).year
    ref = f"{TICKET_PREFIX}-{year}-{await _next_number(session, 'handoff', year):06d}"
    await session.execute(
        insert(HandoffTicket).values(
            ref=ref,
            channel=channel,
            sender_id=sender_id,
            taxpayer_id=taxpayer_id,
            transcript=[mask_pesel_everywhere(_masked_turn(turn)) for turn in last_turns],
            status="open",
            created_at=now,
        )
    )
    await audit(
        session,
        _chat_actor(channel),
        "handoff.created",
        taxpayer_id,
        {"ticket_ref": ref, "channel": channel},
        now,
    )
    return ref


def _masked_turn(turn: Any) -> Any:
    """A transcript turn with PESEL and codes masked in its text (staff read it, it is kept)."""
    if isinstance(turn, Mapping) and isinstance(turn.get("text"), str):
        return {**turn, "text": mask_secrets(turn["text"])}
    return turn


# --- subscriptions -------------------------------------------------------------------------------


async def set_subscription(
    session: AsyncSession,
    taxpayer_id: int,
    channel: str,
    category: str,
    enabled: bool,
    now: datetime,
) -> None:
    """Turn a category of messages on or off for one channel; safe to repeat."""
    if category not in SUBSCRIPTION_CATEGORIES:
        raise ValueError(f"unknown subscription category {category!r}")
    await session.execute(
        _insert(session, Subscription)
        .values(
            taxpayer_id=taxpayer_id,
            channel=channel,
            category=category,
            enabled=enabled,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["taxpayer_id", "channel", "category"],
            set_={"enabled": enabled, "updated_at": now},
        )
    )


async def list_subscriptions(session: AsyncSession, taxpayer_id: int) -> list[SubscriptionRecord]:
    rows = await session.execute(
        select(
            Subscription.channel,
            Subscription.category,
            Subscription.enabled,
            Subscription.updated_at,
        )
        .where(Subscription.taxpayer_id == taxpayer_id)
        .order_by(Subscription.channel, Subscription.category)
    )
    return [
        SubscriptionRecord(row.channel, row.category, row.enabled, row.updated_at) for row in rows
    ]


# --- audit and what a verified sender may see ----------------------------------------------------


async def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    taxpayer_id: int | None,
    details: Mapping[str, Any],
    now: datetime,
) -> None:
    """Record who did what to whose data; `details` never carries PESEL, contacts or amounts."""
    await session.execute(
        insert(AuditEntry).values(
            at=now, actor=actor, action=action, taxpayer_id=taxpayer_id, details=dict(details)
        )
    )


async def taxpayer_summary(session: AsyncSession, taxpayer_id: int) -> TaxpayerSummary | None:
    return await _summary(session, Taxpayer.id == taxpayer_id)


async def bound_taxpayer_summary(
    session: AsyncSession, channel: str, sender_id: str
) -> TaxpayerSummary | None:
    """The summary of the taxpayer this chat is bound to, in one statement; None when unbound."""
    return await _summary(session, Taxpayer.id == _binding_subquery(channel, sender_id))


async def _summary(session: AsyncSession, which: ColumnElement[bool]) -> TaxpayerSummary | None:
    # Just these columns, without the ORM's identity map: read on every verified turn.
    row = (
        await session.execute(
            select(
                Taxpayer.id,
                Taxpayer.ref,
                Taxpayer.first_name,
                Taxpayer.last_name,
                Taxpayer.language,
                Taxpayer.account_number,
            ).where(which)
        )
    ).one_or_none()
    if row is None:
        return None
    return TaxpayerSummary(
        id=row.id,
        ref=row.ref,
        display_name=display_name(row.first_name, row.last_name),
        language=row.language,
        account_number=row.account_number,
    )
