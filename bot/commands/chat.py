"""`gmina chat`: the assistant in the terminal, as an anonymous resident.

The same engine as every channel, on the `console` channel with a new sender each run; `/start
TOKEN` verifies there too. Buttons are listed with numbers: typing the number presses one.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import click

from actions import services
from bot.channels.conversation import understanding
from bot.commands.common import open_store, run, settings_from
from bot.dialogue import Button, DialogueEngine, InboundMessage, OutboundMessage
from kernel.clock import SystemClock
from kernel.i18n import LANGUAGES
from kernel.settings import Settings

CHANNEL = "console"


@click.command("chat")
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default=None,
    help="Language to start in; afterwards the assistant follows the language you write in.",
)
@click.pass_context
def chat_command(ctx: click.Context, lang: str | None) -> None:
    """Talk to the assistant in the terminal as an anonymous resident (Ctrl-D to leave)."""
    run(_chat(settings_from(ctx), lang))


def _show(replies: list[OutboundMessage]) -> tuple[Button, ...]:
    buttons: tuple[Button, ...] = ()
    for reply in replies:
        click.echo(click.style("gmina> ", fg="green") + reply.text)
        if reply.image:
            click.echo(f"       [{reply.image}]")
        buttons = reply.buttons or buttons
    for number, button in enumerate(buttons, start=1):
        click.echo(f"       [{number}] {button.title}")
    return buttons


def _read_line() -> str | None:
    click.echo(click.style("> ", fg="cyan"), nl=False)
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def _pressed(line: str, buttons: tuple[Button, ...]) -> str:
    """A button's payload when its number was typed, else the line itself."""
    choice = line.strip()
    if choice.isdigit() and 1 <= int(choice) <= len(buttons):
        return buttons[int(choice) - 1].payload
    return line


async def _chat(settings: Settings, language: str | None) -> None:
    clock = SystemClock()
    async with open_store(settings) as sessions:
        services.configure(sessions, settings, clock)
        engine = DialogueEngine(sessions, await understanding(clock), clock)
        sender_id = uuid.uuid4().hex
        metadata = {"language": language} if language else {}
        text: str | None = "/start"
        while text is not None:
            replies = await engine.handle(InboundMessage(CHANNEL, sender_id, text, metadata))
            buttons = _show(replies)
            line = await asyncio.to_thread(_read_line)
            text = None if line is None else _pressed(line, buttons)
        click.echo()
