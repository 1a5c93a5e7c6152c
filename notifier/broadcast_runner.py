"""The server's background fan-outs: a broadcast started from the panel is queued by a task of
the server, not by the request that started it, so closing the page stops nothing.

    start(id)       run the fan-out of a `sending` broadcast unless this process already runs it
    running(id), wait(id)   whether it runs here; until it ends
    resume()        at start-up: every broadcast left `sending` (the process died mid-way)
    close()         at shutdown: each fan-out stops after its batch and stays `sending`

Starting twice, in one process or in several, queues nothing twice: within a process the second
start finds the task running; across processes the outbox's unique keys and the broadcast's row
lock per batch decide (notifier.broadcasts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock
from notifier.broadcasts import BATCH_SIZE, fan_out
from notifier.sms_segments import SmsMeter
from storage.broadcasts import sending_broadcasts

log = logging.getLogger(__name__)


class BroadcastRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        quiet_hours: str | None,
        *,
        on_batch: Callable[[], None] | None = None,
        batch_size: int = BATCH_SIZE,
        sms_meter: SmsMeter | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._quiet_hours = quiet_hours
        # Told after each batch (the dispatcher's wake-up: delivery starts before the last batch).
        self._on_batch = on_batch
        self._batch_size = batch_size
        self._sms_meter = sms_meter
        self._stop = asyncio.Event()
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def running(self, broadcast_id: int) -> bool:
        return broadcast_id in self._tasks

    async def wait(self, broadcast_id: int) -> None:
        """Until this process's fan-out of the broadcast ends (at once when none runs)."""
        task = self._tasks.get(broadcast_id)
        if task is not None:
            await asyncio.shield(task)

    def start(self, broadcast_id: int) -> bool:
        """Fan the broadcast out in the background; False when it is already running here."""
        if self._stop.is_set() or broadcast_id in self._tasks:
            return False
        task = asyncio.create_task(self._run(broadcast_id), name=f"broadcast-{broadcast_id}")
        self._tasks[broadcast_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(broadcast_id, None))
        return True

    async def resume(self) -> list[int]:
        """Start every broadcast left `sending`; returns their ids (none when the store cannot
        be read: the server still starts, and a send from the panel resumes one)."""
        try:
            async with self._sessions() as session:
                unfinished = await sending_broadcasts(session)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("broadcasts: cannot look for unfinished ones: %s", type(exc).__name__)
            return []
        started = [broadcast_id for broadcast_id in unfinished if self.start(broadcast_id)]
        if started:
            log.info("broadcasts: resuming the fan-out of %s", started)
        return started

    async def _run(self, broadcast_id: int) -> None:
        async def progress(done: int, total: int) -> None:
            if self._on_batch is not None:
                self._on_batch()

        try:
            await fan_out(
                self._sessions,
                broadcast_id,
                clock=self._clock,
                quiet_hours=self._quiet_hours,
                progress=progress,
                batch_size=self._batch_size,
                stop=self._stop,
                sms_meter=self._sms_meter,
            )
        except (SQLAlchemyError, OSError) as exc:
            # Still `sending`: the next start (or the next server start) finishes it.
            log.warning("broadcast %s: fan-out failed: %s", broadcast_id, type(exc).__name__)

    async def close(self) -> None:
        """Let each running fan-out finish its batch, then stop; they resume at the next start."""
        self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks.values())
