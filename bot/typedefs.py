"""Typed keys for the state only the web application of `bot/` uses; the keys every room's
routes share (settings, clock, sessions) are in `kernel.webkeys`."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

ENGINE = web.AppKey("engine", AsyncEngine)
METRICS = web.AppKey("metrics", CollectorRegistry)
# Each channel's state for /health: {"telegram": "off", "rest": "on", ...}.
CHANNELS = web.AppKey("channels", dict[str, Any])
