"""The Rasa YAML parser, the deterministic split, and the packaged training data itself."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from intents import INTENTS
from intents.data import (
    Example,
    NluDataError,
    dump_nlu_yaml,
    example_key,
    load_nlu_yaml,
    load_packaged,
    packaged_paths,
    parse_annotated,
    split,
    without,
)
from intents.entities import EntityExtractor

MIN_EXAMPLES = {"pl": 60, "en": 40, "uk": 40}


@pytest.fixture(scope="module")
def packaged() -> list[Example]:
    return load_packaged()


def test_parse_annotated_strips_markup_and_keeps_offsets() -> None:
    text, entities = parse_annotated(
        'ile za [śmieci](obligation_kind:waste_fee) i [psa]{"entity": "obligation_kind", '
        '"value": "dog_fee"} do [15.03.2027](date:2027-03-15) w [RS-2026-000001](case_ref)?'
    )
    assert text == "ile za śmieci i psa do 15.03.2027 w RS-2026-000001?"
    assert [(e["entity"], e["value"], text[e["start"] : e["end"]]) for e in entities] == [
        ("obligation_kind", "waste_fee", "śmieci"),
        ("obligation_kind", "dog_fee", "psa"),
        ("date", "2027-03-15", "15.03.2027"),
        ("case_ref", "RS-2026-000001", "RS-2026-000001"),
    ]


def test_parse_annotated_rejects_bad_json() -> None:
    with pytest.raises(NluDataError):
        parse_annotated('[x]{"entity": }')


def test_load_nlu_yaml_reads_intents_and_skips_other_blocks(tmp_path: Path) -> None:
    path = tmp_path / "nlu_en.yml"
    path.write_text(
        'version: "3.1"\n'
        "nlu:\n"
        "- intent: pay\n"
        "  examples: |\n"
        "    - pay the [dog fee](obligation_kind:dog_fee)\n"
        "    - send me the link\n"
        "- synonym: dog_fee\n"
        "  examples: |\n"
        "    - dog tax\n"
        "- intent: greet\n"
        "  metadata:\n"
        "    language: uk\n"
        "  examples: |\n"
        "    - привіт\n",
        encoding="utf-8",
    )
    examples = load_nlu_yaml(path)
    assert [(e.intent, e.text, e.language) for e in examples] == [
        ("pay", "pay the dog fee", "en"),
        ("pay", "send me the link", "en"),
        ("greet", "привіт", "uk"),
    ]
    assert examples[0].entities[0]["value"] == "dog_fee"


@pytest.mark.parametrize(
    "content",
    ["just text", "nlu: 3", "nlu:\n- intent: pay\n  examples: |\n    no dash\n", "nlu: [a"],
)
def test_load_nlu_yaml_rejects_what_is_not_nlu_data(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(NluDataError):
        load_nlu_yaml(path)


def test_dump_and_load_round_trip(tmp_path: Path, packaged: list[Example]) -> None:
    sample = packaged[::40]
    path = tmp_path / "round.yml"
    path.write_text(dump_nlu_yaml(sample), encoding="utf-8")
    assert load_nlu_yaml(path) == sample


def test_split_is_deterministic_stratified_and_disjoint(packaged: list[Example]) -> None:
    train, test = split(packaged, test_fraction=0.2, seed=0)
    _, test_again = split(list(reversed(packaged)), test_fraction=0.2, seed=0)
    assert sorted(e.text for e in test_again) == sorted(e.text for e in test)
    assert len(train) + len(test) == len(packaged)
    assert not {example_key(e.text) for e in train} & {example_key(e.text) for e in test}
    per_group = Counter((e.language, e.intent) for e in test)
    for (language, intent), n in Counter((e.language, e.intent) for e in packaged).items():
        assert abs(per_group[(language, intent)] - 0.2 * n) <= 1
    assert split(packaged, 0.2, 1)[1] != test


def test_split_rejects_a_silly_fraction(packaged: list[Example]) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        split(packaged, test_fraction=1.0)


def test_without_drops_examples_that_differ_only_in_case_and_diacritics() -> None:
    kept = without(
        [Example("Ile mam do zapłaty?", "check_balance"), Example("hej", "greet")],
        [Example("ile mam do zaplaty", "check_balance")],
    )
    assert [e.text for e in kept] == ["hej"]


def test_every_language_file_has_every_intent_with_enough_examples(
    packaged: list[Example],
) -> None:
    counts = Counter((e.language, e.intent) for e in packaged)
    assert {p.name for p in packaged_paths()} == {"nlu_pl.yml", "nlu_en.yml", "nlu_uk.yml"}
    for language, minimum in MIN_EXAMPLES.items():
        for intent in INTENTS:
            assert counts[(language, intent)] >= minimum, (language, intent)
    assert {e.intent for e in packaged} == set(INTENTS)


def test_no_example_is_repeated_or_claimed_by_two_intents(packaged: list[Example]) -> None:
    seen: dict[str, str] = {}
    for example in packaged:
        key = example_key(example.text)
        assert key not in seen, (example.text, seen.get(key), example.intent)
        seen[key] = example.intent


def test_annotations_agree_with_the_extractor(packaged: list[Example]) -> None:
    """Every marked entity is what the run-time extractor finds there (dates without a value are
    relative to the day, so only their span is compared)."""
    extractor = EntityExtractor()
    for example in packaged:
        if not example.entities:
            continue
        found = extractor.extract(example.text, date(2026, 1, 10))
        spans = {(e["entity"], e["start"], e["end"]): e["value"] for e in found}
        for entity in example.entities:
            key = (entity["entity"], entity["start"], entity["end"])
            assert key in spans, (example.text, entity)
            if entity["entity"] != "date" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", entity["value"]):
                assert spans[key] == entity["value"], (example.text, entity)
