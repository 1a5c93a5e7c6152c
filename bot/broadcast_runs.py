"""The broadcasts' fan-outs inside `gmina run` (notifier.broadcast_runner): the panel starts one
here, and `reminders.start_delay_seconds` after start-up every broadcast left `sending` by a
process that stopped is resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from bot.outbox import DISPATCHER
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from notifier.broadcast_runner import BroadcastRunner
from notifier.sms_segments import SmsMeter

BROADCAST_RUNNER = web.AppKey("broadcast_runner", BroadcastRunner)


async def broadcast_runner_ctx(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context after the dispatcher's (stopped before it): each batch queued wakes the
    dispatcher, so delivery starts while the fan-out goes on."""
    dispatcher = app.get(DISPATCHER)
    runner = BroadcastRunner(
        app[SESSIONS],
        app[CLOCK],
        app[SETTINGS].reminders.quiet_hours,
        on_batch=dispatcher.wake if dispatcher is not None else None,
        sms_meter=SmsMeter.from_settings(app[SETTINGS]),
    )
    app[BROADCAST_RUNNER] = runner
    # Like the reminders' catch-up, a while after start-up: the server answers first.
    delay = app[SETTINGS].reminders.start_delay_seconds

    async def resume_later() -> None:
        await asyncio.sleep(delay)
        await runner.resume()

    resuming = asyncio.create_task(resume_later(), name="broadcasts-resume")
    yield
    resuming.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await resuming
    await runner.close()
