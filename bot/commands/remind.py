"""`gmina remind plan [--on DATE] [--dry-run]`: the reminders of a day, by hand."""

from __future__ import annotations

from datetime import date

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.common import DATE, settings_from, with_store
from kernel.clock import Clock, SystemClock, today_in_warsaw
from notifier.reminders import DayPlan, Policy, plan_day


@click.group("remind")
def remind_group() -> None:
    """Reminders before and after each deadline; `gmina run` plans them every day on its own."""


@remind_group.command("plan")
@click.option("--on", "on", type=DATE, default=None, help="The day (default: today, Warsaw).")
@click.option("--dry-run", is_flag=True, help="List the reminders; queue nothing.")
@click.pass_context
def plan_command(ctx: click.Context, on: date | None, dry_run: bool) -> None:
    """Queue the reminders due on a day under the reminder policy (reminders.* keys).

    Planning a day again queues only what was not queued yet. With --dry-run, one line per
    reminder: taxpayer reference, channel, and the obligations it lists."""
    settings = settings_from(ctx)
    clock: Clock = ctx.find_root().obj.get("clock") or SystemClock()
    policy = Policy.from_settings(settings)
    day = on or today_in_warsaw(clock)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> DayPlan:
        async with sessions() as session:
            plan = await plan_day(session, day, policy, clock.now(), dry_run=dry_run)
            await session.commit()
        return plan

    plan = with_store(settings, work)
    if dry_run:
        for item in plan.reminders:
            refs = " ".join(obligation.ref for obligation in item.taxpayer.obligations)
            click.echo(f"{item.taxpayer.ref}\t{item.message.channel}\t{refs}")
        click.echo(f"{len(plan.reminders)} reminders due on {day.isoformat()} (dry run)")
    else:
        click.echo(
            f"{plan.queued} reminders queued for {day.isoformat()} "
            f"({len(plan.reminders) - plan.queued} queued before)"
        )
