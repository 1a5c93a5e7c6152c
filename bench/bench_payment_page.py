"""The payment page `GET /pay/{token}` under load: requests/s and p99 at 50 concurrent clients.

For each engine: a fresh store with the demo city (`gmina demo-data`, 2,000 taxpayers), one
payment link for each of up to 1,000 taxpayers who owe something today (made as the chat makes
them, `payments.links.hand_out_link`), then `gmina run` in a child process (the same one
bench_conversation serves). C clients, all at once, each open links one after another; every
answer must be 200 with the page's total. Each page reads the link, computes the taxpayer's
balance from the ledger and draws the QR code, which the process keeps per payload. Two phases:
`first_views`, every link opened once (each QR code drawn: the cost of a link just sent out),
then `repeat_views`, R random links per client after a warm-up (the codes already drawn).

    python -m bench.bench_payment_page [--engines sqlite,postgresql] [--clients 50]
        [--requests 60] [--warmup 5] [--taxpayers 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

import aiohttp

from bench.bench_conversation import child_server, settings_for
from bench.city import fresh_store, gmina, store_env
from bench.common import latency_summary_ms, write_results
from kernel.clock import SystemClock, today_in_warsaw
from payments.links import hand_out_link
from storage.balances import load_rate_tables, taxpayer_balance
from storage.db import create_engine, make_sessionmaker
from storage.ledger import LedgerPolicy
from storage.models import Taxpayer

MAX_LINKS = 1000
REQUEST_LIMIT_S = 60.0


async def make_links(url: str, limit: int, seed: int) -> list[str]:
    """Paths of payment links to what random debtors owe today."""
    settings = settings_for(url)
    policy = LedgerPolicy.from_settings(settings.ledger)
    clock = SystemClock()
    today = today_in_warsaw(clock)
    engine = create_engine(url)
    paths: list[str] = []
    async with make_sessionmaker(engine)() as session:
        rows = list((await session.execute(Taxpayer.__table__.select())).all())
        random.Random(seed).shuffle(rows)
        rates = await load_rate_tables(session)
        for row in rows:
            if len(paths) >= limit:
                break
            balance = await taxpayer_balance(session, row.ref, today, policy, rates=rates)
            if balance is None or not balance.obligations or not row.account_number:
                continue
            link = await hand_out_link(
                session,
                settings,
                row.id,
                [line.obligation_ref for line in balance.obligations],
                clock.now(),
                language=row.language,
                source="bench",
            )
            paths.append(link.url.removeprefix(settings.web.public_base_url))
        await session.commit()
    await engine.dispose()
    return paths


async def drive(base_url: str, plans: list[list[str]], warmup: int) -> dict[str, Any]:
    """Each client opens its plan's paths in turn, the first `warmup` of them unmeasured; the
    measured requests start together."""
    latencies: list[float] = []
    failures = 0
    warmed = 0
    start = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=REQUEST_LIMIT_S)

    clients = len(plans)

    async def client(plan: list[str], http: aiohttp.ClientSession) -> None:
        nonlocal failures, warmed
        for index, path in enumerate(plan):
            if index == warmup:
                # Every client warmed up: the measured requests start together.
                warmed += 1
                if warmed == clients:
                    start.set()
                await start.wait()
            sent = time.perf_counter()
            async with http.get(base_url + path) as response:
                body = await response.text()
            taken = time.perf_counter() - sent
            if index < warmup:
                continue
            if response.status != 200 or "data-total=" not in body:
                failures += 1
            latencies.append(taken)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        tasks = [asyncio.create_task(client(plan, http)) for plan in plans]
        await start.wait()
        began = time.perf_counter()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return {
        "clients": clients,
        "requests": len(latencies),
        "failures": failures,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "latency": latency_summary_ms(latencies),
    }


async def run_engine(engine_name: str, args: argparse.Namespace) -> dict[str, Any]:
    url = fresh_store(engine_name, "payment_page")
    env = store_env(url)
    gmina(["db", "upgrade"], env)
    seconds, _ = gmina(["demo-data", "--taxpayers", str(args.taxpayers), "--seed", "2027"], env)
    print(f"  {engine_name}: demo city of {args.taxpayers} in {seconds:.1f} s", flush=True)
    paths = await make_links(url, MAX_LINKS, seed=7)
    first = [paths[n :: args.clients] for n in range(args.clients)]
    rngs = [random.Random(n) for n in range(args.clients)]
    again = [[rng.choice(paths) for _ in range(args.warmup + args.requests)] for rng in rngs]
    result: dict[str, Any] = {"links": len(paths)}
    async with child_server(url) as server:
        result["first_views"] = await drive(server.base_url, first, 0)
        result["repeat_views"] = await drive(server.base_url, again, args.warmup)
    for phase in ("first_views", "repeat_views"):
        measured, latency = result[phase], result[phase]["latency"]
        print(
            f"  {engine_name} {phase}: {measured['requests_per_s']} pages/s, p50 "
            f"{latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, {measured['failures']} failures",
            flush=True,
        )
    return result


async def run(args: argparse.Namespace) -> None:
    results = {}
    for engine_name in args.engines.split(","):
        results[engine_name] = await run_engine(engine_name, args)
    write_results(
        "payment_page",
        {
            "what": f"GET /pay/{{token}} through `gmina run` (1 worker), {args.clients} clients",
            "taxpayers": args.taxpayers,
            "engines": results,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=60, help="per client, after warm-up")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--taxpayers", type=int, default=2000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
