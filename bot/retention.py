"""Deleting what the store no longer needs, inside `gmina run` and from `gmina retention purge`.

The server purges once at start-up and then every `retention.purge_every_hours`; a failure (the
store unreachable for a moment) is logged and tried again at the next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock
from kernel.settings import RetentionSettings
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from storage.retention import purge_anonymous_conversations

log = logging.getLogger(__name__)


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    settings: RetentionSettings,
    *,
    dry_run: bool = False,
) -> int:
    """Conversations of anonymous senders deleted (or that would be, with `dry_run`)."""
    async with sessions() as session:
        count = await purge_anonymous_conversations(
            session, clock.now(), timedelta(days=settings.anonymous_days), dry_run=dry_run
        )
        if not dry_run:
            await session.commit()
    return count


async def _purge_periodically(app: web.Application) -> None:
    settings = app[SETTINGS].retention
    while True:
        try:
            deleted = await purge(app[SESSIONS], app[CLOCK], settings)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("retention: purge failed, next try later: %s", type(exc).__name__)
        else:
            if deleted:
                log.info(
                    "retention: deleted %s conversations of anonymous senders idle over %s days",
                    deleted, settings.anonymous_days,
                )  # fmt: skip
        await asyncio.sleep(settings.purge_every_hours * 3600)


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: the purge runs as a task for as long as the application does."""
    task = asyncio.create_task(_purge_periodically(app), name="retention-purge")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
