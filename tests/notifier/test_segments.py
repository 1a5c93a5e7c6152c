"""The segment language: what reads, and one line naming the column for what does not."""

from __future__ import annotations

import pytest

from storage.segments import BadSegment, Condition, parse_segment


@pytest.mark.parametrize(
    ("spec", "spelled", "conditions"),
    [
        ("all", "all", ()),
        (" ALL ", "all", ()),
        ("district:Bielszowice", "district:Bielszowice", (Condition("district", "Bielszowice"),)),
        (
            "street:Ignacego Paderewskiego, overdue",
            "street:Ignacego Paderewskiego,overdue",
            (Condition("street", "Ignacego Paderewskiego"), Condition("overdue")),
        ),
        (
            "kind:WASTE_FEE,language:uk,channel:SMS",
            "kind:waste_fee,language:uk,channel:sms",
            (
                Condition("kind", "waste_fee"),
                Condition("language", "uk"),
                Condition("channel", "sms"),
            ),
        ),
    ],
)
def test_specs_that_read(spec: str, spelled: str, conditions: tuple[Condition, ...]) -> None:
    segment = parse_segment(spec)
    assert segment.spec == spelled
    assert segment.conditions == conditions
    assert parse_segment(segment.spec) == segment


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "",
            "segment '', column 1: empty; write `all` or conditions such as district:NAME,overdue",
        ),
        (
            "district:Halemba,color:red",
            "segment 'district:Halemba,color:red', column 18: unknown condition 'color' "
            "(known: all, district:, street:, kind:, overdue, language:, channel:)",
        ),
        ("overdue,,language:pl", "segment 'overdue,,language:pl', column 9: an empty condition"),
        ("district:", "segment 'district:', column 1: district needs a value (district:DISTRICT)"),
        ("overdue:yes", "segment 'overdue:yes', column 1: overdue takes no value"),
        (
            "kind:beer_tax",
            "segment 'kind:beer_tax', column 1: kind 'beer_tax' is not one of property_tax,",
        ),
        ("overdue, language:de", "column 10: language 'de' is not one of pl, en, uk"),
        ("channel:fax", "column 1: channel 'fax' is not one of telegram, sms, email"),
        ("all,overdue", "column 1: `all` stands alone, without other conditions"),
        ("x" * 501, "column 501: longer than 500 characters"),
    ],
)
def test_specs_that_do_not_read_are_one_line_with_the_column(spec: str, message: str) -> None:
    with pytest.raises(BadSegment) as caught:
        parse_segment(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_channel_conditions_narrow_the_channels() -> None:
    assert parse_segment("all").channels == ("telegram", "sms", "email")
    assert parse_segment("channel:email").channels == ("email",)
    assert parse_segment("channel:email,channel:sms").channels == ()
