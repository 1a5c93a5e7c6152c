"""Notice preferences: which channels may carry a taxpayer's reminders and announcements, in
which order, with the consent behind each and the history of every change.

Two levels, both kept with their time and source:
- **consent** to use an address at all: the `contacts` row of a phone, an e-mail address or a
  bound chat (`notify_consent`, `consent_source`, `consent_at`). The finance-system export's
  `notify_consent` column gives it for the phone and e-mail on record (source `import`); a
  resident saying "przypominaj mi na Telegramie" gives it for that very chat (source `chat`).
  Unbinding a chat drops its contact row, and the consent with it.
- per **category** (`reminders`, `announcements`) and channel: an opt-out and the resident's
  order of channels (`subscriptions.enabled`, `subscriptions.position`). No row: not opted out,
  and the channel takes its place in `DEFAULT_ORDER`.

    delivery_channels   {taxpayer_id: [(channel, address), …]} in the taxpayer's order, only
                        consented, not opted out and not marked unreachable (storage.outbox)
    address_on_record   the address a channel would use for a taxpayer (a phone, a bound chat)
    record_consent      consent to a channel's address (optionally moved to the front)
    opt_out / opt_in    a category on a channel off or on again; the consent stays
    withdraw_consent    the consent to a channel's addresses withdrawn altogether
    preference_history  every change, oldest first
    record_imported_consents   the history rows of consents an import gave or took back
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kernel.errors import NotFoundError
from storage.conversation_models import Subscription
from storage.models import Base, Contact, ContactKind
from storage.outbox_models import UnreachableRecipient
from storage.reminder_models import PreferenceChange
from storage.sql import IDS_PER_STATEMENT, Stamp, among, insert_on_conflict, insert_rows
from storage.subscriptions import SUBSCRIPTION_CATEGORIES, set_subscription

CATEGORIES = SUBSCRIPTION_CATEGORIES
# Channels that can carry a notice, in the order used where the resident chose none: a chat
# costs the city nothing, an SMS reaches every phone, e-mail is read last.
DEFAULT_ORDER = ("telegram", "sms", "email")
# The contacts kind that holds a channel's address when it is not a chat binding.
_RECORD_KIND = {"sms": ContactKind.PHONE.value, "email": ContactKind.EMAIL.value}

# Kinds of change in the history.
CONSENT = "consent"
WITHDRAWAL = "withdrawal"
OPT_IN = "opt-in"
OPT_OUT = "opt-out"
ORDER = "order"

_contacts = Base.metadata.tables[Contact.__tablename__]
_changes = Base.metadata.tables[PreferenceChange.__tablename__]
_CHANNEL_OF_RECORD = {kind: channel for channel, kind in _RECORD_KIND.items()}

Address = tuple[str, str]  # (channel, address)
_HISTORY_COLUMNS = (
    "taxpayer_id", "category", "channel", "address", "change", "position", "source", "at",
)  # fmt: skip


@dataclass(frozen=True)
class Change:
    at: datetime
    category: str | None
    channel: str
    address: str | None
    change: str
    position: int | None
    source: str


def _check(channel: str, categories: Iterable[str] = ()) -> None:
    if channel not in DEFAULT_ORDER:
        raise ValueError(f"unknown notice channel {channel!r}")
    for category in categories:
        if category not in CATEGORIES:
            raise ValueError(f"unknown notice category {category!r}")


def contact_kind(channel: str) -> str:
    """The `contacts.kind` holding a channel's address: a record kind or the chat channel."""
    return _RECORD_KIND.get(channel, channel)


def channel_of_kind() -> sa.ColumnElement[str]:
    """`contacts.kind` as the channel a notice to it goes out on (SQL)."""
    kind = _contacts.c.kind
    return sa.case(
        (kind == ContactKind.PHONE.value, "sms"),
        (kind == ContactKind.EMAIL.value, "email"),
        else_=kind,
    )


def _default_rank() -> sa.ColumnElement[int]:
    channel = channel_of_kind()
    return sa.case(
        *((channel == name, 100 + rank) for rank, name in enumerate(DEFAULT_ORDER)), else_=199
    )


