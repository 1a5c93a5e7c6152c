"""The panel's money and delivery queries on a big outbox: counts over a period, failures a page
at a time, reminder runs per day, unmatched credits a page at a time.

    python -m bench.bench_panel_delivery [--engines postgresql,sqlite] [--outbox 1000000]

A fresh store per engine gets `--outbox` messages queued evenly over the 90 days before now
(a third each on SMS, Telegram and e-mail; 60% reminders; 2% permanent, 1% technical and 1%
temporary failures), a coverage row for every third reminder with a run for each day, and
5 000 unmatched credits. Each query runs `--repeat` times after one warm-up; the JSON keeps
its latencies and, on PostgreSQL, its plan (EXPLAIN ANALYZE), to show which index answers it.
Goal: the pages as first opened (a week, the first pages) ≤ 100 ms p99 on PostgreSQL with
1 000 000 messages; the longer spans (30 and 90 days) are measured to show how time grows with
the messages in the span (an index-only scan: linear in them).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.city import fresh_store
from bench.common import latency_summary_ms, write_results
from kernel.clock import WARSAW, SystemClock
from storage.bookings import list_unmatched
from storage.db import create_engine, make_sessionmaker
from storage.delivery_stats import (
    DeliveryFilter,
    Period,
    delivery_counts,
    delivery_failures,
    reminder_days,
)
from storage.migrate import upgrade
from storage.models import Taxpayer

GOAL_P99_MS = 100.0
# What a staff member's first look runs: the default week and first pages.
GOAL_QUERIES = (
    "counts_7_days", "failures_first_page", "failures_tenth_page", "reminder_days_7",
    "unmatched_first_page", "unmatched_page_after",
)  # fmt: skip
DAYS = 90

# Rows made by the store itself: `n` runs over 1..count, the newest message last.
_OUTBOX_COLUMNS = """
    'bench-' || n,
    CASE n % 3 WHEN 0 THEN 'sms' WHEN 1 THEN 'telegram' ELSE 'email' END,
    'recipient-' || n,
    CASE WHEN n % 10 < 6 THEN 'reminder' WHEN n % 10 < 8 THEN 'chat_reply'
         WHEN n % 10 = 8 THEN 'announcement' ELSE 'receipt' END,
    5, 'pl', '{"text": "bench"}',
    CASE WHEN n % 100 < 2 THEN 'permanent-failure' WHEN n % 100 = 2 THEN 'technical-failure'
         WHEN n % 100 = 3 THEN 'temporary-failure' WHEN n % 100 < 60 THEN 'delivered'
         ELSE 'sent' END,
    1,
    CASE WHEN n % 100 <= 3 THEN 'provider said no' END
"""
_COVERAGE_COLUMNS = "'bench-' || n, 1, 'sms', 'recipient-' || n, '[1]'"


async def _fill(sessions: async_sessionmaker[AsyncSession], engine_name: str, outbox: int) -> None:
    now = SystemClock().now()
    start = now - timedelta(days=DAYS)
    seconds = DAYS * 86400
    async with sessions() as session:
        session.add(Taxpayer(id=1, ref="B-1", last_name="Bench", row_hash="bench"))
        await session.flush()
        if engine_name == "postgresql":
            series = "generate_series(1, :count) AS n"
            offset = "(CAST(n AS BIGINT) * :seconds / :count) * interval '1 second'"
            at = f"(CAST(:start AS timestamptz) + {offset})"
            day = f"CAST({at} AT TIME ZONE 'Europe/Warsaw' AS date)"
        else:
            series = (
                "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :count)"
                " SELECT n FROM s)"
            )
            offset = "'+' || (CAST(n AS BIGINT) * :seconds / :count) || ' seconds'"
            at = f"strftime('%Y-%m-%d %H:%M:%f', :start, {offset})"
            day = f"date({at})"
        await session.execute(
            sa.text(
                "INSERT INTO outbox (key, channel, recipient, category, priority, language,"
                " content, status, attempts, error, not_before, created_at, updated_at)"
                f" SELECT {_OUTBOX_COLUMNS}, {at}, {at}, {at} FROM {series}"
            ),
            {"count": outbox, "start": start.isoformat() if engine_name == "sqlite" else start,
             "seconds": seconds},
        )  # fmt: skip
        # Every third reminder has its coverage (reminders are `n % 10 < 6`).
        await session.execute(
            sa.text(
                "INSERT INTO reminder_coverage (outbox_key, taxpayer_id, channel, recipient,"
                f" obligation_ids, on_date, queued_at) SELECT {_COVERAGE_COLUMNS}, {day}, {at}"
                f" FROM {series} WHERE n % 10 < 6 AND n % 3 = 0"
            ),
            {"count": outbox, "start": start.isoformat() if engine_name == "sqlite" else start,
             "seconds": seconds},
        )  # fmt: skip
        await session.execute(
            sa.text("INSERT INTO reminder_runs (on_date, planned_at) VALUES (:day, :at)"),
            [
                {"day": (now - timedelta(days=back)).astimezone(WARSAW).date(), "at": now}
                for back in range(DAYS + 1)
            ],
        )
        await session.execute(
            sa.text(
                "INSERT INTO unmatched_credits (source, external_ref, account, paid_on, amount,"
                " counterparty, counterparty_account, title, origin, created_at)"
                " VALUES ('bank', :ref, '', :paid_on, 30, 'Payer', '', 'title', 'bench.sta', :at)"
            ),
            [
                {"ref": f"U{n}", "paid_on": (now - timedelta(days=n % DAYS)).date(), "at": now}
                for n in range(5000)
            ],
        )
        await session.commit()
    if engine_name == "postgresql":
        # What autovacuum does after a load: statistics, and a visibility map for index-only scans.
        engine = sessions.kw["bind"]
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("VACUUM ANALYZE")


async def _explain(
    engine: AsyncEngine, query: Callable[[AsyncSession], Awaitable[Any]]
) -> list[str]:
    """The PostgreSQL plans (EXPLAIN ANALYZE) of the statements `query` runs."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with make_sessionmaker(engine)() as session:
            await query(session)
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", capture)
    lines: list[str] = []
    async with engine.connect() as connection:
        for statement, parameters in statements:
            plan = await connection.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters)
            lines.extend(row[0] for row in plan)
    return lines


