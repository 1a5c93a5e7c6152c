"""Typed keys for the state the web application shares between its parts."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kernel.clock import Clock
from kernel.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
METRICS = web.AppKey("metrics", CollectorRegistry)
# Each channel's state for /health: {"telegram": "off", "rest": "on", ...}.
CHANNELS = web.AppKey("channels", dict[str, Any])
