"""`gmina retention purge [--dry-run]`: delete what the store keeps no longer than it must."""

from __future__ import annotations

import click

from bot.commands.common import settings_from, with_store
from bot.retention import purge
from kernel.clock import SystemClock


@click.group("retention")
def retention_group() -> None:
    """What the store deletes after retention.* (gmina run does it on its own too)."""


@retention_group.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.pass_context
def purge_command(ctx: click.Context, dry_run: bool) -> None:
    """Delete conversations of senders bound to no taxpayer, idle over retention.anonymous_days."""
    settings = settings_from(ctx)
    count = with_store(
        settings,
        lambda sessions: purge(sessions, SystemClock(), settings.retention, dry_run=dry_run),
    )
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {count} conversations of anonymous senders idle over "
        f"{settings.retention.anonymous_days} days"
    )