async def _measure(engine_name: str, outbox: int, repeat: int) -> dict[str, Any]:
    url = fresh_store(engine_name, "panel_delivery")
    upgrade(url)
    engine = create_engine(url)
    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    await _fill(sessions, engine_name, outbox)
    fill_seconds = time.perf_counter() - started
    today = SystemClock().now().astimezone(WARSAW).date()
    month = Period.of_days(today - timedelta(days=29), today)
    failures_page = await _tenth_failure_page_cursor(sessions, month)
    week = Period.of_days(today - timedelta(days=6), today)
    queries: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "counts_7_days": lambda s: delivery_counts(s, week),
        "counts_30_days": lambda s: delivery_counts(s, month),
        "counts_90_days": lambda s: delivery_counts(
            s, Period.of_days(today - timedelta(days=DAYS), today)
        ),
        "counts_30_days_sms_failed": lambda s: delivery_counts(
            s, month, DeliveryFilter(channel="sms", status="permanent-failure")
        ),
        "failures_first_page": lambda s: delivery_failures(s, month),
        "failures_tenth_page": lambda s: delivery_failures(s, month, before_id=failures_page),
        "failures_email_technical": lambda s: delivery_failures(
            s, month, DeliveryFilter(channel="email", status="technical-failure")
        ),
        "reminder_days_7": lambda s: reminder_days(s, today - timedelta(days=6), today),
        "reminder_days_30": lambda s: reminder_days(s, today - timedelta(days=29), today),
        "unmatched_first_page": lambda s: list_unmatched(s, limit=50),
        "unmatched_page_after": lambda s: list_unmatched(
            s, after=(today - timedelta(days=45), 0), limit=50
        ),
    }
    results: dict[str, Any] = {}
    for name, query in queries.items():
        samples = []
        for attempt in range(repeat + 1):
            async with sessions() as session:
                begun = time.perf_counter()
                await query(session)
                if attempt:
                    samples.append(time.perf_counter() - begun)
        results[name] = latency_summary_ms(samples)
        if engine_name == "postgresql":
            results[name]["plan"] = await _explain(engine, query)
    await engine.dispose()
    worst = max(results[name]["p99_ms"] for name in GOAL_QUERIES)
    return {
        "outbox_rows": outbox,
        "fill_seconds": round(fill_seconds, 1),
        "queries": results,
        "goal_queries": list(GOAL_QUERIES),
        "worst_goal_p99_ms": worst,
        "goal_p99_ms": GOAL_P99_MS,
        "meets_goal": worst <= GOAL_P99_MS,
    }


async def _tenth_failure_page_cursor(
    sessions: async_sessionmaker[AsyncSession], period: Period
) -> int | None:
    cursor = None
    async with sessions() as session:
        for _ in range(9):
            cursor = (await delivery_failures(session, period, before_id=cursor)).next_before_id
    return cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--outbox", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    by_engine = {}
    for engine_name in args.engines.split(","):
        print(f"{engine_name}: {args.outbox} outbox rows", flush=True)
        by_engine[engine_name] = asyncio.run(_measure(engine_name, args.outbox, args.repeat))
        for name, figures in by_engine[engine_name]["queries"].items():
            print(f"  {name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms", flush=True)
    write_results("panel_delivery", {"engines": by_engine, "repeat": args.repeat})


if __name__ == "__main__":
    main()
