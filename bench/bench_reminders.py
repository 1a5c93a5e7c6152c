"""Planning one day's reminders for the 150,000-taxpayer city (issue 9: goal ≤ 5 s per engine).

For each engine, on a store of its own holding the imported city (`bench.city`, consents from the
export's `notify_consent` column): `plan_day` for the busiest day of the year (a week before the
March instalments), as the daily run does it (query, compose in each taxpayer's language, queue
with coverage rows, commit), three times from an empty outbox; then the same day planned again
(every key queued already: nothing added); beside it, the raw SQL scan of the same rows (the
obligations due at the reminded dates, of taxpayers with a consent, with their unpaid principal)
in plain SQL text, with no composing and no writes.

    python -m bench.bench_reminders [--taxpayers N] [--engines sqlite,postgresql] [--day DATE]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from bench.city import ensure_city
from bench.common import write_results
from kernel.settings import Settings
from notifier.reminders import Policy, plan_day, reminded_due_dates
from storage.db import create_engine, make_sessionmaker
from storage.outbox_models import OutboxMessage
from storage.payment_models import PaymentLink, PaymentLinkObligation
from storage.reminder_models import ReminderCoverage, ReminderRun
from storage.reminder_plan import statutory_due_dates

GOAL_S = 5.0
RUNS = 3
# A week before Monday 16 March 2026 (15 March is a Sunday): property, agricultural and forest
# tax instalments of nearly every taxpayer; at noon, outside the quiet hours.
DAY = date(2026, 3, 9)
NOW = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
STORE_NAME = "reminders_city"

RAW_SCAN = """
SELECT o.id, o.taxpayer_id, o.amount - COALESCE(SUM(a.principal), 0) AS outstanding
FROM obligations o LEFT JOIN allocations a ON a.obligation_id = o.id
WHERE o.due_date IN ({dates})
  AND EXISTS (SELECT 1 FROM contacts c WHERE c.taxpayer_id = o.taxpayer_id AND c.notify_consent)
GROUP BY o.id, o.taxpayer_id, o.amount
HAVING o.amount > COALESCE(SUM(a.principal), 0)
"""


async def _clear(sessions: Any) -> None:
    async with sessions() as session:
        for table in (ReminderCoverage, ReminderRun):
            await session.execute(sa.delete(table))
        await session.execute(sa.delete(OutboxMessage).where(OutboxMessage.key.like("reminder:%")))
        # The reminders' payment links (e-mail ones), so that each run hands them out anew.
        handed_out = sa.select(PaymentLink.id).where(PaymentLink.reminder_key.is_not(None))
        await session.execute(
            sa.delete(PaymentLinkObligation).where(PaymentLinkObligation.link_id.in_(handed_out))
        )
        await session.execute(sa.delete(PaymentLink).where(PaymentLink.reminder_key.is_not(None)))
        await session.commit()


async def measure(url: str, day: date) -> dict[str, Any]:
    engine = create_engine(url)
    sessions = make_sessionmaker(engine)
    policy = Policy.from_settings(Settings())
    runs: list[float] = []
    counts: tuple[int, int] = (0, 0)
    for _ in range(RUNS):
        await _clear(sessions)
        started = time.perf_counter()
        async with sessions() as session:
            plan = await plan_day(session, day, policy, NOW)
            await session.commit()
        runs.append(time.perf_counter() - started)
        counts = (len(plan.reminders), plan.queued)
    started = time.perf_counter()
    async with sessions() as session:
        again = await plan_day(session, day, policy, NOW)
        await session.commit()
    again_s = time.perf_counter() - started
    dates = sorted(reminded_due_dates(day, policy.offsets_days))
    # The statutory dates of those effective ones, as the planner asks for them.
    statutory = sorted(statutory_due_dates(dates))
    raw_runs: list[float] = []
    rows = 0
    async with engine.connect() as connection:
        for _ in range(RUNS):
            started = time.perf_counter()
            literal = ", ".join(f"'{d.isoformat()}'" for d in statutory)
            result = await connection.execute(sa.text(RAW_SCAN.format(dates=literal)))
            rows = len(result.all())
            raw_runs.append(time.perf_counter() - started)
    await _clear(sessions)
    await engine.dispose()
    median = statistics.median(runs)
    print(
        f"  {counts[0]} reminders ({counts[1]} queued) in {median:.2f} s; again "
        f"{again_s:.2f} s ({again.queued} queued); raw scan of {rows} rows "
        f"{statistics.median(raw_runs):.2f} s",
        flush=True,
    )
    return {
        "day": day.isoformat(),
        "reminders": counts[0],
        "queued": counts[1],
        "plan_seconds": [round(s, 3) for s in runs],
        "plan_median_seconds": round(median, 3),
        "plan_again_seconds": round(again_s, 3),
        "plan_again_queued": again.queued,
        "raw_scan_rows": rows,
        "raw_scan_median_seconds": round(statistics.median(raw_runs), 3),
        "goal_seconds": GOAL_S,
        "goal_met": median <= GOAL_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--taxpayers", type=int, default=150_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--day", type=date.fromisoformat, default=DAY)
    args = parser.parse_args()
    results: dict[str, Any] = {"taxpayers": args.taxpayers, "engines": {}}
    for engine_name in args.engines.split(","):
        print(f"{engine_name}:", flush=True)
        url = ensure_city(engine_name, args.taxpayers, STORE_NAME)
        results["engines"][engine_name] = asyncio.run(measure(url, args.day))
    write_results("reminders", results)


if __name__ == "__main__":
    main()
