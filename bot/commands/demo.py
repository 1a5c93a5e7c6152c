"""`gmina demo-data`: load (or write as CSV) the synthetic Ruda Śląska."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.common import settings_from, with_store
from kernel.clock import SystemClock, today_in_warsaw
from storage.bindings import IssuedToken, create_link_token
from storage.demo import (
    DEMO_SAMPLE_REF,
    DemoSummary,
    count_taxpayers,
    load_demo,
    loaded_demo_ref,
    write_demo_csv,
)
from storage.ledger import LedgerPolicy

DEMO_TOKEN_TTL = timedelta(hours=24)


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

    async def work(
        sessions: async_sessionmaker[AsyncSession],
    ) -> tuple[DemoSummary | int, IssuedToken | None]:
        async with sessions() as session:
            outcome: DemoSummary | int
            present = await count_taxpayers(session) if if_empty else 0
            if present:
                outcome = present
            else:
                outcome = await load_demo(
                    session,
                    taxpayers=size,
                    seed=seed,
                    clock=clock,
                    ledger=settings.ledger,
                    policy=LedgerPolicy.from_settings(settings.ledger),
                )
            sample = await loaded_demo_ref(session)
            token = None
            if sample is not None:
                token = await create_link_token(
                    session, sample, clock.now(), ttl=DEMO_TOKEN_TTL, issued_by="demo"
                )
            await session.commit()
            return outcome, token

    outcome, token = with_store(settings, work)
    if isinstance(outcome, int):
        click.echo(f"the store already has {outcome} taxpayers: demo data not loaded")
    else:
        click.echo(f"loaded {_counts(outcome)}; try: gmina balance {outcome.sample_ref}")
    if token is not None:
        # Printed, not logged: a newcomer's way into the demo conversation as a verified resident.
        click.echo(
            f"web chat: open {settings.web.public_base_url}/ and send "
            f"/start {token.token} to talk as demo taxpayer {DEMO_SAMPLE_REF} (valid 24 hours)"
        )


def _counts(summary: DemoSummary) -> str:
    return (
        f"the demo city: {summary.taxpayers} taxpayers, {summary.obligations} obligations, "
        f"{summary.payments} payments"
    )
