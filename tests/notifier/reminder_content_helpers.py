"""Anna Nowak (tests.conversation_helpers) reminded on 10 May 2027 of what falls due in a week
(15 May 2027 is a Saturday, so the May instalments are due on Monday 17 May), on the channels she
agreed to; and what a reminder's payment link opens."""

from __future__ import annotations

import re

import sqlalchemy as sa

from storage.models import Contact
from storage.outbox_models import OutboxMessage
from storage.payment_links import open_payment_link
from storage.payment_models import PaymentLink
from storage.preferences import record_consent
from tests.conftest import Store
from tests.conversation_helpers import NOW, add_resident

PHONE = "+48601234567"
EMAIL = "anna.nowak@example.org"
CHAT = 700100200
ADDRESSES = {"sms": PHONE, "email": EMAIL, "telegram": str(CHAT)}
# What the reminder of 10 May lists, and the title of the one transfer that pays it.
REFS = ("PT-2027-2", "WF-2027-2")
TITLE = "T-1001 PT-2027-2 WF-2027-2"
_LINK = re.compile(r"https?://\S+/pay/([A-Za-z0-9_-]+)")


async def reminded_resident(store: Store, order: list[str]) -> int:
    """Anna, who agreed to the channels of `order`, first choice first."""
    taxpayer_id = await add_resident(store)
    async with store.sessions() as session:
        await session.execute(
            sa.insert(Contact).values(
                taxpayer_id=taxpayer_id, kind="telegram", value=str(CHAT), source="chat"
            )
        )
        for channel in reversed(order):
            await record_consent(
                session, taxpayer_id, channel, ADDRESSES[channel], "import", NOW, first=True
            )
        await session.commit()
    return taxpayer_id


def link_tokens(text: str) -> list[str]:
    return _LINK.findall(text)


async def opened_refs(store: Store, token: str) -> tuple[str, ...] | None:
    """What the payment link of `token` covers (None: no such link)."""
    async with store.sessions() as session:
        link = await open_payment_link(session, token, NOW)
    return None if link is None else tuple(sorted(link.obligation_refs))


async def reminder_links(store: Store) -> dict[str, int]:
    """Payment links handed out by reminders: how many per reminder key."""
    async with store.sessions() as session:
        result = await session.execute(
            sa.select(PaymentLink.reminder_key, sa.func.count())
            .where(PaymentLink.reminder_key.is_not(None))
            .group_by(PaymentLink.reminder_key)
        )
    return {str(key): int(count) for key, count in result.all()}


async def outbox_rows(store: Store) -> dict[str, OutboxMessage]:
    async with store.sessions() as session:
        rows = (await session.execute(sa.select(OutboxMessage))).scalars().all()
    return {row.key: row for row in rows}