def reachable_addresses(category: str) -> sa.Select[int, str, str]:
    """(taxpayer_id, channel, address) for every consented, not opted-out, reachable address of
    a category, the taxpayer's first choice first (rank, then the oldest contact). For
    statements that join it (the reminder planner) and for `delivery_channels`."""
    _check(DEFAULT_ORDER[0], (category,))
    channel = channel_of_kind().label("channel")
    subscription = Base.metadata.tables[Subscription.__tablename__]
    unreachable = Base.metadata.tables[UnreachableRecipient.__tablename__]
    return (
        sa.select(_contacts.c.taxpayer_id, channel, _contacts.c.value.label("address"))
        .select_from(_contacts)
        .outerjoin(
            subscription,
            (subscription.c.taxpayer_id == _contacts.c.taxpayer_id)
            & (subscription.c.channel == channel_of_kind())
            & (subscription.c.category == category),
        )
        .outerjoin(
            unreachable,
            (unreachable.c.channel == channel_of_kind())
            & (unreachable.c.recipient == _contacts.c.value),
        )
        .where(
            _contacts.c.notify_consent.is_(True),
            channel_of_kind().in_(DEFAULT_ORDER),
            sa.or_(subscription.c.enabled.is_(None), subscription.c.enabled.is_(True)),
            unreachable.c.channel.is_(None),
        )
        .order_by(
            _contacts.c.taxpayer_id,
            sa.func.coalesce(subscription.c.position, _default_rank()),
            _contacts.c.id,
        )
    )


async def delivery_channels(
    session: AsyncSession, taxpayer_ids: Iterable[int], category: str
) -> dict[int, list[Address]]:
    """Where a notice of `category` may go, per taxpayer, first choice first: one address per
    channel, consented, not opted out, not marked unreachable. Taxpayers with none are absent."""
    ids = sorted(set(taxpayer_ids))
    found: dict[int, list[Address]] = {}
    connection = await session.connection()
    query = reachable_addresses(category)
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        chunk = ids[start : start + IDS_PER_STATEMENT]
        rows = await connection.execute(
            query.where(among(connection, _contacts.c.taxpayer_id, chunk))
        )
        for taxpayer_id, channel, address in rows:
            addresses = found.setdefault(taxpayer_id, [])
            if all(channel != known for known, _ in addresses):
                addresses.append((channel, address))
    return found


async def address_on_record(session: AsyncSession, taxpayer_id: int, channel: str) -> str | None:
    """The taxpayer's oldest address for `channel`: a phone or e-mail address on record, or a
    chat bound to them; None when they have none."""
    _check(channel)
    found: str | None = await session.scalar(
        sa.select(Contact.value)
        .where(Contact.taxpayer_id == taxpayer_id, Contact.kind == contact_kind(channel))
        .order_by(Contact.id)
        .limit(1)
    )
    return found


async def _history(
    session: AsyncSession,
    taxpayer_id: int,
    changes: Sequence[tuple[str | None, str, str | None, str, int | None]],
    source: str,
    now: datetime,
) -> None:
    """(category, channel, address, change, position) rows, all from one source at one time."""
    if changes:
        await session.execute(
            sa.insert(PreferenceChange),
            [
                {
                    "taxpayer_id": taxpayer_id,
                    "category": category,
                    "channel": channel,
                    "address": address,
                    "change": change,
                    "position": position,
                    "source": source,
                    "at": now,
                }
                for category, channel, address, change, position in changes
            ],
        )


async def record_consent(
    session: AsyncSession,
    taxpayer_id: int,
    channel: str,
    address: str,
    source: str,
    now: datetime,
    *,
    categories: Sequence[str] = CATEGORIES,
    first: bool = False,
) -> None:
    """The taxpayer agrees to notices of `categories` on `channel` at `address` (a normalised
    phone, a lower-case e-mail address, the id of a chat bound to the taxpayer, else
    NotFoundError). With `first`, the channel becomes
    their first choice for those categories. The caller commits."""
    _check(channel, categories)
    consent = {"notify_consent": True, "consent_source": source, "consent_at": now}
    if channel in _RECORD_KIND:
        statement = insert_on_conflict(session, Contact).values(
            taxpayer_id=taxpayer_id, kind=contact_kind(channel), value=address, source=source
        )
        await session.execute(
            statement.values(**consent).on_conflict_do_update(
                index_elements=["taxpayer_id", "kind", "value"], set_=consent
            )
        )
    else:
        # A chat: only one bound to this taxpayer (storage.bindings) can carry their notices.
        bound = await session.execute(
            sa.update(Contact)
            .where(
                Contact.taxpayer_id == taxpayer_id,
                Contact.kind == channel,
                Contact.value == address,
            )
            .values(**consent)
            .execution_options(synchronize_session=False)
        )
        if not bound.rowcount:  # type: ignore[attr-defined]
            raise NotFoundError(f"no {channel} chat of this taxpayer to remind on")
    changes: list[tuple[str | None, str, str | None, str, int | None]] = [
        (None, channel, address, CONSENT, None)
    ]
    for category in categories:
        await set_subscription(session, taxpayer_id, channel, category, True, now)
        changes.append((category, channel, None, OPT_IN, None))
    await _history(session, taxpayer_id, changes, source, now)
    if first:
        for category in categories:
            await move_first(session, taxpayer_id, category, channel, source, now)


