"""`gmina import bank-statement FILE` and `gmina payments unmatched|assign`: the city's bank
statements booked, and credits that matched no taxpayer handled by staff.

See docs/bank-statements.md."""

from __future__ import annotations

import getpass
import json
import logging
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.common import report_import, settings_from, with_store
from kernel.clock import Clock, SystemClock
from kernel.errors import ConflictError, NotFoundError
from kernel.money import format_plain
from payments.statements import StatementRefused, StatementResult, import_statement
from storage.bookings import Booked, UnmatchedRow, assign_unmatched, list_unmatched
from storage.ledger import LedgerError, LedgerPolicy

log = logging.getLogger(__name__)

_UNMATCHED_COLUMNS = ("bank ref", "paid on", "amount", "account paid to", "payer", "title")


def _clock(ctx: click.Context) -> Clock:
    """The root context's clock (tests put a frozen one in `obj`), else the system clock."""
    clock: Clock = ctx.find_root().obj.get("clock") or SystemClock()
    return clock


@click.command("bank-statement")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Read, match and report; write nothing.")
@click.pass_context
def bank_statement_command(ctx: click.Context, file: str, dry_run: bool) -> None:
    """Book the credits of an MT940 or camt.053 statement. All or nothing: each problem is
    reported as FILE:LINE: reason (camt.053: FILE: entry N: reason) and nothing is written;
    a credit booked before (by the bank's reference) is not booked again."""
    settings = settings_from(ctx)
    policy = LedgerPolicy.from_settings(settings.ledger)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> StatementResult:
        async with sessions() as session:
            return await import_statement(
                session, Path(file), policy, dry_run=dry_run, display_name=file, clock=_clock(ctx)
            )

    report_import(ctx, file, settings, work, (LedgerError, StatementRefused))


@click.group("payments")
def payments_group() -> None:
    """Money received: bank credits that matched no taxpayer, booked by hand."""


def _unmatched_json(row: UnmatchedRow) -> dict[str, Any]:
    return {
        "bank_ref": row.external_ref,
        "paid_on": row.paid_on.isoformat(),
        "amount": format_plain(row.amount),
        "account": row.account,
        "payer": row.counterparty,
        "payer_account": row.counterparty_account,
        "title": row.title,
        "statement": row.origin,
        "taxpayer_ref": row.taxpayer_ref,
        "assigned_by": row.assigned_by,
        "assigned_at": row.assigned_at.isoformat() if row.assigned_at else None,
    }


def _unmatched_table(rows: list[UnmatchedRow]) -> str:
    cells = [
        (r.external_ref, r.paid_on.isoformat(), format_plain(r.amount), r.account,
         r.counterparty[:30], r.title[:40])
        for r in rows
    ]  # fmt: skip
    widths = [
        max(len(c) for c in column) for column in zip(_UNMATCHED_COLUMNS, *cells, strict=True)
    ]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(width) if index == 2 else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return "\n".join([line(_UNMATCHED_COLUMNS), *(line(row) for row in cells)])


@payments_group.command("unmatched")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of objects.")
@click.option("--all", "include_assigned", is_flag=True, help="Assigned ones too.")
@click.pass_context
def unmatched_command(ctx: click.Context, as_json: bool, include_assigned: bool) -> None:
    """Bank credits that matched no taxpayer's individual account, oldest first."""
    settings = settings_from(ctx)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[UnmatchedRow]:
        async with sessions() as session:
            return await list_unmatched(session, include_assigned=include_assigned)

    rows = with_store(settings, work)
    # Payers' names and accounts: a staff look-up of people's data is logged (tax secrecy).
    log.info("staff listed %d unmatched credits", len(rows))
    if as_json:
        click.echo(json.dumps([_unmatched_json(row) for row in rows], ensure_ascii=False))
    elif rows:
        click.echo(_unmatched_table(rows))
    else:
        click.echo("no unmatched credits")


@payments_group.command("assign")
@click.argument("bank_ref")
@click.argument("taxpayer_ref")
@click.option("--as", "staff", default=None, help="The staff member acting (default: the OS user).")
@click.pass_context
def assign_command(ctx: click.Context, bank_ref: str, taxpayer_ref: str, staff: str | None) -> None:
    """Book the unmatched credit BANK_REF as TAXPAYER_REF's payment (audited)."""
    settings = settings_from(ctx)
    policy = LedgerPolicy.from_settings(settings.ledger)
    actor = f"staff:{staff or getpass.getuser()}"
    now = _clock(ctx).now()

    async def work(sessions: async_sessionmaker[AsyncSession]) -> Booked:
        async with sessions() as session:
            booked = await assign_unmatched(
                session, bank_ref, taxpayer_ref, actor=actor, policy=policy, now=now
            )
            await session.commit()
            return booked

    try:
        booked = with_store(settings, work)
    except (NotFoundError, ConflictError, LedgerError) as exc:
        raise click.ClickException(str(exc)) from None
    log.info("credit %s assigned to taxpayer %s by %s", bank_ref, taxpayer_ref, actor)
    click.echo(f"credit {bank_ref} booked as payment {booked.ref} of taxpayer {taxpayer_ref}")
