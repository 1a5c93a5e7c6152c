"""`gmina residents`: staff hand a resident the means to verify a chat."""

from __future__ import annotations

from datetime import timedelta

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands.common import settings_from, with_store
from bot.portal import MAX_TTL_MINUTES, telegram_start_link
from kernel.clock import SystemClock
from storage.bindings import LINK_TOKEN_TTL, IssuedToken, create_link_token, issue_activation_code
from storage.taxpayers import UnknownTaxpayer

STAFF_ACTOR = "staff:cli"


@click.group("residents")
def residents_group() -> None:
    """Verified residents: link tokens and activation codes."""


@residents_group.command("link-token", short_help="Print a one-time chat link token.")
@click.argument("taxpayer_ref")
@click.option(
    "--ttl-minutes",
    type=click.IntRange(1, MAX_TTL_MINUTES),
    default=int(LINK_TOKEN_TTL.total_seconds() // 60),
    show_default=True,
    help="How long the token stays valid.",
)
@click.pass_context
def link_token_command(ctx: click.Context, taxpayer_ref: str, ttl_minutes: int) -> None:
    """Print a one-time token that binds a chat to TAXPAYER_REF (`/start TOKEN`).

    The first line is the token; a second line, when telegram.bot_username is set, is the
    t.me link that opens the bot with it.
    """
    settings = settings_from(ctx)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> IssuedToken:
        async with sessions() as session:
            issued = await create_link_token(
                session,
                taxpayer_ref,
                SystemClock().now(),
                ttl=timedelta(minutes=ttl_minutes),
                issued_by=STAFF_ACTOR,
            )
            await session.commit()
            return issued

    try:
        issued = with_store(settings, work)
    except UnknownTaxpayer:
        click.echo(f"unknown taxpayer: {taxpayer_ref}", err=True)
        ctx.exit(1)
    click.echo(issued.token)
    link = telegram_start_link(settings, issued.token)
    if link:
        click.echo(link)


@residents_group.command("activation-code", short_help="Print a new activation code.")
@click.argument("taxpayer_ref")
@click.pass_context
def activation_code_command(ctx: click.Context, taxpayer_ref: str) -> None:
    """Print a new activation code for TAXPAYER_REF, replacing the old one.

    With the code and their PESEL or NIP a resident verifies in any chat.
    """
    settings = settings_from(ctx)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> str:
        async with sessions() as session:
            code = await issue_activation_code(
                session, taxpayer_ref, SystemClock().now(), issued_by=STAFF_ACTOR
            )
            await session.commit()
            return code

    try:
        code = with_store(settings, work)
    except UnknownTaxpayer:
        click.echo(f"unknown taxpayer: {taxpayer_ref}", err=True)
        ctx.exit(1)
    click.echo(code)
