"""Handing out a payment link: the one way the chat, reminders and e-mail make one.

The URL is `web.public_base_url` + `/pay/` + the token, and nothing else: no name, no reference,
no amount. It opens the page for `payments.link_ttl_days`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.settings import Settings
from storage.payment_links import ReminderLinkRequest, create_payment_link, create_reminder_links

PAY_PATH = "/pay/"


@dataclass(frozen=True)
class HandedOutLink:
    url: str
    expires_at: datetime


def payment_url(settings: Settings, token: str) -> str:
    return f"{settings.web.public_base_url}{PAY_PATH}{token}"


async def hand_out_link(
    session: AsyncSession,
    settings: Settings,
    taxpayer_id: int,
    obligation_refs: Sequence[str],
    now: datetime,
    *,
    language: str,
    source: str,
    channel: str | None = None,
    recipient: str | None = None,
) -> HandedOutLink:
    """A new link to these obligations; the caller commits. The receipt of a payment made
    through it goes to `channel`/`recipient` (the chat that asked) when given."""
    issued = await create_payment_link(
        session,
        taxpayer_id,
        obligation_refs,
        now,
        timedelta(days=settings.payments.link_ttl_days),
        language=language,
        source=source,
        channel=channel,
        recipient=recipient,
    )
    return HandedOutLink(payment_url(settings, issued.token), issued.expires_at)


async def hand_out_reminder_links(
    session: AsyncSession,
    settings: Settings,
    requests: Sequence[ReminderLinkRequest],
    now: datetime,
) -> dict[str, HandedOutLink]:
    """One link per reminder (by its outbox key), each covering exactly the reminder's
    obligations; a reminder that has its link already (its day planned again) gets none, since
    its message is queued already. The caller commits, in the transaction that queues them."""
    issued = await create_reminder_links(
        session,
        requests,
        now,
        timedelta(days=settings.payments.link_ttl_days),
        source="reminder",
    )
    return {
        key: HandedOutLink(payment_url(settings, link.token), link.expires_at)
        for key, link in issued.items()
    }
