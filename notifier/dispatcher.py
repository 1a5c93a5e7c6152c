"""The dispatcher: takes due messages from the outbox, sends each through its channel's sender
within the provider's limits, and records what became of it.

    claim a batch (a short transaction; rows become `sending` under a lease)
    → send each, at most `outbox.concurrency` at once, after the channel's rate limiters
    → record outcomes (another short transaction): sent, or a retry with exponential backoff and
      jitter, or a permanent or technical failure; a recipient who blocked us is marked unreachable
    → a notice that failed for good goes to the resident's next channel (`notifier.fallback`)

No database transaction is open while a provider is called. Several processes may dispatch from
one PostgreSQL store (claims skip each other's locked rows); on SQLite one process dispatches at a
time, under a lease in the store. `wake()` starts a round at once, so a chat reply queued now does
not wait for the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock
from kernel.errors import PermanentError, RecipientUnreachable, RetryableError, RetryAfter
from kernel.settings import OutboxSettings
from notifier.fallback import queue_fallbacks
from notifier.ratelimit import KeyedLimiter, SlidingWindowLimiter
from notifier.senders.base import Sender
from storage.outbox import (
    Claimed,
    Outcome,
    Status,
    acquire_lease,
    claim_due,
    next_due,
    record_outcomes,
)
from storage.sql import has_one_writer

log = logging.getLogger(__name__)

LEASE_NAME = "outbox-dispatcher"


@dataclass
class ChannelLimits:
    """A provider's limits: messages a second overall, and to one recipient."""

    overall: SlidingWindowLimiter | None = None
    per_recipient: KeyedLimiter | None = None

    async def acquire(self, recipient: str) -> None:
        if self.per_recipient is not None:
            await self.per_recipient.acquire(recipient)
        if self.overall is not None:
            await self.overall.acquire()
            if self.per_recipient is not None:
                # The chat's send goes now, not when its own window allowed it.
                self.per_recipient.restamp(recipient)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders: Mapping[str, Sender],
        clock: Clock,
        settings: OutboxSettings,
        *,
        limits: Mapping[str, ChannelLimits] | None = None,
        owner: str | None = None,
        jitter: Callable[[], float] = random.random,
        quiet_hours: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.senders = dict(senders)
        self.clock = clock
        self.settings = settings
        self.limits = dict(limits or {})
        self.owner = owner or default_owner()
        self._jitter = jitter
        # `reminders.quiet_hours`: a notice moved to SMS or Telegram waits for their end.
        self.quiet_hours = quiet_hours
        self._wake = asyncio.Event()
        self._in_flight = asyncio.Semaphore(settings.concurrency)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    def wake(self) -> None:
        """Something was queued: look at the outbox now."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim one batch, send it and record it; returns how many messages it handled."""
        if not self.senders:
            return 0
        async with self.sessions() as session:
            if not await self._may_dispatch(session):
                return 0
            now = self.clock.now()
            batch = await claim_due(
                session, sorted(self.senders), now, self.lease, self.settings.batch_size
            )
        if not batch:
            return 0
        outcomes = await asyncio.gather(*(self._deliver(message) for message in batch))
        async with self.sessions() as session:
            await record_outcomes(session, outcomes, self.clock.now())
            await queue_fallbacks(session, outcomes, self.clock.now(), self.quiet_hours)
            await session.commit()
        log.debug("outbox: a round of %s: %s", len(batch), Counter(o.status for o in outcomes))
        return len(batch)

    async def run_until_idle(self, *, wait_for_retries: bool = False) -> int:
        """Send until nothing is due; with `wait_for_retries`, also wait out backoffs until
        nothing is pending at all. Returns how many messages were handled."""
        handled = 0
        while True:
            count = await self.run_once()
            handled += count
            if count:
                continue
            if not wait_for_retries:
                return handled
            delay = await self._until_next_due()
            if delay is None:
                return handled
            await asyncio.sleep(delay)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """The loop `gmina run` keeps going: a round whenever woken or something falls due."""
        failures = 0
        while not stop.is_set():
            try:
                count = await self.run_once()
                failures = 0
            except Exception:
                # The store is down or busy: the messages stay queued; try again shortly.
                failures += 1
                log.warning("outbox: a dispatch round failed; retrying", exc_info=True)
                count = 0
                await _wait_either(stop, self._wake, min(60.0, 2.0**failures))
                continue
            if count:
                continue
            delay = await self._until_next_due()
            idle = self.settings.idle_poll_seconds
            await _wait_either(stop, self._wake, idle if delay is None else min(delay, idle))

    async def _may_dispatch(self, session: AsyncSession) -> bool:
        if not has_one_writer(session):
            return True
        # SQLite cannot pass over another's claimed rows: one dispatcher at a time, under a lease.
        return await acquire_lease(session, LEASE_NAME, self.owner, self.clock.now(), self.lease)

    async def _until_next_due(self) -> float | None:
        async with self.sessions() as session:
            due = await next_due(session, sorted(self.senders))
        if due is None:
            return None
        return max(0.0, (due - self.clock.now()).total_seconds())

    async def _deliver(self, message: Claimed) -> Outcome:
        sender = self.senders[message.channel]
        limits = self.limits.get(message.channel)
        async with self._in_flight:
            if limits is not None:
                await limits.acquire(message.recipient)
            try:
                provider_id = await asyncio.wait_for(
                    sender.send(message), timeout=self.settings.lease_seconds / 2
                )
            except RetryAfter as exc:
                return self._retry(message, exc.retry_after, str(exc))
            except RecipientUnreachable as exc:
                return Outcome(
                    message.id,
                    Status.PERMANENT_FAILURE,
                    error=str(exc),
                    unreachable=(message.channel, message.recipient),
                )
            except PermanentError as exc:
                return Outcome(message.id, Status.PERMANENT_FAILURE, error=str(exc))
            except (RetryableError, TimeoutError) as exc:
                reason = str(exc) or "the provider did not answer in time"
                return self._retry(message, self._backoff(message.attempts), reason)
            except Exception as exc:
                log.exception("outbox: sending message %s failed unexpectedly", message.id)
                return Outcome(message.id, Status.TECHNICAL_FAILURE, error=type(exc).__name__)
        return Outcome(message.id, Status.SENT, provider_id=provider_id)

    def _backoff(self, attempts: int) -> float:
        """Exponential, capped, with jitter so that retries of one outage do not all align."""
        ceiling = min(
            self.settings.backoff_cap_seconds,
            self.settings.backoff_base_seconds * 2.0 ** max(0, attempts - 1),
        )
        return float(ceiling * (0.5 + self._jitter() / 2))

    def _retry(self, message: Claimed, delay: float, reason: str) -> Outcome:
        now = self.clock.now()
        retry_at = now + timedelta(seconds=delay)
        if retry_at - message.created_at > timedelta(hours=self.settings.retry_for_hours):
            error = f"gave up after {message.attempts} attempts: {reason}"
            return Outcome(message.id, Status.TECHNICAL_FAILURE, error=error)
        return Outcome(message.id, Status.TEMPORARY_FAILURE, error=reason, retry_at=retry_at)


async def _wait_either(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Sleep up to `seconds`, less when stopped or woken; a wake is consumed."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        wake.clear()
