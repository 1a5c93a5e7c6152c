"""Short answers and fixed words the dialogue needs: counts, days, cancel words, channel and
category names. All matching runs on `intents.normalize.fold`, the one folding of the room.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from intents.entities import upcoming
from intents.normalize import fold

# Apostrophes inside a word ("п'ять"), dropped before matching words.
_APOSTROPHES = re.compile(r"['’ʼ`]")
_PUNCTUATION = re.compile(r"[^\w\s]")


def words(text: str) -> list[str]:
    """The folded words of a message, without punctuation: "Anuluj!" → ["anuluj"]."""
    return _PUNCTUATION.sub(" ", _APOSTROPHES.sub("", fold(text))).split()


def _folded_table(table: Mapping[Any, str]) -> dict[str, Any]:
    return {
        "".join(words(word)): value for value, spaced in table.items() for word in spaced.split()
    }


_NUMBER_WORDS: dict[str, int] = _folded_table(
    {
        0: "zero нуль ноль",
        1: "jeden jedna jedno jednego one один одна одне",
        2: "dwa dwie dwoje dwóch two два дві двоє",
        3: "trzy troje trzech three три троє",
        4: "cztery czworo czterech four чотири четверо",
        5: "pięć pięcioro pięciu five п'ять пять п'ятеро пятеро",
        6: "sześć sześcioro six шість шестеро",
        7: "siedem siedmioro seven сім семеро",
        8: "osiem ośmioro eight вісім восьмеро",
        9: "dziewięć dziewięcioro nine дев'ять девять",
        10: "dziesięć dziesięcioro ten десять",
    }
)
_DIGITS = re.compile(r"\d+")
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DAY = re.compile(r"\b(\d{1,2})[./-](\d{1,2})(?:[./-](\d{4}))?\b")
_YEAR = re.compile(r"\b\d{4}\b")


def parse_count(value: Any) -> int | None:
    """A small whole number written in digits or in words (pl, en, uk): "3", "trzy osoby"."""
    text = str(value)
    digits = _DIGITS.search(text)
    if digits:
        return int(digits.group())
    return next((_NUMBER_WORDS[w] for w in words(text) if w in _NUMBER_WORDS), None)


def parse_day(value: Any, today: date) -> date | None:
    """An ISO date (the NLU's `date` entity) or day.month[.year] as residents write it; without
    a year, the day's next occurrence, as the NLU reads "1 stycznia"."""
    text = str(value)
    try:
        if match := _ISO_DAY.search(text):
            return date(*(int(part) for part in match.groups()))
        if match := _DAY.search(text):
            day, month, year = match.groups()
            if year:
                return date(int(year), int(month), int(day))
            return upcoming(today, int(month), int(day))
    except ValueError:
        return None
    return None


def names_year(text: str) -> bool:
    return _YEAR.search(text) is not None


# Whole messages that cancel a form.
_CANCEL_WORDS = frozenset(
    " ".join(words(phrase))
    for phrase in (
        "anuluj", "anulować", "stop", "przerwij", "koniec", "rezygnuję",
        "cancel", "abort", "quit",
        "скасувати", "скасуй", "відміна", "стоп", "отмена", "отменить",
    )
)  # fmt: skip


def is_cancel_word(text: str) -> bool:
    return " ".join(words(text)) in _CANCEL_WORDS


# Channels and subscription categories named in a message, by word stems.
CHANNEL_STEMS: Mapping[str, tuple[str, ...]] = {
    "sms": ("sms", "esemes", "смс"),
    "email": ("mail", "пошт", "имейл", "імейл", "емейл"),
    "telegram": ("telegram", "телеграм"),
}
CATEGORY_STEMS: Mapping[str, tuple[str, ...]] = {
    "announcements": ("ogłosze", "komunikat", "announcement", "news", "оголошен", "новин"),
    "reminders": ("przypom", "remind", "нагадув"),
}


def named_by_stem(text: str, stems: Mapping[str, tuple[str, ...]]) -> str | None:
    """The first key one of whose stems the message contains."""
    folded = fold(text)
    return next(
        (key for key, found in stems.items() if any(fold(stem) in folded for stem in found)),
        None,
    )
