"""Entities found by rule and lexicon, with offsets into the resident's own text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intents.entities import EntityExtractor
from intents.normalize import fold

TODAY = date(2026, 11, 26)
EXTRACTOR = EntityExtractor()


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EXTRACTOR


def found(extractor: EntityExtractor, text: str, today: date = TODAY) -> list[tuple[str, str, str]]:
    entities = extractor.extract(text, today)
    for e in entities:
        assert 0 <= e["start"] < e["end"] <= len(text)
    return [(e["entity"], e["value"], text[e["start"] : e["end"]]) for e in entities]


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("kiedy płacę za śmieci", "waste_fee", "śmieci"),
        ("ile za smieci", "waste_fee", "smieci"),
        ("opłata za odpady komunalne", "waste_fee", "odpady"),
        ("ile wynosi opłata za wywóz śmieci", "waste_fee", "wywóz śmieci"),
        ("how much is the garbage fee", "waste_fee", "garbage fee"),
        ("rubbish", "waste_fee", "rubbish"),
        ("скільки платити за сміття", "waste_fee", "сміття"),
        ("opłata za psa", "dog_fee", "opłata za psa"),
        ("mam dwa psy", "dog_fee", "psy"),
        ("podatek od psa", "dog_fee", "podatek od psa"),
        ("dog fee", "dog_fee", "dog fee"),
        ("збір за собаку", "dog_fee", "збір за собаку"),
        ("podatek od nieruchomości", "property_tax", "podatek od nieruchomości"),
        ("podatek od nieruchomosci", "property_tax", "podatek od nieruchomosci"),
        ("podatek od domu", "property_tax", "podatek od domu"),
        ("property tax", "property_tax", "property tax"),
        ("податок на нерухомість", "property_tax", "податок на нерухомість"),
        ("podatek rolny", "agricultural_tax", "podatek rolny"),
        ("podatku rolnego", "agricultural_tax", "podatku rolnego"),
        ("podatek leśny", "forest_tax", "podatek leśny"),
        ("mam auto ciężarowe", "vehicle_tax", "auto ciężarowe"),
        ("podatek od środków transportowych", "vehicle_tax", "podatek od środków transportowych"),
        ("tax on my truck", "vehicle_tax", "truck"),
        ("użytkowanie wieczyste", "perpetual_usufruct", "użytkowanie wieczyste"),
        ("uzytkowania wieczystego", "perpetual_usufruct", "uzytkowania wieczystego"),
        ("inne opłaty", "other_fee", "inne opłaty"),
    ],
)
def test_obligation_kinds_in_three_languages(
    extractor: EntityExtractor, text: str, value: str, span: str
) -> None:
    assert ("obligation_kind", value, span) in found(extractor, text)


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("chcę złożyć deklarację śmieciową", "waste_declaration_change", "deklarację śmieciową"),
        ("zmiana liczby osób", "waste_declaration_change", "liczby osób"),
        ("change my waste declaration", "waste_declaration_change", "waste declaration"),
        ("змінити декларацію", "waste_declaration_change", "декларацію"),
        ("zaświadczenie o niezaleganiu", "no_arrears_certificate", "zaświadczenie o niezaleganiu"),
        ("zaswiadczenie o niezaleganiu", "no_arrears_certificate", "zaswiadczenie o niezaleganiu"),
        ("certificate of no arrears", "no_arrears_certificate", "certificate of no arrears"),
        ("довідка про відсутність заборгованості", "no_arrears_certificate",
         "довідка про відсутність заборгованості"),
        ("rozłożenie na raty", "installments", "rozłożenie na raty"),
        ("wniosek o odroczenie", "installments", "odroczenie"),
        ("can I pay in instalments", "installments", "instalments"),
        ("хочу розстрочку", "installments", "розстрочку"),
    ],
)  # fmt: skip
def test_form_types_and_their_synonyms(
    extractor: EntityExtractor, text: str, value: str, span: str
) -> None:
    assert ("form_type", value, span) in found(extractor, text)


def test_the_longer_match_wins(extractor: EntityExtractor) -> None:
    # "śmieciową" alone would be a levy; inside "deklarację śmieciową" it names the form.
    assert found(extractor, "deklarację śmieciową") == [
        ("form_type", "waste_declaration_change", "deklarację śmieciową")
    ]


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("status sprawy RS-2026-000123", "RS-2026-000123", "RS-2026-000123"),
        ("sprawa rs-2026-000123?", "RS-2026-000123", "rs-2026-000123"),
        ("sprawa rs 2026 55", "RS-2026-000055", "rs 2026 55"),
        ("decyzja FN.3120.15.2026", "FN.3120.15.2026", "FN.3120.15.2026"),
        ("decyzja fn-iv.3120.15.2026", "FN-IV.3120.15.2026", "fn-iv.3120.15.2026"),
        ("sprawa nr 45/2026", "45/2026", "45/2026"),
    ],
)
def test_case_references(extractor: EntityExtractor, text: str, value: str, span: str) -> None:
    assert found(extractor, text) == [("case_ref", value, span)]


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("do 2027-03-15", "2027-03-15", "2027-03-15"),
        ("do 15.03.2027", "2027-03-15", "15.03.2027"),
        ("15/03/27", "2027-03-15", "15/03/27"),
        ("03/15/2027", "2027-03-15", "03/15/2027"),
        ("do 15 marca 2027 r.", "2027-03-15", "15 marca 2027"),
        ("do 15 marca", "2027-03-15", "15 marca"),  # the next 15 March after 26 Nov 2026
        ("do 30 listopada", "2026-11-30", "30 listopada"),
        ("15 III 2027", "2027-03-15", "15 III 2027"),
        ("by March 15th, 2027", "2027-03-15", "March 15th, 2027"),
        ("on the 15th of March", "2027-03-15", "15th of March"),
        ("до 15 березня 2027", "2027-03-15", "15 березня 2027"),
        ("до 15-го вересня", "2027-09-15", "15-го вересня"),
        ("przypomnij jutro", "2026-11-27", "jutro"),
        ("remind me tomorrow", "2026-11-27", "tomorrow"),
        ("нагадай завтра", "2026-11-27", "завтра"),
        ("do 10.12", "2026-12-10", "10.12"),
    ],
)
def test_dates_become_iso(extractor: EntityExtractor, text: str, value: str, span: str) -> None:
    assert found(extractor, text) == [("date", value, span)]


def test_an_impossible_date_is_no_date(extractor: EntityExtractor) -> None:
    assert found(extractor, "31.02.2027 i 32 marca") == []


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("wpłaciłem 123,45 zł", "123.45", "123,45 zł"),
        ("zapłacę 123 zł", "123.00", "123 zł"),
        ("zapłaciłem 1 234,56", "1234.56", "1 234,56"),
        ("kwota 1.234,56 zł", "1234.56", "1.234,56 zł"),
        ("I paid PLN 1,234.56", "1234.56", "PLN 1,234.56"),
        ("200 złotych", "200.00", "200 złotych"),
        ("100 zł 50 gr", "100.50", "100 zł 50 gr"),
        ("50 gr", "0.50", "50 gr"),
        ("переказав 87,50 зл", "87.50", "87,50 зл"),
        ("1\u00a0234,56\u00a0zł", "1234.56", "1\u00a0234,56\u00a0zł"),
    ],
)
def test_amounts_become_decimal_strings(
    extractor: EntityExtractor, text: str, value: str, span: str
) -> None:
    assert found(extractor, text) == [("amount", value, span)]


def test_numbers_that_are_not_money(extractor: EntityExtractor) -> None:
    assert found(extractor, "mam 2 psy od 2020 roku") == [("obligation_kind", "dog_fee", "psy")]


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("po angielsku proszę", "en", "po angielsku"),
        ("English please", "en", "English"),
        ("zmień na ukraiński", "uk", "ukraiński"),
        ("українською, будь ласка", "uk", "українською"),
        ("in Polish", "pl", "Polish"),
        ("mów po polsku", "pl", "po polsku"),
        ("по-английски", "en", "по-английски"),
    ],
)
def test_language(extractor: EntityExtractor, text: str, value: str, span: str) -> None:
    assert found(extractor, text) == [("language", value, span)]


def test_several_entities_in_one_message(extractor: EntityExtractor) -> None:
    text = "zapłaciłem 250,00 zł za śmieci 15.03.2026, sprawa RS-2026-000123"
    assert found(extractor, text) == [
        ("amount", "250.00", "250,00 zł"),
        ("obligation_kind", "waste_fee", "śmieci"),
        ("date", "2026-03-15", "15.03.2026"),
        ("case_ref", "RS-2026-000123", "RS-2026-000123"),
    ]


@given(st.text(max_size=60))
def test_fold_keeps_length(text: str) -> None:
    assert len(fold(text)) == len(text)


@given(
    st.lists(
        st.sampled_from(
            ["śmieci", "za", "psa", "15", "marca", "2027", "123,45", "zł", "RS-2026-000001",
             "podatek", "od", "nieruchomości", "po", "polsku", " ", ",", "ŁÓDŹ", "İ", "ﬁ"]
        ),
        max_size=12,
    )
)  # fmt: skip
def test_spans_are_inside_the_text_and_never_overlap(words: list[str]) -> None:
    text = " ".join(words)
    entities = EXTRACTOR.extract(text, TODAY)
    last_end = 0
    for e in entities:
        assert last_end <= e["start"] < e["end"] <= len(text)
        last_end = e["end"]
