"""`gmina demo-data`: load (or write as CSV) the synthetic Ruda Śląska."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.common import settings_from, with_store
from kernel.clock import SystemClock, today_in_warsaw
from storage.demo import DemoSummary, count_taxpayers, load_demo, write_demo_csv
from storage.ledger import LedgerPolicy


@click.command("demo-data")
@click.option(
    "--taxpayers", type=click.IntRange(min=1), default=None, help="How many (demo.taxpayers)."
)
@click.option("--seed", type=int, default=None, help="The random seed (demo.seed).")
@click.option("--if-empty", is_flag=True, help="Load only into a store with no taxpayers.")
@click.option(
    "--csv-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write taxpayers.csv, obligations.csv and payments.csv here instead of loading them.",
)
@click.pass_context
def demo_data_command(
    ctx: click.Context,
    taxpayers: int | None,
    seed: int | None,
    if_empty: bool,
    csv_dir: Path | None,
) -> None:
    """A synthetic but realistic city: valid PESEL/NIP/NRB, Ruda Śląska streets, every kind."""
    settings = settings_from(ctx)
    size = taxpayers or settings.demo.taxpayers
    seed = settings.demo.seed if seed is None else seed
    clock = SystemClock()
    if csv_dir is not None:
        summary = write_demo_csv(csv_dir, size, seed, today_in_warsaw(clock), settings.ledger)
        click.echo(f"wrote {_counts(summary)} to {click.format_filename(csv_dir)}")
        return

    async def work(sessions: async_sessionmaker[AsyncSession]) -> DemoSummary | int:
        async with sessions() as session:
            if if_empty:
                present = await count_taxpayers(session)
                await session.rollback()
                if present:
                    return present
            return await load_demo(
                session,
                taxpayers=size,
                seed=seed,
                clock=clock,
                ledger=settings.ledger,
                policy=LedgerPolicy.from_settings(settings.ledger),
            )

    outcome = with_store(settings, work)
    if isinstance(outcome, int):
        click.echo(f"the store already has {outcome} taxpayers: demo data not loaded")
        return
    click.echo(f"loaded {_counts(outcome)}; try: gmina balance {outcome.sample_ref}")


def _counts(summary: DemoSummary) -> str:
    return (
        f"the demo city: {summary.taxpayers} taxpayers, {summary.obligations} obligations, "
        f"{summary.payments} payments"
    )
