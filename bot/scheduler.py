"""The scheduler inside `gmina run`: APScheduler 3.x's `AsyncIOScheduler` (Europe/Warsaw) plans
the day's reminders at `reminders.run_hour`, and a start-up run plans the days missed while the
server was down (notifier.reminders.plan_due_days). Several processes may run it at once: the
outbox's unique keys, not timing, keep each reminder single.

A run is an asyncio task of our own that shutdown waits for (APScheduler would cancel it half
way through a transaction); a failed run is logged and the next one plans what it missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from bot.outbox import DISPATCHER
from kernel.clock import WARSAW
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from notifier.reminders import Policy, plan_due_days

log = logging.getLogger(__name__)


async def _plan(app: web.Application, policy: Policy) -> None:
    try:
        plans = await plan_due_days(app[SESSIONS], policy, app[CLOCK])
    except (SQLAlchemyError, OSError) as exc:
        log.warning("reminders: planning failed, the next run catches up: %s", type(exc).__name__)
        return
    dispatcher = app.get(DISPATCHER)
    if dispatcher is not None and any(plan.queued for plan in plans):
        dispatcher.wake()


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: the daily reminder run, and a catch-up run at start."""
    policy = Policy.from_settings(app[SETTINGS])
    runs: set[asyncio.Task[None]] = set()

    def start_run() -> None:
        task = asyncio.create_task(_plan(app, policy), name="reminders-plan")
        runs.add(task)
        task.add_done_callback(runs.discard)

    scheduler = AsyncIOScheduler(timezone=WARSAW)
    scheduler.add_job(
        start_run,
        CronTrigger(hour=policy.run_hour, timezone=WARSAW),
        id="reminders",
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.start()
    start_run()
    log.info("scheduler: reminders planned daily at %s:00 Europe/Warsaw", policy.run_hour)
    yield
    scheduler.shutdown(wait=False)
    if runs:
        await asyncio.gather(*runs)
