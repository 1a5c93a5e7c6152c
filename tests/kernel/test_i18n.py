from datetime import date
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po

from kernel.i18n import (
    LANGUAGES,
    UnknownMessage,
    catalog_path,
    format_account,
    format_date,
    format_money,
    normalise_language,
    placeholders,
    render,
)
from kernel.messages import MESSAGES, Plural

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("pl", f"1{NBSP}234,56{NBSP}zł"),
        ("en", f"PLN{NBSP}1,234.56"),
        ("uk", f"1{NBSP}234,56{NBSP}PLN"),
    ],
)
def test_money_is_formatted_for_each_language(language: str, expected: str) -> None:
    assert format_money(Decimal("1234.56"), language) == expected
    assert format_money("1234.56", language) == expected


def test_money_keeps_grosze() -> None:
    assert format_money("8.7", "pl") == f"8,70{NBSP}zł"
    assert format_money(0, "en") == f"PLN{NBSP}0.00"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("pl", "15 marca 2027"), ("en", "15 March 2027"), ("uk", "15 березня 2027\u202fр.")],
)
def test_dates_are_long_and_in_the_language(language: str, expected: str) -> None:
    assert format_date(date(2027, 3, 15), language) == expected
    assert format_date("2027-03-15", language) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "Masz 1 sprawę:"),
        (2, "Masz 2 sprawy:"),
        (4, "Masz 4 sprawy:"),
        (5, "Masz 5 spraw:"),
        (12, "Masz 12 spraw:"),
        (14, "Masz 14 spraw:"),
        (21, "Masz 21 spraw:"),
        (22, "Masz 22 sprawy:"),
        (25, "Masz 25 spraw:"),
        (104, "Masz 104 sprawy:"),
        (112, "Masz 112 spraw:"),
    ],
)
def test_polish_plural_forms(count: int, expected: str) -> None:
    assert render("utter_cases", "pl", {"count": count, "lines": []}).splitlines()[0] == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "У вас 1 справа:"),
        (3, "У вас 3 справи:"),
        (5, "У вас 5 справ:"),
        (11, "У вас 11 справ:"),
        (21, "У вас 21 справа:"),
        (22, "У вас 22 справи:"),
        (111, "У вас 111 справ:"),
    ],
)
def test_ukrainian_plural_forms(count: int, expected: str) -> None:
    assert render("utter_cases", "uk", {"count": count, "lines": []}).splitlines()[0] == expected


def test_english_plural_forms() -> None:
    assert render("utter_cases", "en", {"count": 1, "lines": []}) == "You have 1 case:\n"
    assert render("utter_cases", "en", {"count": 2, "lines": []}) == "You have 2 cases:\n"


def test_plural_agreement_reaches_the_verb() -> None:
    values = {"change_date": "2027-05-01", "deadline_date": "2027-06-10"}
    assert "mieszka 1 osoba" in render(
        "utter_summary_waste_declaration_change", "pl", {**values, "count": 1}
    )
    assert "mieszkają 3 osoby" in render(
        "utter_summary_waste_declaration_change", "pl", {**values, "count": 3}
    )
    assert "mieszka 5 osób" in render(
        "utter_summary_waste_declaration_change", "pl", {**values, "count": 5}
    )


def test_values_are_formatted_by_their_names() -> None:
    text = render(
        "utter_balance",
        "pl",
        {
            "date": "2027-05-10",
            "total_amount": "1530.00",
            "lines": [
                {
                    "response": "utter_balance_kind_line",
                    "kind": "property_tax",
                    "amount": "1500",
                    "count": 2,
                    "due_date": "2027-05-17",
                },
                {"response": "utter_balance_interest_line", "interest_amount": "23"},
                {
                    "response": "utter_deadline_rule_line",
                    "kind": "dog_fee",
                    "dates": ["2028-03-31"],
                },
            ],
        },
    )
    assert text == (
        "Twoje należności na 10 maja 2027:\n"
        f"• podatek od nieruchomości: 1{NBSP}500,00{NBSP}zł (2 raty, terminy od 17 maja 2027)\n"
        f"  w tym odsetki za zwłokę: 23,00{NBSP}zł\n"
        "• opłata od posiadania psów: 31 marca 2028\n"
        f"Razem do zapłaty: 1{NBSP}530,00{NBSP}zł."
    )


def test_a_list_of_dates_is_joined_in_the_language() -> None:
    dates = {"kind": "vehicle_tax", "dates": ["2027-09-15", "2028-02-15"]}
    assert render("utter_deadline_rule_line", "en", dates) == (
        "• tax on means of transport: 15 September 2027 and 15 February 2028"
    )
    assert render("utter_deadline_rule_line", "pl", dates) == (
        "• podatek od środków transportowych: 15 września 2027 i 15 lutego 2028"
    )


def test_account_numbers_are_grouped() -> None:
    assert format_account("22105012141000000012345678") == "22 1050 1214 1000 0000 1234 5678"
    assert format_account("not an account") == "not an account"


def test_unknown_keys_and_missing_values_are_errors() -> None:
    with pytest.raises(UnknownMessage):
        render("utter_nothing_like_this", "pl")
    with pytest.raises(ValueError, match=r"utter_handoff: no value for \{ticket_ref\}"):
        render("utter_handoff", "pl", {})


def test_languages_are_normalised() -> None:
    assert normalise_language("uk-UA") == "uk"
    assert normalise_language("EN") == "en"
    assert normalise_language("de") == "pl"
    assert normalise_language(None) == "pl"


def _source_placeholders(source: str | Plural) -> set[str]:
    if isinstance(source, Plural):
        return placeholders(source.singular) | placeholders(source.plural)
    return placeholders(source)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogues_hold_exactly_the_source_messages(language: str) -> None:
    with catalog_path(language).open("rb") as po_file:
        catalog = read_po(po_file)
    entries = {message.context: message for message in catalog if message.id}
    assert set(entries) == set(MESSAGES), "run pybabel extract and update (see babel.cfg)"
    for key, source in MESSAGES.items():
        message = entries[key]
        expected_id = (source.singular, source.plural) if isinstance(source, Plural) else source
        assert message.id == expected_id, key


@pytest.mark.parametrize("language", ["pl", "uk"])
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    with catalog_path(language).open("rb") as po_file:
        catalog = read_po(po_file)
    for message in catalog:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(forms), f"{language}: {message.context} is not translated"
        assert not message.fuzzy, f"{language}: {message.context} is fuzzy"
        wanted = _source_placeholders(MESSAGES[str(message.context)])
        for form in forms:
            assert placeholders(str(form)) == wanted, f"{language}: {message.context}"
