"""Broadcasts: what a segment would receive (preview) and the fan-out into the outbox (send).

One implementation behind `gmina broadcast` and the staff panel: both call these with a session
factory and the acting staff member's name. The fan-out reads the segment's recipients once,
then queues them in batches, each batch its own short transaction under the broadcast's row lock
(`storage.broadcasts.enqueue_batch`). Every message's outbox key is
`broadcast:<id>:<taxpayer id>:<channel>`, so a second `send`, or one after a crash, queues only
what is missing; a cancel between batches stops the fan-out at the next one.

`send_broadcast` starts and fans out in one call (the command line). The server starts it with
`storage.broadcasts.begin_send` in the request and runs `fan_out` in the background
(`notifier.broadcast_runner`), resuming at start-up every broadcast left `sending`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock, today_in_warsaw
from kernel.i18n import DEFAULT_LANGUAGE, LANGUAGES
from notifier.quiet_hours import hold_until
from notifier.sms_segments import SmsMeter
from storage.broadcasts import (
    BroadcastStatus,
    BroadcastView,
    Recipient,
    begin_send,
    enqueue_batch,
    finish_send,
    get_broadcast,
    segment_recipients,
)
from storage.outbox import Category, NewMessage
from storage.segments import parse_segment

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000
SAMPLES = 3

# Told (done, total) after each batch.
Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class Sample:
    """One message as a recipient would get it; who it is for is not shown."""

    channel: str
    language: str
    # The recipient's language has no text of its own: the Polish one goes.
    fell_back: bool
    text: str


@dataclass(frozen=True)
class Preview:
    broadcast: BroadcastView
    per_channel: dict[str, int]
    samples: list[Sample]

    @property
    def total(self) -> int:
        return sum(self.per_channel.values())


@dataclass(frozen=True)
class SendResult:
    broadcast: BroadcastView
    recipients: int
    # Queued by this run (fewer than `recipients` when an earlier run queued some).
    newly_queued: int
    # Stopped because the broadcast was cancelled meanwhile.
    stopped: bool


def message_key(broadcast_id: int, taxpayer_id: int, channel: str) -> str:
    return f"broadcast:{broadcast_id}:{taxpayer_id}:{channel}"


def render(broadcast: BroadcastView, recipient: Recipient) -> Sample:
    own = recipient.language in broadcast.texts
    language = recipient.language if own else DEFAULT_LANGUAGE
    return Sample(recipient.channel, language, not own, broadcast.text_for(language))


def _samples(broadcast: BroadcastView, recipients: Sequence[Recipient]) -> list[Sample]:
    """Up to three recipients' messages, unlike each other first (channel, language)."""
    kinds: dict[tuple[str, str], Recipient] = {}
    for recipient in recipients:
        kinds.setdefault((recipient.channel, recipient.language), recipient)
    chosen = list(kinds.values())[:SAMPLES]
    chosen += [r for r in recipients if r not in chosen][: SAMPLES - len(chosen)]
    return [render(broadcast, recipient) for recipient in chosen]


async def _recipients(
    session: AsyncSession, broadcast: BroadcastView, today: date
) -> list[Recipient]:
    return await segment_recipients(session, parse_segment(broadcast.segment), today)


async def preview_broadcast(
    sessions: async_sessionmaker[AsyncSession], broadcast_id: int, clock: Clock
) -> Preview:
    """Who the broadcast would reach now, per channel, and three rendered samples."""
    async with sessions() as session:
        broadcast = await get_broadcast(session, broadcast_id)
        recipients = await _recipients(session, broadcast, today_in_warsaw(clock))
    counts = Counter(recipient.channel for recipient in recipients)
    return Preview(broadcast, dict(sorted(counts.items())), _samples(broadcast, recipients))


def _message(
    broadcast: BroadcastView, recipient: Recipient, text: str, not_before: datetime
) -> NewMessage:
    return NewMessage(
        key=message_key(broadcast.id, recipient.taxpayer_id, recipient.channel),
        channel=recipient.channel,
        recipient=recipient.address,
        category=Category.ANNOUNCEMENT,
        text=text,
        language=recipient.language,
        taxpayer_id=recipient.taxpayer_id,
        not_before=not_before,
        broadcast_id=broadcast.id,
    )


async def send_broadcast(
    sessions: async_sessionmaker[AsyncSession],
    broadcast_id: int,
    *,
    staff: str | None,
    clock: Clock,
    quiet_hours: str | None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    sms_meter: SmsMeter | None = None,
) -> SendResult:
    """Start (or resume) an approved broadcast and fan it out into the outbox, all in this
    call: the command line's way. The panel starts it and hands the fan-out to the server."""
    async with sessions() as session:
        await begin_send(session, broadcast_id, staff=staff, now=clock.now())
        await session.commit()
    return await fan_out(
        sessions,
        broadcast_id,
        clock=clock,
        quiet_hours=quiet_hours,
        progress=progress,
        batch_size=batch_size,
        sms_meter=sms_meter,
    )


async def fan_out(
    sessions: async_sessionmaker[AsyncSession],
    broadcast_id: int,
    *,
    clock: Clock,
    quiet_hours: str | None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    stop: asyncio.Event | None = None,
    sms_meter: SmsMeter | None = None,
) -> SendResult:
    """Queue a `sending` broadcast's messages that are not queued yet, batch by batch, and mark
    it `sent`. SMS and Telegram messages queued in `quiet_hours` wait until they end;
    `sms_meter` (the server's settings) records each SMS row's segments and encoding. Returns
    early (`stopped`, still `sending`, to be resumed) when `stop` is set between batches, and
    when the broadcast was cancelled meanwhile."""
    async with sessions() as session:
        broadcast = await get_broadcast(session, broadcast_id)
        recipients = await _recipients(session, broadcast, today_in_warsaw(clock))
    now = clock.now()
    not_before = {
        channel: hold_until(channel, now, quiet_hours) or now
        for channel in {recipient.channel for recipient in recipients}
    }
    texts = {language: broadcast.text_for(language) for language in LANGUAGES}
    log.info("broadcast %s: %s recipients", broadcast_id, len(recipients))
    added = done = 0
    for start in range(0, len(recipients), batch_size):
        if stop is not None and stop.is_set():
            log.info("broadcast %s: paused after %s of %s", broadcast_id, done, len(recipients))
            return SendResult(broadcast, len(recipients), added, stopped=True)
        batch = [
            _message(
                broadcast,
                recipient,
                texts.get(recipient.language, texts[DEFAULT_LANGUAGE]),
                not_before[recipient.channel],
            )
            for recipient in recipients[start : start + batch_size]
        ]
        if sms_meter is not None:
            batch = sms_meter.measured_all(batch)
        async with sessions() as session:
            queued = await enqueue_batch(session, broadcast_id, batch, clock.now())
        if queued is None:
            log.info("broadcast %s: stopped after %s of %s", broadcast_id, done, len(recipients))
            async with sessions() as session:
                now_as_it_is = await get_broadcast(session, broadcast_id)
            return SendResult(now_as_it_is, len(recipients), added, stopped=True)
        added += queued
        done += len(batch)
        if progress is not None:
            await progress(done, len(recipients))
    async with sessions() as session:
        finished = await finish_send(session, broadcast_id, len(recipients), clock.now())
        await session.commit()
    log.info("broadcast %s: %s queued, %s of them now", broadcast_id, len(recipients), added)
    stopped = finished.status != BroadcastStatus.SENT
    return SendResult(finished, len(recipients), added, stopped=stopped)
