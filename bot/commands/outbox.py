"""`gmina outbox send [--until-empty]` and `gmina outbox status`: the outbox by hand."""

from __future__ import annotations

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.common import settings_from, with_store
from kernel.clock import SystemClock
from notifier.providers import build_dispatcher, build_senders, close_senders
from storage.outbox import status_counts


@click.group("outbox")
def outbox_group() -> None:
    """Every message to residents goes through the outbox; `gmina run` delivers it on its own."""


@outbox_group.command("send")
@click.option(
    "--until-empty",
    is_flag=True,
    help="Also wait out retries until nothing is pending (a provider that stays down keeps "
    "this waiting until the messages' retry window ends).",
)
@click.pass_context
def send_command(ctx: click.Context, until_empty: bool) -> None:
    """Deliver what is queued now, on every channel that is configured."""
    settings = settings_from(ctx)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> int:
        senders = build_senders(settings)
        if not senders:
            raise click.ClickException(
                "no channel is configured to send on (telegram.token, sms.twilio)"
            )
        dispatcher = build_dispatcher(sessions, settings, SystemClock(), senders)
        try:
            return await dispatcher.run_until_idle(wait_for_retries=until_empty)
        finally:
            await close_senders(senders)

    handled = with_store(settings, work)
    click.echo(f"handled {handled} messages")


@outbox_group.command("status")
@click.pass_context
def status_command(ctx: click.Context) -> None:
    """Counts of outbound messages by channel and status."""
    settings = settings_from(ctx)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, int]]:
        async with sessions() as session:
            return await status_counts(session)

    rows = with_store(settings, work)
    if not rows:
        click.echo("the outbox is empty")
    for channel, status, count in rows:
        click.echo(f"{channel}\t{status}\t{count}")
