"""Short answers and fixed words: counts, days, cancel words, channel and category names."""

from __future__ import annotations

from datetime import date

import pytest

from intents.answers import (
    CATEGORY_STEMS,
    CHANNEL_STEMS,
    is_cancel_word,
    named_by_stem,
    parse_count,
    parse_day,
)

TODAY = date(2027, 5, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("3 osoby", 3),
        ("dwie osoby", 2),
        ("шість", 6),
        ("trzy", 3),
        ("Pięć", 5),
        ("п'ять", 5),
        ("two of us", 2),
        ("x", None),
    ],
)
def test_counts_in_digits_or_words(text: str, expected: int | None) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-05-01", date(2027, 5, 1)),
        ("od 1.05.2027", date(2027, 5, 1)),
        ("1/6", date(2027, 6, 1)),
        ("1/5", date(2028, 5, 1)),
        ("31.02.2027", None),
        ("wczoraj", None),
    ],
)
def test_days_as_residents_write_them(text: str, expected: date | None) -> None:
    assert parse_day(text, TODAY) == expected


def test_cancel_words_are_whole_messages_in_any_case_and_spelling() -> None:
    assert is_cancel_word("Anuluj!")
    assert is_cancel_word("rezygnuje")
    assert is_cancel_word("Скасуй")
    assert not is_cancel_word("anuluj mój wniosek o raty")


def test_channels_and_categories_are_named_by_their_stems() -> None:
    assert named_by_stem("przypomnienia SMS-em", CHANNEL_STEMS) == "sms"
    assert named_by_stem("chcę dostawać ogłoszenia", CATEGORY_STEMS) == "announcements"
    assert named_by_stem("ogloszenia", CATEGORY_STEMS) == "announcements"
    assert named_by_stem("нагадування на пошту", CHANNEL_STEMS) == "email"
    assert named_by_stem("hello", CHANNEL_STEMS) is None
