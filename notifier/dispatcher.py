"""The dispatcher: takes due messages from the outbox, sends each through its channel's sender
within the provider's limits, and records what became of it.

    claim a batch (a short transaction; rows become `sending` under a lease)
    → send each, at most `outbox.concurrency` at once, after the channel's rate limiters
    → record outcomes (another short transaction): sent, or a retry with exponential backoff and
      jitter, or a permanent or technical failure; a recipient who blocked us is marked unreachable
    → a notice that failed for good goes to the resident's next channel (`notifier.fallback`)

Rounds overlap: while one batch is in flight the next is claimed and the one before is
recorded, so the provider never waits on the store (`run_until_idle`, `run_forever`; `run_once`
is one round alone). No database transaction is open while a provider is called. Several
processes may dispatch from one PostgreSQL store (claims skip each other's locked rows); on
SQLite one process dispatches at a time, under a lease in the store. `wake()` starts a round at
once, so a chat reply queued now does not wait for the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock
from kernel.errors import PermanentError, RecipientUnreachable, RetryableError, RetryAfter
from kernel.settings import OutboxSettings, Settings
from notifier.fallback import queue_fallbacks
from notifier.ratelimit import KeyedLimiter, SlidingWindowLimiter
from notifier.reminders import Policy
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
        if self.per_recipient is None:
            if self.overall is not None:
                await self.overall.acquire()
            return
        # The chat's turn is held while the overall limit is waited for, and its send counted
        # from when both let it through: two sends to one chat never pass within a window.
        await self.per_recipient.acquire(recipient, self.overall.acquire if self.overall else None)


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        reminders: Policy | None = None,
    ) -> None:
        self.sessions = sessions
        self.senders = dict(senders)
        self.clock = clock
        self.settings = settings
        self.limits = dict(limits or {})
        self.owner = owner or default_owner()
        self._jitter = jitter
        # Waits for a backoff or a poll, in the clock's seconds (a test's clock may run fast).
        self._sleep = sleep
        # The reminder policy a fallback copy is made by (`reminders.sms_content`, the quiet
        # hours a copy on SMS or Telegram waits out, the payment links).
        self.reminders = reminders or Policy.from_settings(Settings())
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
        batch = await self._claim()
        if batch:
            await self._record(await self._send(batch))
        return len(batch)

    async def run_until_idle(self, *, wait_for_retries: bool = False) -> int:
        """Send until nothing is due; with `wait_for_retries`, also wait out backoffs until
        nothing is pending at all. Returns how many messages were handled."""
        handled = 0
        while True:
            handled += await self._drain()
            if not wait_for_retries:
                return handled
            delay = await self._until_next_due()
            if delay is None:
                return handled
            await self._sleep(delay)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """The loop `gmina run` keeps going: rounds whenever woken or something falls due."""
        failures = 0
        while not stop.is_set():
            try:
                await self._drain(stop)
                failures = 0
                delay = await self._until_next_due()
            except Exception:
                # The store is down or busy: the messages stay queued; try again shortly.
                failures += 1
                log.warning("outbox: a dispatch round failed; retrying", exc_info=True)
                await self._wait(stop, min(60.0, 2.0**failures))
                continue
            idle = self.settings.idle_poll_seconds
            await self._wait(stop, idle if delay is None else min(delay, idle))

    async def _drain(self, stop: asyncio.Event | None = None) -> int:
        """Rounds until a claim finds nothing due, each batch claimed while the one before is
        in flight and recorded when it lands. A batch's chats are not claimed again before its
        outcomes are written (their rows are `sending`), so each chat stays in order."""
        handled = 0
        flying: asyncio.Task[list[Outcome]] | None = None
        try:
            while True:
                batch = [] if stop is not None and stop.is_set() else await self._claim()
                handled += len(batch)
                landed, flying = flying, asyncio.ensure_future(self._send(batch)) if batch else None
                if landed is not None:
                    await self._record(await landed)
                elif not batch:
                    return handled
        finally:
            # A claim or a record failed: what is in flight still lands and is written if the
            # store lets us (else its rows go out again once their lease ends).
            if flying is not None:
                await self._record(await flying)

    async def _claim(self) -> list[Claimed]:
        if not self.senders:
            return []
        async with self.sessions() as session:
            if not await self._may_dispatch(session):
                return []
            return await claim_due(
                session,
                sorted(self.senders),
                self.clock.now(),
                self.lease,
                self.settings.batch_size,
            )

    async def _send(self, batch: list[Claimed]) -> list[Outcome]:
        return await asyncio.gather(*(self._deliver(message) for message in batch))

    async def _record(self, outcomes: list[Outcome]) -> None:
        async with self.sessions() as session:
            await record_outcomes(session, outcomes, self.clock.now())
            await queue_fallbacks(session, outcomes, self.clock.now(), self.reminders)
            await session.commit()
        log.debug("outbox: a round of %s: %s", len(outcomes), Counter(o.status for o in outcomes))

    async def _wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep up to `seconds`, less when stopped or woken; a wake is consumed."""
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._sleep(seconds)),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._wake.clear()

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