async def move_first(
    session: AsyncSession, taxpayer_id: int, category: str, channel: str, source: str, now: datetime
) -> None:
    """Make `channel` the taxpayer's first choice for `category`; the others keep their order."""
    _check(channel, (category,))
    current = await session.execute(
        sa.select(Subscription.channel, Subscription.position).where(
            Subscription.taxpayer_id == taxpayer_id, Subscription.category == category
        )
    )
    positions = {name: position for name, position in current}
    rest = sorted(
        (name for name in DEFAULT_ORDER if name != channel),
        key=lambda name: (
            positions.get(name) if positions.get(name) is not None else 100,
            DEFAULT_ORDER.index(name),
        ),
    )
    order = [channel, *rest]
    for position, name in enumerate(order):
        statement = insert_on_conflict(session, Subscription).values(
            taxpayer_id=taxpayer_id,
            channel=name,
            category=category,
            enabled=True,
            updated_at=now,
            position=position,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["taxpayer_id", "channel", "category"],
                set_={"position": position, "updated_at": now},
            )
        )
    await _history(
        session,
        taxpayer_id,
        [(category, name, None, ORDER, position) for position, name in enumerate(order)],
        source,
        now,
    )


async def opt_out(
    session: AsyncSession,
    taxpayer_id: int,
    channel: str,
    source: str,
    now: datetime,
    categories: Sequence[str] = CATEGORIES,
) -> None:
    """No more notices of `categories` on `channel`; the consent on record stays."""
    await _switch(session, taxpayer_id, channel, categories, False, source, now)


async def opt_in(
    session: AsyncSession,
    taxpayer_id: int,
    channel: str,
    source: str,
    now: datetime,
    categories: Sequence[str] = CATEGORIES,
) -> None:
    """Notices of `categories` on `channel` again (where a consent is on record)."""
    await _switch(session, taxpayer_id, channel, categories, True, source, now)


async def _switch(
    session: AsyncSession,
    taxpayer_id: int,
    channel: str,
    categories: Sequence[str],
    enabled: bool,
    source: str,
    now: datetime,
) -> None:
    _check(channel, categories)
    change = OPT_IN if enabled else OPT_OUT
    for category in categories:
        await set_subscription(session, taxpayer_id, channel, category, enabled, now)
    await _history(
        session,
        taxpayer_id,
        [(category, channel, None, change, None) for category in categories],
        source,
        now,
    )


async def withdraw_consent(
    session: AsyncSession, taxpayer_id: int, channel: str, source: str, now: datetime
) -> int:
    """The taxpayer withdraws consent to every address of `channel`; returns how many addresses
    it covered. The addresses stay on record (the city still knows the phone)."""
    _check(channel)
    withdrawn = (
        await session.scalars(
            sa.update(Contact)
            .where(
                Contact.taxpayer_id == taxpayer_id,
                Contact.kind == contact_kind(channel),
                Contact.notify_consent.is_(True),
            )
            .values(notify_consent=False, consent_source=source, consent_at=now)
            .returning(Contact.value)
            .execution_options(synchronize_session=False)
        )
    ).all()
    await _history(
        session,
        taxpayer_id,
        [(None, channel, address, WITHDRAWAL, None) for address in withdrawn],
        source,
        now,
    )
    return len(withdrawn)


async def preference_history(session: AsyncSession, taxpayer_id: int) -> list[Change]:
    rows = await session.execute(
        sa.select(
            PreferenceChange.at,
            PreferenceChange.category,
            PreferenceChange.channel,
            PreferenceChange.address,
            PreferenceChange.change,
            PreferenceChange.position,
            PreferenceChange.source,
        )
        .where(PreferenceChange.taxpayer_id == taxpayer_id)
        .order_by(PreferenceChange.id)
    )
    return [Change(*row) for row in rows]


async def record_imported_consents(
    connection: AsyncConnection,
    changes: Sequence[tuple[int, str, str, bool]],
    source: str,
    now: Stamp,
) -> None:
    """History rows, in bulk, for consents an import wrote on contacts: (taxpayer_id, contact
    kind, address, agreed) — a consent given, or one the finance system no longer holds."""
    rows = [
        (taxpayer_id, None, _CHANNEL_OF_RECORD[kind], address,
         CONSENT if agreed else WITHDRAWAL, None, source, now)
        for taxpayer_id, kind, address, agreed in changes
    ]  # fmt: skip
    await insert_rows(connection, _changes, _HISTORY_COLUMNS, rows)
