"""The panel's cases list `GET /panel/cases` with 100,000 cases: p99 page time per view.

For each engine: a fresh store (`bench/data/panel_cases.db`, PostgreSQL `gmina_panel_cases`)
with the demo city (`gmina demo-data`, T taxpayers) and N sample cases filed over the past year
(`storage.demo_cases`), then the whole app with the panel on (`bench/panel_harness.py`), a clerk
signed in, and R sequential requests of each view:

    unfiltered_first    /panel/cases                              newest first, page 1
    unfiltered_deep     /panel/cases?after=…                      the page after 90% of the cases
    filtered_first      /panel/cases?kind=installments&status=submitted
    filtered_deep       the same filter, the page after 90% of its matches

Each page shows 50 cases and writes one audit row per taxpayer on it (the panel's rule), so the
time includes those writes. Goal: p99 ≤ 100 ms for every view, on both engines.

    python -m bench.bench_panel_cases [--engines sqlite,postgresql] [--cases 100000]
        [--taxpayers 20000] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any
from urllib.parse import urlencode

from bench.city import fresh_store, gmina, store_env
from bench.common import write_results
from bench.panel_harness import measure, served_panel, signed_in
from kernel.clock import SystemClock
from storage.case_queue import Cursor, QueueFilter, case_queue
from storage.casework import CaseStatus
from storage.db import create_engine, make_sessionmaker
from storage.demo_cases import file_sample_cases

GOAL_P99_MS = 100.0
FILTER = QueueFilter(form_type="installments", status=CaseStatus.SUBMITTED)
DEEP_FRACTION = 0.9


async def fill(url: str, cases: int) -> float:
    """File the sample cases; the seconds it took."""
    engine = create_engine(url)
    started = time.perf_counter()
    async with make_sessionmaker(engine)() as session:
        await file_sample_cases(session, cases, SystemClock().now())
        await session.commit()
    await engine.dispose()
    return time.perf_counter() - started


async def deep_position(url: str, wanted: QueueFilter, cases: int) -> str:
    """The page position after DEEP_FRACTION of the cases `wanted` matches."""
    engine = create_engine(url)
    async with make_sessionmaker(engine)() as session:
        every = await case_queue(session, wanted, None, limit=cases)
    await engine.dispose()
    skipped = every.cases[int(len(every.cases) * DEEP_FRACTION)]
    return Cursor(skipped.created_at, skipped.id).token()


def _path(wanted: QueueFilter, after: str | None = None) -> str:
    query: dict[str, str] = {}
    if wanted.form_type:
        query["kind"] = wanted.form_type
    if wanted.status:
        query["status"] = wanted.status.value
    if after:
        query["after"] = after
    return "/panel/cases" + ("?" + urlencode(query) if query else "")


async def run_engine(engine_name: str, cases: int, taxpayers: int, requests: int) -> dict[str, Any]:
    url = fresh_store(engine_name, "panel_cases")
    env = store_env(url)
    gmina(["db", "upgrade"], env)
    city_s, _ = gmina(["demo-data", "--taxpayers", str(taxpayers), "--seed", "1"], env)
    print(f"  {engine_name}: demo city of {taxpayers} in {city_s:.1f} s", flush=True)
    fill_s = await fill(url, cases)
    print(f"  {engine_name}: {cases} cases filed in {fill_s:.1f} s", flush=True)
    views = {
        "unfiltered_first": _path(QueueFilter()),
        "unfiltered_deep": _path(QueueFilter(), await deep_position(url, QueueFilter(), cases)),
        "filtered_first": _path(FILTER),
        "filtered_deep": _path(FILTER, await deep_position(url, FILTER, cases)),
    }
    results: dict[str, Any] = {"cases": cases, "taxpayers": taxpayers, "fill_s": round(fill_s, 1)}
    async with served_panel(url) as served, signed_in(served) as client:
        await measure(client, list(views.values()), requests=20)  # warm-up
        for name, path in views.items():
            result = await measure(client, [path], requests=requests)
            result["path"] = path.split("&after=")[0].split("?after=")[0]
            result["meets_goal"] = result["p99_ms"] <= GOAL_P99_MS
            results[name] = result
            print(
                f"  {engine_name} {name}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms",
                flush=True,
            )
    return results


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    return {
        "goal": {"p99_ms": GOAL_P99_MS},
        "requests_per_view": args.requests,
        **{
            name: await run_engine(name, args.cases, args.taxpayers, args.requests)
            for name in engines
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--taxpayers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    payload = asyncio.run(main_async(args))
    path = write_results("panel_cases", payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
