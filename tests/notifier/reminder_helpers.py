"""Reminders as the notifier plans them, for tests of the planner and of the replies to them."""

from __future__ import annotations

from datetime import date, datetime

from kernel.settings import Settings
from notifier.reminders import DayPlan, Policy, plan_day
from storage.balances import load_rate_tables, refresh_allocations
from storage.ledger import LedgerPolicy
from storage.preferences import record_consent
from tests.conftest import Store

PHONE = "+48601234567"


def policy(**reminders: object) -> Policy:
    return Policy.from_settings(Settings.model_validate({"reminders": reminders}))


async def consent(store: Store, taxpayer_id: int, now: datetime, address: str = PHONE) -> None:
    async with store.sessions() as session:
        await record_consent(session, taxpayer_id, "sms", address, "import", now)
        await session.commit()


async def plan(
    store: Store, day: date, now: datetime, rules: Policy | None = None, *, dry_run: bool = False
) -> DayPlan:
    async with store.sessions() as session:
        planned = await plan_day(session, day, rules or policy(), now, dry_run=dry_run)
        await session.commit()
    return planned


async def refresh_ledger(store: Store, *taxpayer_ids: int) -> None:
    """What an import or a booking does after a payment: the allocations rewritten."""
    async with store.sessions() as session:
        rates = await load_rate_tables(session)
        await refresh_allocations(
            session, taxpayer_ids, LedgerPolicy.from_settings(Settings().ledger), rates
        )
        await session.commit()
