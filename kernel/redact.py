"""Masking what must not be kept: PESEL-shaped numbers and activation codes in text.

A resident may type a PESEL or a code anywhere (outside the verification form, to a person at the
office). Texts that are kept (conversation events, hand-off transcripts) pass through
`mask_secrets`; whole saved states through `mask_pesel_everywhere`. Any run of exactly eleven
digits counts, valid checksum or not: a mistyped PESEL is still someone's PESEL, nearly.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_PESEL = re.compile(r"(?<!\d)\d{11}(?!\d)")
# The city's codes: eight of A-Z and 2-9 (no 0/O/1/I), printed ABCD-EFGH. Written with the dash
# any such pair is a code; written as one word only with a digit in it, so that ordinary words
# ("przelewy", "dwie raty") stay.
_CODE_PAIR = re.compile(r"(?<![\w-])[A-HJ-NP-Za-hj-np-z2-9]{4}-[A-HJ-NP-Za-hj-np-z2-9]{4}(?![\w-])")
_CODE_WORD = re.compile(r"(?<![\w-])(?=[A-Za-z]*[2-9])[A-HJ-NP-Za-hj-np-z2-9]{8}(?![\w-])")


def mask_secrets(text: str) -> str:
    """The text with PESEL-shaped numbers and activation-code-shaped words replaced by ***."""
    text = _PESEL.sub(MASK, text)
    text = _CODE_PAIR.sub(MASK, text)
    return _CODE_WORD.sub(MASK, text)


def mask_pesel_everywhere(value: Any) -> Any:
    """A copy of a JSON-shaped value with every PESEL-shaped number in its strings masked."""
    if isinstance(value, str):
        return _PESEL.sub(MASK, value)
    if isinstance(value, dict):
        return {key: mask_pesel_everywhere(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_pesel_everywhere(item) for item in value]
    return value


def mask_recipient(recipient: str) -> str:
    """A recipient (phone, e-mail, chat id) as staff may see it in lists: enough to tell two
    apart, never enough to write to them. `jan.kowalski@example.pl` → `j***@***.pl`,
    `+48600100200` → `***200`."""
    local, at, domain = recipient.partition("@")
    if at:
        top_level = domain.rpartition(".")[2] if "." in domain else ""
        return f"{local[:1]}{MASK}@{MASK}" + (f".{top_level}" if top_level else "")
    # Short identifiers show less: at most a third of them, and never more than three characters.
    shown = min(3, len(recipient) // 3)
    return MASK + (recipient[-shown:] if shown else "")
