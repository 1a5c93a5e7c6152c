"""`gmina staff add|passwd|disable|reset-totp|list`: the tax office's accounts (docs/staff.md)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.common import settings_from, with_store
from kernel.clock import SystemClock
from storage.second_factor import reset_second_factor
from storage.staff import (
    Role,
    Staff,
    StaffError,
    add_staff,
    check_password,
    disable_staff,
    list_staff,
    set_password,
)

T = TypeVar("T")

# Changes made from the command line are audited under this actor.
CLI_ACTOR = "staff:cli"


def read_password(name: str, from_stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice at a prompt. A weak
    one ends the command with one line, before the store is touched."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise click.ClickException("the two passwords differ")
    with refused_in_one_line():
        check_password(name, password)
    return password


@contextmanager
def refused_in_one_line(*errors: type[Exception]) -> Iterator[None]:
    """A refusal of ours (a disabled account, a bad segment) ends the command with its line."""
    refusals: tuple[type[Exception], ...] = (StaffError, *errors)
    try:
        yield
    except refusals as exc:
        raise click.ClickException(str(exc)) from None


def in_one_transaction(
    ctx: click.Context,
    act: Callable[[AsyncSession, datetime], Awaitable[T]],
    *refusals: type[Exception],
) -> T:
    """`act(session, now)` in one transaction, committed when it returns; a refusal of ours
    ends the command with its line."""

    async def work(sessions: async_sessionmaker[AsyncSession]) -> T:
        async with sessions() as session:
            done = await act(session, SystemClock().now())
            await session.commit()
            return done

    settings = settings_from(ctx)
    with refused_in_one_line(*refusals):
        return with_store(settings, work)


@click.group("staff")
def staff_group() -> None:
    """Staff accounts for the panel and for `--as NAME` in broadcasts."""


@staff_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([str(role) for role in Role]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def add_command(ctx: click.Context, name: str, role: str, password_stdin: bool) -> None:
    """Add staff member NAME with a role: clerk, approver (also approves broadcasts) or admin."""
    password = read_password(name, password_stdin)

    added = in_one_transaction(
        ctx,
        lambda session, now: add_staff(
            session, name, Role(role), password, actor=CLI_ACTOR, now=now
        ),
    )
    click.echo(f"added {added.name} ({added.role})")


@staff_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def passwd_command(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME."""
    password = read_password(name, password_stdin)

    in_one_transaction(
        ctx, lambda session, now: set_password(session, name, password, actor=CLI_ACTOR, now=now)
    )
    click.echo(f"password of {name} changed")


@staff_group.command("disable")
@click.argument("name")
@click.pass_context
def disable_command(ctx: click.Context, name: str) -> None:
    """Disable NAME: they can no longer log in, create, approve, send or cancel."""
    changed = in_one_transaction(
        ctx, lambda session, now: disable_staff(session, name, actor=CLI_ACTOR, now=now)
    )
    click.echo(f"{name} disabled" if changed else f"{name} was disabled already")


@staff_group.command("reset-totp")
@click.argument("name")
@click.pass_context
def reset_totp_command(ctx: click.Context, name: str) -> None:
    """Forget NAME's second factor and recovery codes (a lost phone) and end their panel
    sessions; they set up a new one at their next login."""
    in_one_transaction(
        ctx, lambda session, now: reset_second_factor(session, name, actor=CLI_ACTOR, now=now)
    )
    click.echo(f"second factor of {name} reset: they set up a new one at their next login")


@staff_group.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """One line per staff member: name, role, enabled or disabled, second factor set or not."""
    settings = settings_from(ctx)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[Staff]:
        async with sessions() as session:
            return await list_staff(session)

    for member in with_store(settings, work):
        state = "disabled" if member.disabled else "enabled"
        totp = "totp" if member.has_totp else "no-totp"
        click.echo(f"{member.name}\t{member.role}\t{state}\t{totp}")
