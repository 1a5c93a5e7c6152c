"""Which language a message is written in."""

from __future__ import annotations

import pytest

from intents import detect_language
from intents.data import load_packaged
from intents.language import guess_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ile mam do zapłaty?", "pl"),
        ("ile mam do zaplaty", "pl"),
        ("kiedy place za smieci", "pl"),
        ("dzień dobry", "pl"),
        ("tak", "pl"),
        ("how much do I owe", "en"),
        ("when is the deadline for the dog fee", "en"),
        ("thanks", "en"),
        ("скільки я винен місту", "uk"),
        ("сколько я должен", "uk"),  # Cyrillic is answered in Ukrainian
        ("так", "uk"),
        ("pryvit, skilky ya vynen", "uk"),
        ("dyakuyu", "uk"),
    ],
)
def test_detects_the_language(text: str, expected: str) -> None:
    assert detect_language(text, default="xx") == expected


@pytest.mark.parametrize("text", ["ok", "123", "👍", "", "RS-2026-000123", "?"])
def test_too_short_to_tell_gives_the_default(text: str) -> None:
    assert guess_language(text) is None
    assert detect_language(text, default="en") == "en"
    assert detect_language(text) == "pl"


def test_the_training_data_is_detected_in_its_own_language() -> None:
    decided = wrong = 0
    for example in load_packaged():
        guess = guess_language(example.text)
        if guess is not None:
            decided += 1
            wrong += guess != example.language
    assert decided >= 0.8 * len(load_packaged())
    assert wrong <= 0.005 * decided
