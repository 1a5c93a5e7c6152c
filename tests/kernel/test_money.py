"""`kernel.money`: the one way an amount is read from text, and the roundings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kernel.money import parse_amount, to_whole_zloty


@pytest.mark.parametrize(
    ("text", "expected"),
    [("120", "120.00"), ("120.5", "120.50"), ("0.01", "0.01"), (" 1000.00 ", "1000.00")],
)
def test_plain_amounts_are_read(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)
    assert str(parse_amount(text)) == expected


@pytest.mark.parametrize(
    "text",
    ["1_000.00", "1,000.00", "12,50", "1e3", "+5", "-5", ".5", "5.", "1.234", "NaN", "Infinity",
     "١٢٣", "1 000", ""],
)  # fmt: skip
def test_any_other_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="amount|positive|decimal"):
        parse_amount(text)


def test_whole_zloty_rounds_half_up() -> None:
    assert to_whole_zloty(Decimal("10.49")) == Decimal("10.00")
    assert to_whole_zloty(Decimal("10.50")) == Decimal("11.00")
