"""`gmina`: the one console script that carries every operator command."""

from __future__ import annotations

import click

from bot.commands.actions_server import actions_command
from bot.commands.chat import chat_command
from bot.commands.common import settings_from
from bot.commands.demo import demo_data_command
from bot.commands.imports import import_group
from bot.commands.ledger import balance_command, rates_group
from bot.commands.nlu import nlu
from bot.commands.residents import residents_group
from bot.commands.retention import retention_group
from bot.commands.serve import run_command
from storage.migrate import current_revision, head_revision, upgrade


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """gmina-assistant: a city's assistant for local taxes and fees.

    Configuration comes from config.yml (or GMINA_CONFIG) and GMINA__SECTION__KEY variables.
    """
    ctx.ensure_object(dict)


@main.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to reach.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply Alembic migrations to database.url."""
    url = settings_from(ctx).database.url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)} (head {head_revision(url)})")


main.add_command(run_command)
main.add_command(balance_command)
main.add_command(rates_group)
main.add_command(import_group)
main.add_command(demo_data_command)
main.add_command(residents_group)
main.add_command(retention_group)
main.add_command(chat_command)
main.add_command(actions_command)
main.add_command(nlu)
