"""`gmina nlu`: the assistant's understanding, from the terminal.

gmina nlu parse "ile mam do zapłaty?"          one JSON object
echo "kiedy płacę za śmieci" | gmina nlu parse -   one JSON object a line
gmina nlu test data.yml [--holdout]             accuracy, macro-F1, per intent and language
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bot.commands.common import settings_from
from intents import NLU
from intents.data import NluDataError, load_nlu_yaml, load_packaged, without

LANGUAGE_CHOICE = click.Choice(["pl", "en", "uk"])


def _echo_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, ensure_ascii=False))


@click.group("nlu")
def nlu() -> None:
    """Intents, entities and language of residents' messages."""


@nlu.command("parse")
@click.pass_context
@click.argument("text")
@click.option(
    "--lang",
    type=LANGUAGE_CHOICE,
    default=None,
    help="The conversation's language, for replies too short to tell.",
)
def parse_command(ctx: click.Context, text: str, lang: str | None) -> None:
    """Print what TEXT means as JSON; with "-", one text a line from stdin, one object a line."""
    model = NLU.default(settings_from(ctx).nlu.cache_dir)
    if text != "-":
        _echo_json(model.parse(text, language_hint=lang))
        return
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        if line.strip():
            _echo_json(model.parse(line, language_hint=lang))


@nlu.command("test")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--holdout",
    is_flag=True,
    help="Train on the packaged data without FILE's examples first, so FILE is truly unseen.",
)
@click.option(
    "--errors/--no-errors",
    default=False,
    show_default=True,
    help="List the misclassified examples.",
)
def test_command(file: Path, holdout: bool, errors: bool) -> None:
    """Score the model on FILE (Rasa 3.x NLU YAML, any mix of pl, en and uk)."""
    try:
        examples = load_nlu_yaml(file)
    except NluDataError as e:
        raise click.ClickException(str(e)) from e
    if not examples:
        raise click.ClickException(f"{file}: no intent examples")
    if holdout:
        training = without(load_packaged(), examples)
        model = NLU.train(training)
    else:
        model = NLU.default()
    report = model.evaluate(examples)
    if holdout:
        report["trained_on"] = len(training)
    if not errors:
        del report["errors"]
    _echo_json(report)
