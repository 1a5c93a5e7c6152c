"""Subscriptions: whether a taxpayer wants reminders or announcements on a channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_models import Subscription
from storage.sql import insert_on_conflict

SUBSCRIPTION_CATEGORIES = ("reminders", "announcements")


@dataclass(frozen=True)
class SubscriptionRecord:
    channel: str
    category: str
    enabled: bool
    updated_at: datetime


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
        insert_on_conflict(session, Subscription)
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
