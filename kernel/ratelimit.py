"""Per-address rate limits for public routes: a token bucket per client address, in memory.

A route opts in with a decorator naming its limit in `web.rate_limit` (settings):

    @rate_limited("webhook")
    async def webhook(request: web.Request) -> web.Response: ...

A client over its limit gets 429 with `Retry-After` (whole seconds) and `{"error":
"too_many_requests"}`. The client is the peer address of the connection; `X-Forwarded-For` is
read only when the peer is one of `web.rate_limit.trusted_proxies`, and then from the right,
skipping the trusted proxies, so a client cannot choose its own address by sending the header.
Clients in `web.rate_limit.exempt` (this machine, by default) are not limited. Each server process
counts on its own, so with `--workers N` a client may get up to N times as
much; the limits are there to stop floods, not to meter.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web

from kernel.settings import RateLimitSettings, RouteLimit

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Buckets kept per limit before the least recently seen ones are forgotten (a forgotten client
# starts again with a full bucket): bounds the memory a flood of addresses can take.
MAX_TRACKED_CLIENTS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBucket:
    """`burst` requests at once per key, refilled at `per_minute`; `clock` is monotonic seconds."""

    def __init__(
        self,
        limit: RouteLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        self.capacity = float(limit.burst)
        self.per_second = limit.per_minute / 60
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Spend one token of `key`: 0.0 when allowed, else the seconds until one is there."""
        if self.per_second == 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.pop(key, None)  # re-inserted last: the dict is in recency order
        if bucket is None:
            bucket = _Bucket(self.capacity, now)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.per_second)
            bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self._max_keys:
            del self._buckets[next(iter(self._buckets))]
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.per_second


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The address a request came from: the peer, or, behind trusted proxies, the first address
    in X-Forwarded-For (read from the right) that is not one of them."""
    if peer is None:
        return "unknown"
    if not forwarded_for or not _is_in(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if not _is_in(hop, trusted):
            return hop
    return hops[0] or peer


def _is_in(address: str, networks: Iterable[IPNetwork]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


class RateLimits:
    """One bucket per limit named in `web.rate_limit`, and who the client of a request is."""

    def __init__(
        self, settings: RateLimitSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._trusted = list(settings.trusted_proxies)
        self._exempt = list(settings.exempt)
        self._buckets = {
            name: TokenBucket(getattr(settings, name), clock=clock) for name in limit_names()
        }

    def wait(self, name: str, request: web.Request) -> float:
        """0.0 when the request may go on, else the seconds its client must wait."""
        forwarded = request.headers.get("X-Forwarded-For")
        client = client_address(request.remote, forwarded, self._trusted)
        if _is_in(client, self._exempt):
            return 0.0
        return self._buckets[name].take(client)


RATE_LIMITS = web.AppKey("rate_limits", RateLimits)


def limit_names() -> list[str]:
    return [
        name
        for name, field in RateLimitSettings.model_fields.items()
        if field.annotation is RouteLimit
    ]


def rate_limited(name: str) -> Callable[[Handler], Handler]:
    """Limit a route by the bucket `web.rate_limit.<name>`; the app needs `RATE_LIMITS` set."""
    if name not in limit_names():
        raise ValueError(f"no limit web.rate_limit.{name} in the settings")

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def limited(request: web.Request) -> web.StreamResponse:
            wait = request.app[RATE_LIMITS].wait(name, request)
            if wait > 0:
                return web.json_response(
                    {"error": "too_many_requests"},
                    status=429,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            return await handler(request)

        return limited

    return decorate
