"""`gmina nlu parse` and `gmina nlu test`, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.commands.nlu import nlu

from .conftest import FIXTURES

SMALL_TEST = """version: "3.1"
nlu:
- intent: check_balance
  examples: |
    - ile mam do zapłaty za [śmieci](obligation_kind:waste_fee)?
    - how much do I owe
- intent: greet
  examples: |
    - dzień dobry
    - привіт
"""


def test_parse_prints_one_json_object() -> None:
    result = CliRunner().invoke(nlu, ["parse", "ile mam do zapłaty za śmieci?"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["text"] == "ile mam do zapłaty za śmieci?"
    assert document["language"] == "pl"
    assert document["intent"]["name"] == "check_balance"
    assert document["entities"] == [
        {"entity": "obligation_kind", "value": "waste_fee", "start": 22, "end": 28}
    ]
    assert "śmieci" in result.output  # not \u015b-escaped


def test_parse_reads_stdin_one_text_a_line() -> None:
    result = CliRunner().invoke(
        nlu, ["parse", "-", "--lang", "en"], input="kiedy płacę za śmieci\n\nok\nPAY\n"
    )
    assert result.exit_code == 0, result.output
    documents = [json.loads(line) for line in result.output.splitlines()]
    assert [d["intent"]["name"] for d in documents] == ["list_deadlines", "affirm", "pay"]
    assert [d["language"] for d in documents] == ["pl", "en", "en"]


def test_parse_rejects_an_unknown_language() -> None:
    result = CliRunner().invoke(nlu, ["parse", "hej", "--lang", "de"])
    assert result.exit_code == 2


def test_test_prints_scores(tmp_path: Path) -> None:
    path = tmp_path / "small.yml"
    path.write_text(SMALL_TEST, encoding="utf-8")
    result = CliRunner().invoke(nlu, ["test", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 4
    assert report["accuracy"] == 1.0
    assert report["macro_f1"] == 1.0
    assert report["per_intent"]["greet"] == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2
    }  # fmt: skip
    assert set(report["per_language"]) == {"pl", "en", "uk"}
    assert report["entities"]["obligation_kind"]["f1"] == 1.0
    assert "errors" not in report


def test_test_holdout_trains_without_the_file() -> None:
    path = FIXTURES / "nlu_challenge_en.yml"
    result = CliRunner().invoke(nlu, ["test", str(path), "--holdout", "--errors"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 93
    assert report["trained_on"] > 5000
    assert report["macro_f1"] >= 0.9
    assert isinstance(report["errors"], list)


def test_test_reports_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("hello: world\n", encoding="utf-8")
    result = CliRunner().invoke(nlu, ["test", str(path)])
    assert result.exit_code == 1
    assert "nlu" in result.output
