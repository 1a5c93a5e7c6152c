"""Rate limits for providers: never more than `rate` sends in any window of `period` seconds.

A sliding-window log rather than a token bucket: a full bucket lets `2 × rate` through in the
second that straddles its refill, and providers (Telegram: 30 messages a second overall, one a
second per chat) count in windows. Waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

Sleep = Callable[[float], Awaitable[None]]


class SlidingWindowLimiter:
    def __init__(
        self,
        rate: float,
        period: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or period <= 0:
            raise ValueError("rate and period must be positive")
        # Under one send a period (0.5 a second) becomes one send per 1/rate seconds.
        self.limit = max(1, int(rate * period))
        self.period = period if rate * period >= 1 else 1 / rate
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until one more send fits (0 when it fits now)."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - self.period:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[0] + self.period - now

    async def acquire(self, then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Wait until one more send fits; with `then` (another limiter's acquire), also wait for
        that while holding this one's turn, and count the send from when both let it through."""
        async with self._lock:
            # The window frees a place at a known time: sleep until then, nothing to wait on.
            while (wait := self.delay()) > 0:  # noqa: ASYNC110
                await self._sleep(wait)
            if then is not None:
                await then()
            self._sent.append(self._clock())

    def idle(self) -> bool:
        return not self._lock.locked() and self.delay() == 0 and not self._sent


class KeyedLimiter:
    """One sliding window per key (per chat), created on demand and dropped once idle."""

    def __init__(
        self,
        rate: float,
        period: float = 1.0,
        *,
        max_idle_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.period = period
        self.max_idle_keys = max_idle_keys
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[Hashable, SlidingWindowLimiter] = {}

    async def acquire(
        self, key: Hashable, then: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        limiter = self._limiters.get(key)
        if limiter is None:
            if len(self._limiters) >= self.max_idle_keys:
                self._limiters = {k: v for k, v in self._limiters.items() if not v.idle()}
            limiter = self._limiters[key] = SlidingWindowLimiter(
                self.rate, self.period, clock=self._clock, sleep=self._sleep
            )
        await limiter.acquire(then)
