"""`gmina`: the one console script that carries every operator command.

Each command's module is imported only when that command runs (`--help` imports them all): the
conversation's modules alone take a second or two to import, which `gmina nlu parse` or
`gmina balance` should not wait for.
"""

from __future__ import annotations

import importlib

import click

from bot.commands.common import settings_from

# name → "module:attribute" of the click command.
COMMANDS = {
    "actions": "bot.commands.actions_server:actions_command",
    "balance": "bot.commands.ledger:balance_command",
    "chat": "bot.commands.chat:chat_command",
    "demo-data": "bot.commands.demo:demo_data_command",
    "import": "bot.commands.imports:import_group",
    "nlu": "bot.commands.nlu:nlu",
    "outbox": "bot.commands.outbox:outbox_group",
    "payments": "bot.commands.bank:payments_group",
    "rates": "bot.commands.ledger:rates_group",
    "residents": "bot.commands.residents:residents_group",
    "retention": "bot.commands.retention:retention_group",
    "run": "bot.commands.serve:run_command",
}


class LazyGroup(click.Group):
    """A group whose commands in `COMMANDS` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    from storage.migrate import current_revision, head_revision, upgrade

    url = settings_from(ctx).database.url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)} (head {head_revision(url)})")
