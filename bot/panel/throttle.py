"""Throttling sign-in in the panel: the policy from the settings, the client's address, and the
answer's wording (`storage.panel_security` keeps the count)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from aiohttp import web

from kernel.ratelimit import client_address
from kernel.settings import Settings
from storage.panel_security import ThrottlePolicy

# The answer to a paused sign-in.
TOO_MANY = 429


def throttle_policy(settings: Settings) -> ThrottlePolicy:
    panel = settings.panel
    return ThrottlePolicy(
        failures=panel.login_failures,
        address_failures=panel.address_failures,
        window=timedelta(minutes=panel.throttle_minutes),
    )


def address_of(request: web.Request, settings: Settings) -> str:
    """The client's address, through the proxies `web.rate_limit.trusted_proxies` names."""
    return client_address(
        request.remote,
        request.headers.get("X-Forwarded-For"),
        settings.web.rate_limit.trusted_proxies,
    )


def minutes_until(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds() / 60))
