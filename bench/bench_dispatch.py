"""Outbox dispatch to the local Telegram peer, beside a raw aiohttp POST loop to the same peer,
and the rate limiter held to its rate.

    python -m bench.bench_dispatch [--engines sqlite,postgresql] [--messages 20000]

The peer (tests/peers/telegram.py) runs in a process of its own. Each engine gets a fresh store;
`--messages` messages to as many chats are queued, then one dispatcher (limits off, the default
batch and concurrency) sends them through python-telegram-bot. The raw loop POSTs the same
number of sendMessage requests with aiohttp at the same concurrency: the ceiling this machine
and peer allow. The limiter part sends through a dispatcher limited to `--rate` a second and
reports the most sends the peer saw in any one-second window, and the rate sustained.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bench.city import fresh_store
from bench.common import write_results
from kernel.clock import SystemClock
from kernel.settings import OutboxSettings
from notifier.dispatcher import ChannelLimits, Dispatcher
from notifier.ratelimit import SlidingWindowLimiter
from notifier.senders.telegram import TelegramSender, build_bot
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.outbox import Category, NewMessage, enqueue
from tests.peers.telegram import TelegramPeer

TOKEN = "7000001:bench-token"
CHAT_BASE = 10_000_000


def _serve_peer(port_queue: Any, stats_queue: Any, report: Any, stop: Any) -> None:
    async def main() -> None:
        peer = TelegramPeer(TOKEN)
        runner = web.AppRunner(peer.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        while not stop.is_set():
            await asyncio.sleep(0.2)
            if report.is_set():
                # Only when asked: a child cannot exit while its queue holds what no one reads.
                report.clear()
                stats_queue.put([at for method, _, at in peer.requests if method == "sendMessage"])
        await runner.cleanup()

    asyncio.run(main())


class PeerProcess:
    def __enter__(self) -> PeerProcess:
        context = multiprocessing.get_context("spawn")
        ports, self.stats = context.Queue(), context.Queue()
        self.report, self.stop = context.Event(), context.Event()
        self.process = context.Process(
            target=_serve_peer, args=(ports, self.stats, self.report, self.stop)
        )
        self.process.start()
        self.base_url = f"http://127.0.0.1:{ports.get(timeout=30)}"
        return self

    def send_times(self) -> list[float]:
        self.report.set()
        times: list[float] = self.stats.get(timeout=60)
        return times

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.process.join(timeout=30)


async def _queue(url: str, count: int, prefix: str) -> Any:
    engine = create_engine(url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    messages = [
        NewMessage(
            f"{prefix}-{n}", "telegram", str(CHAT_BASE + n), Category.REMINDER, f"Wiadomość {n}"
        )
        for n in range(count)
    ]
    async with sessions() as session:
        await enqueue(session, messages, now)
        await session.commit()
    return engine, sessions


async def _dispatch(url: str, base_url: str, count: int, limits: ChannelLimits | None) -> float:
    engine, sessions = await _queue(url, count, f"m{time.monotonic_ns()}")
    sender = TelegramSender(build_bot(TOKEN, base_url))
    dispatcher = Dispatcher(
        sessions,
        {"telegram": sender},
        SystemClock(),
        OutboxSettings(),
        limits={"telegram": limits} if limits else None,
    )
    started = time.perf_counter()
    handled = await dispatcher.run_until_idle()
    elapsed = time.perf_counter() - started
    await sender.close()
    await engine.dispose()
    assert handled == count, (handled, count)
    return elapsed


async def _raw_loop(base_url: str, count: int, concurrency: int) -> float:
    url = f"{base_url}/bot{TOKEN}/sendMessage"
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def one(n: int) -> None:
            async with (
                gate,
                client.post(
                    url, data={"chat_id": str(CHAT_BASE + n), "text": f"Wiadomość {n}"}
                ) as response,
            ):
                await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return time.perf_counter() - started


class RecordingLimiter(SlidingWindowLimiter):
    """The limiter under test, noting when it let each send through (the time it counts)."""

    def __init__(self, rate: float) -> None:
        super().__init__(rate)
        self.let_through: list[float] = []

    async def acquire(self, then: Callable[[], Awaitable[None]] | None = None) -> None:
        await super().acquire(then)
        self.let_through.append(self._sent[-1])


def _per_second(times: list[float]) -> list[int]:
    """Sends in each whole second from the first one."""
    start = min(times)
    counts = [0] * int(max(times) - start)
    for at in times:
        second = int(at - start)
        if second < len(counts):
            counts[second] += 1
    return counts


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    args = parser.parse_args()
    concurrency = OutboxSettings().concurrency
    results: dict[str, Any] = {"messages": args.messages, "concurrency": concurrency}
    for engine_name in args.engines.split(","):
        url = fresh_store(engine_name, "dispatch")
        upgrade(url)
        with PeerProcess() as peer:
            raw = asyncio.run(_raw_loop(peer.base_url, args.messages, concurrency))
            dispatched = asyncio.run(_dispatch(url, peer.base_url, args.messages, None))
        results[engine_name] = {
            "dispatch_messages_per_s": round(args.messages / dispatched, 1),
            "raw_aiohttp_post_messages_per_s": round(args.messages / raw, 1),
            "dispatch_to_raw_ratio": round(raw / dispatched, 3),
            "goal_messages_per_s": 2000,
        }
        print(engine_name, results[engine_name], flush=True)
    # The limiter, on the first engine: what the peer saw, second by second.
    engine_name = args.engines.split(",")[0]
    url = fresh_store(engine_name, "dispatch")
    upgrade(url)
    count = int(args.rate * args.rate_seconds)
    with PeerProcess() as peer:
        limiter = RecordingLimiter(args.rate)
        asyncio.run(_dispatch(url, peer.base_url, count, ChannelLimits(limiter)))
        arrivals = peer.send_times()
    seconds = _per_second(limiter.let_through)
    results["limiter"] = {
        "engine": engine_name,
        "rate_per_s": args.rate,
        "messages": count,
        "max_let_through_in_any_1s_window": _max_in_window(limiter.let_through),
        "max_arrived_at_the_peer_in_any_1s_window": _max_in_window(arrivals),
        "per_whole_second_fraction_of_rate": {
            "min": round(min(seconds) / args.rate, 3),
            "mean": round(sum(seconds) / len(seconds) / args.rate, 3),
        },
        "note": "let through = when the limiter allowed a send; arrivals bunch at the peer "
        "when its event loop falls behind, so the limit is judged where it is enforced",
    }
    print("limiter", results["limiter"], flush=True)
    write_results("dispatch", results)


if __name__ == "__main__":
    main()
