"""`gmina broadcast create|edit|preview|approve|send|status|cancel|list` (docs/broadcasts.md).

A thin layer over `notifier.broadcasts` and `storage.broadcasts`, which the panel calls too.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tqdm import tqdm

from bot.commands.common import settings_from, with_store
from bot.commands.staff import in_one_transaction, refused_in_one_line
from kernel.clock import SystemClock
from kernel.i18n import DEFAULT_LANGUAGE, LANGUAGES
from kernel.settings import Settings
from notifier.broadcasts import (
    BATCH_SIZE,
    Preview,
    Progress,
    SendResult,
    preview_broadcast,
    send_broadcast,
)
from notifier.sms_segments import SmsMeter
from storage.broadcasts import (
    BroadcastError,
    BroadcastView,
    approve_broadcast,
    broadcast_counts,
    cancel_broadcast,
    create_broadcast,
    get_broadcast,
    list_broadcasts,
    set_segment,
    set_text,
)
from storage.segments import BadSegment

T = TypeVar("T")
# Refusals told in one line (with storage.staff's).
REFUSALS = (BroadcastError, BadSegment)

AS_OPTION = click.option(
    "--as",
    "staff",
    metavar="NAME",
    help="The staff member doing this (gmina staff list); without it, the server's operator.",
)
LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default=DEFAULT_LANGUAGE,
    show_default=True,
    help="The language of --text-file.",
)


def read_text(file: str) -> str:
    try:
        return Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file}: not UTF-8 text (byte {exc.start + 1})") from None
    except OSError as exc:
        raise click.ClickException(f"{file}: {exc.strerror}") from None


def _run(ctx: click.Context, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    settings: Settings = settings_from(ctx)
    with refused_in_one_line(*REFUSALS):
        return with_store(settings, work)


def _describe(broadcast: BroadcastView) -> str:
    languages = ", ".join(sorted(broadcast.texts))
    line = f"broadcast {broadcast.id}: {broadcast.status}, segment {broadcast.segment}"
    line += f", texts {languages}, by {broadcast.author or 'the operator'}"
    if broadcast.approved_by:
        line += f", approved by {broadcast.approved_by}"
    return line


@click.group("broadcast")
def broadcast_group() -> None:
    """Announcements to the city or a segment of it, approved by a second person."""


@broadcast_group.command("create")
@click.option("--segment", "segment", required=True, metavar="SPEC", help="all, or conditions.")
@click.option("--text-file", required=True, type=click.Path(dir_okay=False), metavar="F")
@LANG_OPTION
@AS_OPTION
@click.pass_context
def create_command(
    ctx: click.Context, segment: str, text_file: str, lang: str, staff: str | None
) -> None:
    """Draft a broadcast to SPEC with the text of F in one language (add others with `edit`).

    SPEC is `all`, or conditions joined by commas, all of which must hold: district:NAME,
    street:NAME, kind:KIND (an obligation of that kind this year), overdue, language:pl|en|uk,
    channel:telegram|sms|email.
    """
    text = read_text(text_file)
    made = in_one_transaction(
        ctx,
        lambda session, now: create_broadcast(session, segment, lang, text, staff=staff, now=now),
        *REFUSALS,
    )
    click.echo(f"broadcast {made.id} created as a draft")


@broadcast_group.command("edit")
@click.argument("broadcast_id", type=int, metavar="ID")
@click.option("--segment", metavar="SPEC", help="A new segment.")
@click.option("--text-file", type=click.Path(dir_okay=False), metavar="F")
@LANG_OPTION
@AS_OPTION
@click.pass_context
def edit_command(
    ctx: click.Context,
    broadcast_id: int,
    segment: str | None,
    text_file: str | None,
    lang: str,
    staff: str | None,
) -> None:
    """Change a draft: the text in --lang (added or replaced), and/or the segment."""
    if segment is None and text_file is None:
        raise click.UsageError("give --text-file (with --lang) or --segment, or both")
    text = read_text(text_file) if text_file is not None else None

    async def edit(session: AsyncSession, now: datetime) -> BroadcastView:
        if segment is not None:
            changed = await set_segment(session, broadcast_id, segment, staff=staff, now=now)
        if text is not None:
            changed = await set_text(session, broadcast_id, lang, text, staff=staff, now=now)
        return changed

    click.echo(_describe(in_one_transaction(ctx, edit, *REFUSALS)))


@broadcast_group.command("preview")
@click.argument("broadcast_id", type=int, metavar="ID")
@click.pass_context
def preview_command(ctx: click.Context, broadcast_id: int) -> None:
    """Recipients per channel as things stand now, and three messages as they would go."""

    async def work(sessions: async_sessionmaker[AsyncSession]) -> Preview:
        return await preview_broadcast(sessions, broadcast_id, SystemClock())

    preview = _run(ctx, work)
    click.echo(_describe(preview.broadcast))
    for channel, count in preview.per_channel.items():
        click.echo(f"{channel}\t{count}")
    click.echo(f"total\t{preview.total}")
    for number, sample in enumerate(preview.samples, start=1):
        fallback = " (no text in the recipient's language)" if sample.fell_back else ""
        click.echo(f"--- sample {number}: {sample.channel}, {sample.language}{fallback}")
        click.echo(sample.text)


@broadcast_group.command("approve")
@click.argument("broadcast_id", type=int, metavar="ID")
@click.option("--as", "staff", required=True, metavar="NAME", help="The approving staff member.")
@click.pass_context
def approve_command(ctx: click.Context, broadcast_id: int, staff: str) -> None:
    """Approve a draft: an approver or admin who did not write it."""

    approved = in_one_transaction(
        ctx,
        lambda session, now: approve_broadcast(session, broadcast_id, staff=staff, now=now),
        *REFUSALS,
    )
    click.echo(_describe(approved))


@contextmanager
def progress_bar(broadcast_id: int) -> Iterator[Progress | None]:
    """Messages queued so far, on stderr, for a person watching."""
    if not sys.stderr.isatty():
        yield None
        return
    with tqdm(desc=f"broadcast {broadcast_id}", unit=" msg", file=sys.stderr) as bar:

        async def update(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        yield update


@broadcast_group.command("send")
@click.argument("broadcast_id", type=int, metavar="ID")
@click.option("--batch-size", type=click.IntRange(1, 50_000), default=BATCH_SIZE, show_default=True)
@AS_OPTION
@click.pass_context
def send_command(ctx: click.Context, broadcast_id: int, batch_size: int, staff: str | None) -> None:
    """Queue an approved broadcast into the outbox (again after an interruption: nothing twice).

    `gmina run` (or `gmina outbox send`) delivers it; quiet hours hold SMS and Telegram messages.
    """

    settings = settings_from(ctx)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> SendResult:
        with progress_bar(broadcast_id) as progress:
            return await send_broadcast(
                sessions,
                broadcast_id,
                staff=staff,
                clock=SystemClock(),
                quiet_hours=settings.reminders.quiet_hours,
                progress=progress,
                batch_size=batch_size,
                sms_meter=SmsMeter.from_settings(settings),
            )

    result = _run(ctx, work)
    if result.stopped:
        raise click.ClickException(
            f"broadcast {broadcast_id} was {result.broadcast.status} while it was being queued"
        )
    click.echo(
        f"broadcast {broadcast_id}: {result.recipients} recipients queued "
        f"({result.newly_queued} by this run)"
    )


@broadcast_group.command("status")
@click.argument("broadcast_id", type=int, metavar="ID")
@click.pass_context
def status_command(ctx: click.Context, broadcast_id: int) -> None:
    """The broadcast, then its messages' counts per channel and status."""

    async def work(
        sessions: async_sessionmaker[AsyncSession],
    ) -> tuple[BroadcastView, list[tuple[str, str, int]]]:
        async with sessions() as session:
            broadcast = await get_broadcast(session, broadcast_id)
            return broadcast, await broadcast_counts(session, broadcast_id)

    broadcast, counts = _run(ctx, work)
    click.echo(_describe(broadcast))
    for channel, status, count in counts:
        click.echo(f"{channel}\t{status}\t{count}")


@broadcast_group.command("cancel")
@click.argument("broadcast_id", type=int, metavar="ID")
@AS_OPTION
@click.pass_context
def cancel_command(ctx: click.Context, broadcast_id: int, staff: str | None) -> None:
    """Cancel a broadcast; its messages not yet taken for sending are withdrawn."""

    withdrawn = in_one_transaction(
        ctx,
        lambda session, now: cancel_broadcast(session, broadcast_id, staff=staff, now=now),
        *REFUSALS,
    )
    click.echo(f"broadcast {broadcast_id} cancelled: {withdrawn} queued messages withdrawn")


@broadcast_group.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """The latest 50 broadcasts, newest first."""

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[BroadcastView]:
        async with sessions() as session:
            return await list_broadcasts(session)

    for broadcast in _run(ctx, work):
        click.echo(_describe(broadcast))
