"""Money is `Decimal` in złoty with two places; these are the only roundings the project uses."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

GROSZ = Decimal("0.01")
ZLOTY = Decimal("1")
ZERO = Decimal("0.00")

_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_TOO_PRECISE = re.compile(r"[0-9]+\.[0-9]{3,}")


def to_grosze(value: Decimal) -> Decimal:
    """Round to whole grosze, half up."""
    return value.quantize(GROSZ, rounding=ROUND_HALF_UP)


def to_whole_zloty(value: Decimal) -> Decimal:
    """OP art. 63 §1: below 50 gr down, from 50 gr up; kept with two places."""
    return value.quantize(ZLOTY, rounding=ROUND_HALF_UP).quantize(GROSZ)


def parse_amount(text: str) -> Decimal:
    """A złoty amount as the finance system writes it: ASCII digits, then at most a dot and one
    or two decimals (`1234.50`). No sign, no grouping (`1_000.00`, `1 000`), no exponent.

    Raises ValueError with a reason a person can act on.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty amount")
    if _PLAIN_AMOUNT.fullmatch(text):
        return Decimal(text).quantize(GROSZ)
    if _PLAIN_AMOUNT.fullmatch(text.removeprefix("-")):
        raise ValueError(f"must be positive: {text!r}")
    if _TOO_PRECISE.fullmatch(text):
        raise ValueError(f"more than two decimal places: {text!r}")
    raise ValueError(f"write the amount with a dot and digits only: {text!r}")


def to_grosze_count(value: Decimal) -> int:
    """Whole grosze, as the store keeps money (`120.50` → 12050); ValueError for a fraction."""
    count = value.scaleb(2)
    if count != count.to_integral_value():
        raise ValueError(f"a fraction of a grosz: {value}")
    return int(count)


def from_grosze_count(count: int) -> Decimal:
    """Złoty with two places from whole grosze (12050 → `120.50`)."""
    return Decimal(count).scaleb(-2)


def format_plain(value: Decimal) -> str:
    """`"1234.50"`: the form amounts take in JSON and CSV."""
    return str(to_grosze(value))
