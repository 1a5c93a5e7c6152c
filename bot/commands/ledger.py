"""`gmina balance` and `gmina rates`: the ledger for staff and operators."""

from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal, InvalidOperation

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.common import DATE, settings_from, with_store
from kernel.clock import Clock, SystemClock, today_in_warsaw
from kernel.money import format_plain
from storage.balances import (
    Balance,
    InterestRateRow,
    balance_to_json,
    list_interest_rates,
    load_rate_tables,
    refresh_allocations,
    set_interest_rate,
    taxpayer_balance,
    taxpayers_with_payments_since,
)
from storage.ledger import LedgerError, LedgerPolicy
from storage.models import InterestTable

log = logging.getLogger(__name__)

TABLES = click.Choice([table.value for table in InterestTable])
_BALANCE_COLUMNS = ("obligation", "kind", "due", "effective due", "principal", "interest", "total")


def _clock(ctx: click.Context) -> Clock:
    """The root context's clock (tests put a frozen one in `obj`), else the system clock."""
    clock: Clock = ctx.find_root().obj.get("clock") or SystemClock()
    return clock


def _balance_table(balance: Balance) -> str:
    rows = [
        (
            row.obligation_ref,
            row.kind,
            row.due_date.isoformat(),
            row.effective_due_date.isoformat(),
            format_plain(row.principal),
            format_plain(row.interest),
            format_plain(row.total),
        )
        for row in balance.obligations
    ]
    widths = [
        max(len(cell) for cell in column) for column in zip(_BALANCE_COLUMNS, *rows, strict=True)
    ]

    def line(cells: tuple[str, ...]) -> str:
        # Text columns to the left, amounts to the right.
        return "  ".join(
            cell.ljust(width) if index < 4 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    lines = [f"taxpayer {balance.taxpayer_ref}, as of {balance.as_of.isoformat()}"]
    if rows:
        lines += [line(_BALANCE_COLUMNS), *(line(row) for row in rows)]
    else:
        lines.append("nothing outstanding")
    sums = (
        ("total", balance.total),
        ("overdue", balance.overdue),
        ("overpayment", balance.overpayment),
    )
    label_width = max(len(label) for label, _ in sums)
    amount_width = max(len(format_plain(amount)) for _, amount in sums)
    lines += [
        f"{label.ljust(label_width)}  {format_plain(amount).rjust(amount_width)}"
        for label, amount in sums
    ]
    return "\n".join(lines)


@click.command("balance")
@click.argument("taxpayer_ref")
@click.option("--on", "on", type=DATE, default=None, help="As of DATE (default: today, Warsaw).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (see CONTRACT.md).")
@click.pass_context
def balance_command(ctx: click.Context, taxpayer_ref: str, on: date | None, as_json: bool) -> None:
    """What TAXPAYER_REF owes as of a day: principal, interest and totals per obligation."""
    settings = settings_from(ctx)
    as_of = on or today_in_warsaw(_clock(ctx))
    policy = LedgerPolicy.from_settings(settings.ledger)
    # Tax secrecy (OP art. 293 onward): every staff look-up of a person's data is logged.
    log.info("staff balance look-up for taxpayer %s", taxpayer_ref)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> Balance | None:
        async with sessions() as session:
            return await taxpayer_balance(session, taxpayer_ref, as_of, policy)

    try:
        balance = with_store(settings, work)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from exc
    if balance is None:
        click.echo(f"no taxpayer with reference {taxpayer_ref!r}", err=True)
        ctx.exit(1)
        return
    if as_json:
        click.echo(json.dumps(balance_to_json(balance), ensure_ascii=False))
    else:
        click.echo(_balance_table(balance))


@click.group("rates")
def rates_group() -> None:
    """The statutory interest-rate tables (tax: OP art. 56; civil: perpetual usufruct)."""


@rates_group.command("list")
@click.option("--table", type=TABLES, default=None, help="Only this table.")
@click.pass_context
def rates_list(ctx: click.Context, table: str | None) -> None:
    """Each rate and the day it applies from."""
    settings = settings_from(ctx)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[InterestRateRow]:
        async with sessions() as session:
            return await list_interest_rates(session, table)

    click.echo("table  from        rate %")
    for row in with_store(settings, work):
        click.echo(f"{row.table:<5}  {row.effective_from.isoformat()}  {_plain(row.rate_percent)}")


def _plain(rate: Decimal) -> str:
    """`13.500` → `13.5`, `8.000` → `8` (never `1E+1`)."""
    return f"{rate.normalize():f}"


def _percent(ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number like 10.5") from None
    if not rate.is_finite():
        raise click.BadParameter(f"{value!r} is not a number like 10.5")
    return rate


@rates_group.command("set")
@click.option("--table", type=TABLES, required=True, help="tax or civil.")
@click.option("--from", "effective_from", type=DATE, required=True, help="First day it applies.")
@click.option("--rate", callback=_percent, required=True, help="Percent a year, e.g. 10.5.")
@click.pass_context
def rates_set(ctx: click.Context, table: str, effective_from: date, rate: Decimal) -> None:
    """Add the rate in force from a day, or correct it; re-allocates payments it affects."""
    settings = settings_from(ctx)
    policy = LedgerPolicy.from_settings(settings.ledger)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> int:
        async with sessions() as session, session.begin():
            await set_interest_rate(session, table, effective_from, rate)
            # Interest on payments from that day on changes, and so do their splits.
            affected = await taxpayers_with_payments_since(session, effective_from)
            await refresh_allocations(session, affected, policy, await load_rate_tables(session))
            return len(affected)

    try:
        affected = with_store(settings, work)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    log.info("interest rate set: table %s from %s", table, effective_from.isoformat())
    click.echo(
        f"{table} rate from {effective_from.isoformat()}: {_plain(rate)}%; "
        f"allocations recomputed for {affected} taxpayer(s)"
    )
