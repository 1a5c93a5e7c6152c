"""The rate limiters on a virtual clock: never more than the rate in any window of one second,
and the whole rate used while there is work, even when every wake-up comes late."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable

from notifier.dispatcher import ChannelLimits
from notifier.ratelimit import KeyedLimiter, SlidingWindowLimiter


class VirtualTime:
    """A clock that jumps to the next sleeper's wake-up once every task is waiting.

    Each wake-up comes up to `late` seconds after it was asked for, as on a busy event loop."""

    def __init__(self, late: float = 0.0, seed: int = 8) -> None:
        self.now = 0.0
        self.late = late
        self._random = random.Random(seed)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = self.now + seconds + self._random.uniform(0, self.late)
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (wake, next(self._order), future))
        await future

    async def run(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        while not task.done():
            for _ in range(20):  # let every runnable task reach its next wait
                await asyncio.sleep(0)
            if self._sleepers and not task.done():
                wake, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                future.set_result(None)
        await task


def most_in_any_window(times: list[float], window: float = 1.0) -> int:
    """The most of `times` inside any half-open window [t, t + window)."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def per_whole_second(times: list[float]) -> list[int]:
    counts = [0] * int(max(times) - min(times))
    for at in times:
        second = int(at - min(times))
        if second < len(counts):
            counts[second] += 1
    return counts


async def _send_all(
    acquire: Callable[[int], Awaitable[None]], count: int, now: Callable[[], float]
) -> list[float]:
    """`count` sends from as many tasks at once; the time each was let through."""
    let_through: list[float] = []

    async def one(n: int) -> None:
        await acquire(n)
        let_through.append(now())

    await asyncio.gather(*(one(n) for n in range(count)))
    return let_through


async def test_the_overall_limit_holds_in_every_window_and_is_used_whole() -> None:
    time = VirtualTime(late=0.004)
    limiter = SlidingWindowLimiter(30, clock=time.clock, sleep=time.sleep)
    sends: list[float] = []

    async def work() -> None:
        sends.extend(await _send_all(lambda _: limiter.acquire(), 3000, time.clock))

    await time.run(work())
    assert len(sends) == 3000
    assert most_in_any_window(sends) == 30
    seconds = per_whole_second(sends)
    assert len(seconds) >= 99
    # Late wake-ups cost a few sends a second at most: the rate is sustained to 95% and more.
    assert min(seconds) >= 0.95 * 30, seconds
    assert sum(seconds) / len(seconds) >= 0.97 * 30


async def test_a_rate_under_one_a_second_spaces_sends_evenly() -> None:
    time = VirtualTime()
    limiter = SlidingWindowLimiter(0.5, clock=time.clock, sleep=time.sleep)
    sends: list[float] = []

    async def work() -> None:
        sends.extend(await _send_all(lambda _: limiter.acquire(), 5, time.clock))

    await time.run(work())
    assert sorted(sends) == [0.0, 2.0, 4.0, 6.0, 8.0]


async def test_overall_and_per_chat_limits_hold_together() -> None:
    time = VirtualTime(late=0.002)
    limits = ChannelLimits(
        SlidingWindowLimiter(20, clock=time.clock, sleep=time.sleep),
        KeyedLimiter(1, clock=time.clock, sleep=time.sleep),
    )
    chats = 40
    sends_by_chat: dict[int, list[float]] = {chat: [] for chat in range(chats)}

    async def one(n: int) -> None:
        chat = n % chats
        await limits.acquire(str(chat))
        sends_by_chat[chat].append(time.clock())

    async def work() -> None:
        await asyncio.gather(*(one(n) for n in range(400)))

    await time.run(work())
    sends = [at for times in sends_by_chat.values() for at in times]
    assert len(sends) == 400
    assert most_in_any_window(sends) == 20
    for times in sends_by_chat.values():
        assert len(times) == 10
        assert most_in_any_window(times) == 1
    # With 40 chats waiting the overall rate is the bound, and it is used.
    seconds = per_whole_second(sends)
    assert min(seconds) >= 0.95 * 20, seconds
