"""The panel's audit page on a long trail: page times at 100,000 audit rows, per engine.

For each engine: a fresh store (no city needed), ROWS audit rows written in bulk over 60 days by
40 actors and 8 actions, a fifth of them naming one of 2,000 taxpayers; then the app with the
panel in this process (`bench.panel_harness`), an admin signed in (with the second factor), and
REQUESTS GETs of each page kind: the newest page, a page deep in the trail (keyset `before`),
filtered by actor, by action, by taxpayer, by a week. Every answer must be 200.

    python -m bench.bench_panel_audit [--engines sqlite,postgresql] [--rows 100000]
        [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from bench.city import fresh_store
from bench.common import write_results
from bench.panel_harness import measure, served_panel, signed_in
from storage.conversation_models import AuditEntry
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import Taxpayer
from storage.staff import Role

TAXPAYERS = 2000
ACTORS = [f"staff:clerk{number}" for number in range(40)]
ACTIONS = [
    "panel.view.handoff",
    "panel.view.case",
    "panel.view.balance",
    "case.move",
    "handoff.answer",
    "payments.assign",
    "chat.balance",
    "reply.pay",
]
START = datetime(2027, 3, 1, tzinfo=UTC)


async def fill(url: str, rows: int, seed: int) -> None:
    engine = create_engine(url)
    chance = random.Random(seed)
    async with make_sessionmaker(engine)() as session:
        await session.execute(
            insert(Taxpayer),
            [
                {"ref": f"B-{n:05d}", "last_name": "Bench", "row_hash": "bench"}
                for n in range(TAXPAYERS)
            ],
        )
        batch: list[dict[str, Any]] = []
        for number in range(rows):
            batch.append(
                {
                    "at": START + timedelta(seconds=number * 60 * 24 * 3600 // rows),
                    "actor": chance.choice(ACTORS),
                    "action": chance.choice(ACTIONS),
                    "taxpayer_id": chance.randint(1, TAXPAYERS) if number % 5 == 0 else None,
                    "details": {"n": number},
                }
            )
            if len(batch) == 5000:
                await session.execute(insert(AuditEntry), batch)
                batch = []
        if batch:
            await session.execute(insert(AuditEntry), batch)
        await session.commit()
        # As the engine's own statistics would be after a while (PostgreSQL's autovacuum).
        await session.execute(text("ANALYZE"))
        await session.commit()
    await engine.dispose()


async def run_engine(engine_name: str, rows: int, requests: int) -> dict[str, Any]:
    url = fresh_store(engine_name, "panel_audit")
    await asyncio.to_thread(upgrade, url)
    await fill(url, rows, seed=11)
    paths = {
        "newest": "/panel/audit",
        "deep_page": f"/panel/audit?before={rows // 3}",
        "by_actor": "/panel/audit?actor=staff:clerk7",
        "by_action": "/panel/audit?action=payments.assign",
        "by_taxpayer": "/panel/audit?taxpayer=B-01234",
        "by_week": "/panel/audit?from=2027-04-05&to=2027-04-11",
    }
    results: dict[str, Any] = {}
    async with served_panel(url) as served, signed_in(served, "bench.admin", Role.ADMIN) as client:
        await measure(client, list(paths.values()), len(paths) * 3)  # warm-up
        for name, path in paths.items():
            results[name] = await measure(client, [path], requests)
            print(engine_name, name, results[name]["p50_ms"], results[name]["p99_ms"], flush=True)
    return results


async def main(engines: list[str], rows: int, requests: int) -> None:
    measured = {name: await run_engine(name, rows, requests) for name in engines}
    write_results(
        "panel_audit",
        {"rows": rows, "requests_per_page_kind": requests, "goal_p99_ms": 100, **measured},
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.engines.split(","), arguments.rows, arguments.requests))
