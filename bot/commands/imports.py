"""`gmina import taxpayers|obligations|payments FILE [--dry-run]`: the finance system's exports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tqdm import tqdm

from bot.commands.bank import bank_statement_command
from bot.commands.common import report_import, settings_from
from storage.imports import ImportKind, ImportRefused, ImportResult, Progress, import_file
from storage.ledger import LedgerError, LedgerPolicy

# Below this size an import takes a moment and a progress bar would only flicker.
PROGRESS_MIN_BYTES = 5_000_000


@contextmanager
def progress_bar(path: Path, kind: str) -> Iterator[Progress | None]:
    """A row counter on stderr, only for a person watching a large file."""
    if not sys.stderr.isatty() or path.stat().st_size < PROGRESS_MIN_BYTES:
        yield None
        return
    with tqdm(desc=f"checking {kind}", unit=" rows", file=sys.stderr, leave=False) as bar:
        yield bar.update


def run_import(ctx: click.Context, kind: ImportKind, file: str, dry_run: bool) -> None:
    settings = settings_from(ctx)
    policy = LedgerPolicy.from_settings(settings.ledger)
    path = Path(file)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> ImportResult:
        with progress_bar(path, kind.value) as progress:
            async with sessions() as session:
                return await import_file(
                    session,
                    kind,
                    path,
                    dry_run=dry_run,
                    # Errors name the file as the operator typed it.
                    display_name=file,
                    policy=policy,
                    progress=progress,
                )

    report_import(ctx, file, settings, work, (LedgerError, ImportRefused))


def _subcommand(kind: ImportKind) -> click.Command:
    @click.command(kind.value)
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
    @click.pass_context
    def command(ctx: click.Context, file: str, dry_run: bool) -> None:
        run_import(ctx, kind, file, dry_run)

    command.help = (
        f"Import {kind.value}.csv from the finance system. All rows or none: a bad row is "
        "reported as FILE:LINE: column: reason and nothing is written."
    )
    return command


@click.group(name="import")
def import_group() -> None:
    """The city finance system's CSV exports and the bank's statements (CONTRACT.md);
    re-importing changes nothing."""


for _kind in ImportKind:
    import_group.add_command(_subcommand(_kind))
# MT940 and camt.053, booked through storage.bookings.
import_group.add_command(bank_statement_command)
