"""The store at city scale: import 150,000 taxpayers and ~600,000 obligations, then `balance`.

For each engine (SQLite file; PostgreSQL in a scratch database): a fresh migrated store, then
`gmina import taxpayers|obligations|payments` run as the operator runs them (a child process each,
so wall time and peak RSS are the command's own), then `taxpayer_balance` for random taxpayers in
process, beside the raw-SQL time of the same three queries through the bare driver with no ORM
and no ledger. Goals (issue 2): each import ≤ 30 s per engine; balance p99 ≤ 5 ms.

    python -m bench.bench_store [--taxpayers N] [--samples N] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.city import IMPORT_KINDS, count_rows, csv_city, fresh_store, gmina, store_env
from bench.common import latency_summary_ms, write_results
from kernel.settings import LedgerSettings
from storage.balances import load_rate_tables, taxpayer_balance
from storage.db import create_engine, make_sessionmaker, sync_url
from storage.ledger import LedgerPolicy

AS_OF = date(2026, 11, 26)
IMPORT_GOAL_S = 30.0
BALANCE_P99_GOAL_MS = 5.0

# The balance's own queries, in the bare driver's parameter style.
RAW_QUERIES = {
    "taxpayer": "SELECT id, ref FROM taxpayers WHERE ref = {p}",
    "obligations": "SELECT id, ref, kind, due_date, decision_delivered_on, amount "
    "FROM obligations WHERE taxpayer_id = {p}",
    "payments": "SELECT ref, obligation_id, paid_on, amount FROM payments WHERE taxpayer_id = {p}",
}


def measure_imports(url: str, folder: Path) -> dict[str, Any]:
    env = store_env(url)
    gmina(["db", "upgrade"], env)
    results: dict[str, Any] = {}
    for kind in IMPORT_KINDS:
        path = folder / f"{kind}.csv"
        rows = count_rows(path)
        seconds, peak_mib = gmina(["import", kind, str(path)], env)
        again_seconds, _ = gmina(["import", kind, str(path)], env)
        results[kind] = {
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds),
            "peak_rss_mib": peak_mib,
            "reimport_unchanged_seconds": round(again_seconds, 2),
            "goal_seconds": IMPORT_GOAL_S,
            "goal_met": seconds <= IMPORT_GOAL_S,
        }
        print(f"  import {kind}: {rows} rows in {seconds:.1f} s, peak {peak_mib} MiB", flush=True)
    return results


async def measure_balances(url: str, refs: list[str]) -> dict[str, Any]:
    engine = create_engine(url)
    sessions = make_sessionmaker(engine)
    policy = LedgerPolicy.from_settings(LedgerSettings())
    orm_samples: list[float] = []
    async with sessions() as session:
        rates = await load_rate_tables(session)
        for index, ref in enumerate(refs):
            started = time.perf_counter()
            balance = await taxpayer_balance(session, ref, AS_OF, policy, rates=rates)
            elapsed = time.perf_counter() - started
            if balance is None:
                raise SystemExit(f"no balance for {ref}")
            if index >= len(refs) // 10:  # the first tenth warms caches and the pool
                orm_samples.append(elapsed)
    await engine.dispose()
    return {"balance": latency_summary_ms(orm_samples)}


def measure_raw(url: str, refs: list[str]) -> dict[str, Any]:
    """The same three queries through the bare driver: the floor under `balance`."""
    samples: list[float] = []
    if url.startswith("sqlite"):
        connection: Any = sqlite3.connect(sa.make_url(url).database or "")
        placeholder = "?"
    else:
        plain = sync_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = psycopg.connect(plain, autocommit=True)
        placeholder = "%s"
    queries = {name: sql.format(p=placeholder) for name, sql in RAW_QUERIES.items()}
    cursor = connection.cursor()
    for index, ref in enumerate(refs):
        started = time.perf_counter()
        cursor.execute(queries["taxpayer"], (ref,))
        taxpayer_id = cursor.fetchone()[0]
        cursor.execute(queries["obligations"], (taxpayer_id,))
        cursor.fetchall()
        cursor.execute(queries["payments"], (taxpayer_id,))
        cursor.fetchall()
        elapsed = time.perf_counter() - started
        if index >= len(refs) // 10:
            samples.append(elapsed)
    connection.close()
    return latency_summary_ms(samples)


def random_refs(url: str, samples: int) -> list[str]:
    engine = sa.create_engine(sync_url(url))
    with engine.connect() as connection:
        refs = [row[0] for row in connection.execute(sa.text("SELECT ref FROM taxpayers"))]
    engine.dispose()
    return random.Random(7).sample(refs, min(samples, len(refs)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--taxpayers", type=int, default=150_000)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()

    folder = csv_city(args.taxpayers)
    results: dict[str, Any] = {"taxpayers": args.taxpayers, "as_of": AS_OF.isoformat()}
    for engine_name in args.engines.split(","):
        print(f"engine {engine_name}", flush=True)
        url = fresh_store(engine_name)
        imports = measure_imports(url, folder)
        refs = random_refs(url, args.samples)
        balance = asyncio.run(measure_balances(url, refs))["balance"]
        raw = measure_raw(url, refs)
        balance["goal_p99_ms"] = BALANCE_P99_GOAL_MS
        balance["goal_met"] = balance["p99_ms"] <= BALANCE_P99_GOAL_MS
        results[engine_name] = {
            "imports": imports,
            "balance": balance,
            "raw_sql_same_queries": raw,
            "balance_over_raw_p50": round(balance["p50_ms"] / raw["p50_ms"], 2),
        }
        print(
            f"  balance p50 {balance['p50_ms']} ms p99 {balance['p99_ms']} ms; "
            f"raw SQL p50 {raw['p50_ms']} ms p99 {raw['p99_ms']} ms",
            flush=True,
        )
    write_results("store", results)


if __name__ == "__main__":
    main()
