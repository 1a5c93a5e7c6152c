"""The outbox dispatcher inside `gmina run`: a task for as long as the application runs.

Channels that queue a reply call `app[DISPATCHER].wake()` so it goes out at once. Without any
configured sender no task runs (messages wait in the outbox for a channel to be configured).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from notifier.dispatcher import Dispatcher
from notifier.providers import build_dispatcher, build_senders, close_senders

log = logging.getLogger(__name__)

DISPATCHER = web.AppKey("dispatcher", Dispatcher)


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: builds the senders and runs the dispatcher until shutdown."""
    senders = build_senders(app[SETTINGS])
    if not senders:
        yield
        return
    dispatcher = build_dispatcher(app[SESSIONS], app[SETTINGS], app[CLOCK], senders)
    app[DISPATCHER] = dispatcher
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop), name="outbox-dispatcher")
    log.info("outbox: dispatching on %s", ", ".join(sorted(senders)))
    yield
    stop.set()
    dispatcher.wake()
    await task
    await close_senders(senders)
