"""Conversation state: one sender's dialogue between turns, the lease a turn holds on it, and
the provider messages already answered.

Every function takes an `AsyncSession` and leaves committing to the caller.

Exceptions:

    ConversationConflict   the state changed since it was loaded (a turn outlived its lease)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Update, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import WARSAW
from kernel.errors import ConflictError
from storage.bindings import bound_taxpayer, bound_taxpayer_query
from storage.conversation_models import AnsweredInbound, Conversation
from storage.sql import insert_on_conflict

# How long one turn may hold its conversation before another process may take it over.
CONVERSATION_LEASE = timedelta(seconds=15)
# How long the replies to a provider's message are kept to answer a redelivery of it.
ANSWERED_MESSAGE_TTL = timedelta(days=2)


# What a turn reads of its conversation; the stored taxpayer id is refreshed from the binding.
_STATE_COLUMNS = (
    Conversation.id,
    Conversation.language,
    Conversation.state,
    Conversation.version,
    Conversation.taxpayer_id,
)


class ConversationConflict(ConflictError):
    """Another process saved this conversation since it was loaded."""


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


async def load_conversation(
    session: AsyncSession, channel: str, sender_id: str
) -> ConversationState:
    """The sender's state, or a new empty one; `taxpayer_id` is the current binding.

    One statement for a known sender (it runs every turn): the binding is a subquery.
    """
    binding = bound_taxpayer_query(channel, sender_id).label("taxpayer_id")
    row = (
        await session.execute(
            select(*_STATE_COLUMNS[:-1], binding).where(
                Conversation.channel == channel, Conversation.sender_id == sender_id
            )
        )
    ).one_or_none()
    if row is None:
        taxpayer_id = await bound_taxpayer(session, channel, sender_id)
        return ConversationState(channel, sender_id, taxpayer_id=taxpayer_id)
    return _state(channel, sender_id, row, lease_owner=None)


def _state(channel: str, sender_id: str, row: Any, lease_owner: str | None) -> ConversationState:
    return ConversationState(
        channel,
        sender_id,
        language=row.language,
        state=dict(row.state),
        version=row.version,
        taxpayer_id=row.taxpayer_id,
        is_new=row.version == 0,
        id=row.id,
        lease_owner=lease_owner,
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
    params = {"p_sender_id": sender_id, "p_owner": owner, "p_now": now, "p_expires": now + lease}
    row = (await session.execute(_claim_statement(channel), params)).one_or_none()
    if row is None:
        row = (
            await session.execute(
                insert_on_conflict(session, Conversation)
                .values(
                    channel=channel,
                    sender_id=sender_id,
                    language="pl",
                    state={},
                    version=0,
                    updated_at=now,
                    lease_owner=owner,
                    lease_expires_at=now + lease,
                    taxpayer_id=bound_taxpayer_query(channel, sender_id),
                )
                .on_conflict_do_nothing()
                .returning(*_STATE_COLUMNS)
            )
        ).one_or_none()
    if row is None:
        return None
    return _state(channel, sender_id, row, lease_owner=owner)


# The statements of every turn, made once: a statement built per call costs more of the turn's
# CPU (SQLAlchemy's coercions and cache key) than the database spends on it. Core, on the table.
_conversations = Conversation.metadata.tables[Conversation.__tablename__]


def _bound_taxpayer(channel: str) -> Any:
    """The binding of the statement's sender (`p_sender_id`) on `channel`, as a subquery; one
    statement per channel, since how a sender is bound depends on the channel."""
    sender_id: Any = bindparam("p_sender_id")
    return bound_taxpayer_query(channel, sender_id)


@cache
def _claim_statement(channel: str) -> Update:
    t = _conversations.c
    return (
        update(_conversations)
        .where(
            t.channel == channel,
            t.sender_id == bindparam("p_sender_id"),
            or_(
                t.lease_owner.is_(None),
                t.lease_owner == bindparam("p_owner"),
                t.lease_expires_at <= bindparam("p_now"),
            ),
        )
        .values(
            lease_owner=bindparam("p_owner"),
            lease_expires_at=bindparam("p_expires"),
            taxpayer_id=_bound_taxpayer(channel),
        )
        .returning(t.id, t.language, t.state, t.version, t.taxpayer_id)
    )


@cache
def _save_statement(channel: str, *, leased: bool, at: bool) -> Update:
    """Save and release in one: only from the loaded version (and while the lease holds)."""
    t = _conversations.c
    held = t.version == bindparam("p_version")
    if leased:
        held &= t.lease_owner == bindparam("p_owner")
    return (
        update(_conversations)
        .where(t.channel == channel, t.sender_id == bindparam("p_sender_id"), held)
        .values(
            language=bindparam("p_language"),
            state=bindparam("p_state"),
            version=bindparam("p_new_version"),
            # The stored taxpayer id mirrors the binding; the engine's copy is not trusted.
            taxpayer_id=_bound_taxpayer(channel),
            updated_at=bindparam("p_updated_at") if at else func.now(),
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(t.id)
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
    if state.is_new and state.id is None:
        saved = await session.scalar(
            insert_on_conflict(session, Conversation)
            .values(
                channel=state.channel,
                sender_id=state.sender_id,
                language=state.language,
                state=state.state,
                version=state.version + 1,
                # The stored taxpayer id mirrors the binding; the engine's copy is not trusted.
                taxpayer_id=bound_taxpayer_query(state.channel, state.sender_id),
                updated_at=now if now is not None else func.now(),
            )
            .on_conflict_do_nothing()
            .returning(Conversation.id)
        )
    else:
        params = {
            "p_sender_id": state.sender_id,
            "p_version": state.version,
            "p_owner": state.lease_owner,
            "p_language": state.language,
            "p_state": state.state,
            "p_new_version": state.version + 1,
            "p_updated_at": now,
        }
        leased = state.lease_owner is not None
        statement = _save_statement(state.channel, leased=leased, at=now is not None)
        saved = await session.scalar(statement, params)
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
