"""Money is `Decimal` in złoty with two places; these are the only roundings the project uses."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

GROSZ = Decimal("0.01")
ZLOTY = Decimal("1")
ZERO = Decimal("0.00")


def to_grosze(value: Decimal) -> Decimal:
    """Round to whole grosze, half up."""
    return value.quantize(GROSZ, rounding=ROUND_HALF_UP)


def to_whole_zloty(value: Decimal) -> Decimal:
    """OP art. 63 §1: below 50 gr down, from 50 gr up; kept with two places."""
    return value.quantize(ZLOTY, rounding=ROUND_HALF_UP).quantize(GROSZ)


def parse_amount(text: str) -> Decimal:
    """A złoty amount as the finance system writes it: digits, a dot, at most two decimals.

    Raises ValueError with a reason a person can act on.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty amount")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a number: {text!r}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(f"more than two decimal places: {text!r}")
    if "e" in text.lower() or "," in text:
        raise ValueError(f"write the amount with a dot and digits only: {text!r}")
    return value.quantize(GROSZ)


def format_plain(value: Decimal) -> str:
    """`"1234.50"`: the form amounts take in JSON and CSV."""
    return str(to_grosze(value))
