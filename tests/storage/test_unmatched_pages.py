"""Unmatched credits as the panel pages through them, on both engines: oldest payment first,
a page after the last row of the one before, one by id, and how many wait."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from storage.bookings import (
    BANK_SOURCE,
    Credit,
    assign_unmatched,
    count_unmatched,
    keep_unmatched,
    list_unmatched,
    unmatched_credit,
)
from tests.conftest import Store
from tests.storage.test_balances import POLICY, add_taxpayer

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def _credit(ref: str, day: int) -> Credit:
    return Credit(BANK_SOURCE, ref, "", date(2026, 5, day), Decimal("10.00"), title=ref)


async def test_pages_follow_the_payment_date_and_skip_what_was_assigned(store: Store) -> None:
    async with store.sessions() as session:
        await add_taxpayer(session, "T1")
        # Two credits on 3 May: the id breaks the tie, so no row is on two pages or on none.
        credits = [_credit("C5", 5), _credit("C3a", 3), _credit("C3b", 3), _credit("C1", 1)]
        await keep_unmatched(session, credits, "may.sta", NOW)
        await session.commit()
    async with store.sessions() as session:
        await assign_unmatched(session, "C1", "T1", actor="staff:anna", policy=POLICY, now=NOW)
        await session.commit()
    async with store.sessions() as session:
        first = await list_unmatched(session, limit=2)
        last = first[-1]
        second = await list_unmatched(session, after=(last.paid_on, last.id), limit=2)
        waiting = await count_unmatched(session)
        assigned = await list_unmatched(session, include_assigned=True, limit=1)
        one = await unmatched_credit(session, assigned[0].id)
        missing = await unmatched_credit(session, 10_000)
    assert [row.external_ref for row in first] == ["C3a", "C3b"]
    assert [row.external_ref for row in second] == ["C5"]
    assert waiting == 3
    assert one is not None
    assert (one.external_ref, one.taxpayer_ref, one.assigned_by) == ("C1", "T1", "staff:anna")
    assert missing is None
