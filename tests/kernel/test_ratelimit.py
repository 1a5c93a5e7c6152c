"""The token bucket and who the client of a request is."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from kernel.ratelimit import TokenBucket, client_address, rate_limited
from kernel.settings import RouteLimit


class Ticks:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_request_per_refill_interval() -> None:
    ticks = Ticks()
    bucket = TokenBucket(RouteLimit(per_minute=6, burst=3), clock=ticks)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(10.0)  # 6 a minute: one token every 10 s
    ticks.now += 4
    assert bucket.take("a") == pytest.approx(6.0)
    ticks.now += 6
    assert bucket.take("a") == 0.0
    assert bucket.take("b") == 0.0  # another address has its own bucket


def test_the_bucket_never_holds_more_than_its_burst() -> None:
    ticks = Ticks()
    bucket = TokenBucket(RouteLimit(per_minute=60, burst=2), clock=ticks)
    bucket.take("a")
    ticks.now += 3600
    assert [bucket.take("a") for _ in range(3)][2] == pytest.approx(1.0)


def test_zero_per_minute_is_no_limit() -> None:
    bucket = TokenBucket(RouteLimit(per_minute=0, burst=1), clock=Ticks())
    assert {bucket.take("a") for _ in range(100)} == {0.0}


def test_a_flood_of_addresses_forgets_the_least_recent_not_the_memory_limit() -> None:
    ticks = Ticks()
    bucket = TokenBucket(RouteLimit(per_minute=1, burst=1), clock=ticks, max_keys=3)
    bucket.take("a")
    assert bucket.take("a") > 0
    for address in ("b", "c", "d"):
        bucket.take(address)
    assert bucket.take("a") == 0.0  # forgotten, so a full bucket again
    assert bucket.take("d") > 0  # remembered


TRUSTED = [ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.7", "203.0.113.9"),  # not a trusted proxy: header ignored
        ("10.0.0.2", "198.51.100.7", "198.51.100.7"),
        ("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.5", "198.51.100.7"),  # 1.2.3.4 is forged
        ("10.0.0.2", "10.0.0.9", "10.0.0.9"),  # only proxies: the farthest one
        ("10.0.0.2", "not-an-address, 10.0.0.3", "not-an-address"),
        (None, "198.51.100.7", "unknown"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str | None, forwarded: str | None, client: str
) -> None:
    assert client_address(peer, forwarded, TRUSTED) == client


def test_a_limit_the_settings_do_not_name_is_refused_at_import_time() -> None:
    with pytest.raises(ValueError, match=r"web\.rate_limit\.payment_pgae"):
        rate_limited("payment_pgae")
