"""Sample cases in bulk, for the panel's benchmark and browser test: filed by the city's
taxpayers over the past days, in every kind and status, numbered after the cases there are.

The caller commits. The references continue the year's `ref_sequences` number, so cases filed
by residents afterwards do not collide with them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import WARSAW
from storage.casework import CASE_PREFIX, FORM_TYPES, CaseStatus
from storage.conversation_models import Case
from storage.models import Taxpayer
from storage.references import claim_numbers
from storage.sql import analyze_after_load, driver_timestamp, insert_rows

_cases = Case.metadata.tables[Case.__tablename__]
# Most cases wait; fewer are being worked on or closed.
STATUS_WEIGHTS = {
    CaseStatus.SUBMITTED: 5,
    CaseStatus.IN_REVIEW: 2,
    CaseStatus.DECIDED: 2,
    CaseStatus.REJECTED: 1,
}
CHANNELS = ("telegram", "sms", "rest")


async def file_sample_cases(
    session: AsyncSession, count: int, now: datetime, seed: int = 11, days: int = 365
) -> int:
    """File `count` cases for random taxpayers over the `days` before `now`; returns how many."""
    rng = random.Random(seed)
    taxpayer_ids = list((await session.scalars(select(Taxpayer.id).order_by(Taxpayer.id))).all())
    if not taxpayer_ids or count <= 0:
        return 0
    year = now.astimezone(WARSAW).year
    first = await claim_numbers(session, "case", year, count)
    connection = await session.connection()
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    span = timedelta(days=days).total_seconds()
    # Oldest first, so that ids follow the filing times as they do for residents' cases.
    moments = sorted(now - timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    rows = []
    for number, filed in enumerate(moments, start=first):
        stamp = driver_timestamp(connection, filed)
        rows.append(
            (
                f"{CASE_PREFIX}-{year}-{number:06d}",
                rng.choice(taxpayer_ids),
                rng.choice(FORM_TYPES),
                rng.choices(statuses, weights)[0].value,
                "{}",
                rng.choice(CHANNELS),
                stamp,
                stamp,
            )
        )
    columns = ("ref", "taxpayer_id", "form_type", "status", "data", "channel", "created_at",
               "updated_at")  # fmt: skip
    await insert_rows(connection, _cases, columns, rows)
    await analyze_after_load(connection, _cases, count)
    return count
