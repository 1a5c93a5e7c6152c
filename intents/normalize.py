"""Text folding shared by the classifier, the entity extractor and language detection.

`fold` keeps the length of its input, character for character, so an offset found in the folded
text is the same offset in the resident's original text.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Letters whose NFD form has no combining mark to drop.
_SPECIAL = {"ł": "l", "ß": "s", "ø": "o", "đ": "d", "ı": "i", "’": "'", "`": "'", "ʼ": "'"}


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    lower = char.lower()
    if len(lower) != 1:  # e.g. "İ" lowercases to two code points
        lower = char
    if lower in _SPECIAL:
        return _SPECIAL[lower]
    if lower.isascii():
        return lower
    base = unicodedata.normalize("NFD", lower)[0]
    return base if base.isalnum() else lower


def lower(text: str) -> str:
    """Lowercase without ever changing the length."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def fold(text: str) -> str:
    """Lowercase and strip diacritics (ł→l, ą→a, й→и, ї→і), one character for one."""
    return "".join(_fold_char(c) for c in text)
