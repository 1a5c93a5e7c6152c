"""Typed keys for what every room's web routes share: the settings, the clock, the store.

They live in the kernel so that payments' and the notifier's routes can read them without
importing `bot/`; `bot/web.py` fills them when it builds the application.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock
from kernel.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
