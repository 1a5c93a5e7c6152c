"""GSM-7 or UCS-2, segments, folding and cutting, on the texts residents get."""

from __future__ import annotations

import pytest

from kernel.settings import SmsSettings
from notifier.sms_segments import Encoding, SmsText, fit, fold, measure, sms_text

BALANCE = (
    "Zaległość w podatku od nieruchomości: 1 234,56 zł, odsetki 12 zł. "
    "Termin płatności minął 15 marca 2027 r."
)


def test_polish_letters_need_ucs2_and_folded_fit_gsm7() -> None:
    assert measure(BALANCE) == SmsText(BALANCE, Encoding.UCS2, 2)
    folded = fold(BALANCE)
    assert folded == (
        "Zaleglosc w podatku od nieruchomosci: 1 234,56 zl, odsetki 12 zl. "
        "Termin platnosci minal 15 marca 2027 r."
    )
    assert measure(folded) == SmsText(folded, Encoding.GSM7, 1)


def test_every_polish_letter_and_the_typography_of_our_messages_fold() -> None:
    assert fold("ĄĆĘŁŃÓŚŹŻ ąćęłńóśźż") == "ACELNOSZZ acelnoszz"
    assert fold("Odpisz 1 – saldo, „tak” … 1\u00a0234,56") == 'Odpisz 1 - saldo, "tak" ... 1 234,56'
    # Latin letters GSM-7 has stay; others lose their marks; Cyrillic stays Cyrillic.
    assert fold("é ü č Київ й") == "é ü c Київ й"


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", Encoding.GSM7, 1),
        ("a" * 160, Encoding.GSM7, 1),
        ("a" * 161, Encoding.GSM7, 2),
        ("a" * 306, Encoding.GSM7, 2),
        ("a" * 307, Encoding.GSM7, 3),
        # The extension table takes two septets a character: 80 € are 160 septets.
        ("€" * 80, Encoding.GSM7, 1),
        ("€" * 81, Encoding.GSM7, 2),
        # 152 septets then an escape pair: the pair is not split, so it opens segment two.
        ("a" * 152 + "[" + "a" * 10, Encoding.GSM7, 2),
        ("a" * 152 + "[" + "a" * 152, Encoding.GSM7, 3),
        ("ł" * 70, Encoding.UCS2, 1),
        ("ł" * 71, Encoding.UCS2, 2),
        ("ł" * 134, Encoding.UCS2, 2),
        ("ł" * 135, Encoding.UCS2, 3),
        # An emoji is two UTF-16 units and never split.
        ("😀" * 35, Encoding.UCS2, 1),
        ("ł" * 69 + "😀", Encoding.UCS2, 2),
        # 134 units would fill two segments, but the emoji cannot straddle the first two.
        ("ł" * 66 + "😀" + "ł" * 66, Encoding.UCS2, 3),
        ("Доброго дня! Ваш борг: 120 зл.", Encoding.UCS2, 1),
    ],
)
def test_encoding_and_segments(text: str, encoding: Encoding, segments: int) -> None:
    measured = measure(text)
    assert (measured.encoding, measured.segments) == (encoding, segments)


def test_a_long_text_is_cut_at_a_word_with_the_tail_and_the_choices_kept() -> None:
    text = " ".join([BALANCE] * 8)
    fitted = fit(
        text,
        3,
        "Reszta w czacie: https://gmina.example/",
        fold_diacritics=True,
        keep="Odpisz 1 – Zapłać",
    )
    assert (fitted.encoding, fitted.segments) == (Encoding.GSM7, 3)
    body, tail, choices = fitted.text.rsplit("\n", 2)
    assert body.endswith("...")
    # Cut after a whole word of the folded text.
    assert fold(text).startswith(body.removesuffix("..."))
    assert fold(text)[len(body) - 3] == " "
    assert (tail, choices) == ("Reszta w czacie: https://gmina.example/", "Odpisz 1 - Zaplac")


def test_without_folding_a_polish_text_is_cut_to_ucs2_segments() -> None:
    fitted = fit(" ".join([BALANCE] * 8), 2, "Reszta w czacie.", fold_diacritics=False)
    assert (fitted.encoding, fitted.segments) == (Encoding.UCS2, 2)
    assert fitted.text.endswith("...\nReszta w czacie.")
    assert "Zaległość" in fitted.text


def test_an_outbox_message_as_an_sms_in_each_language() -> None:
    settings = SmsSettings()
    buttons = [{"title": "Saldo", "payload": "/check_balance"}]
    polish = sms_text("Dzień dobry!", buttons, "pl", settings, "https://gmina.example")
    assert polish == SmsText("Dzien dobry!\nOdpisz 1 - Saldo", Encoding.GSM7, 1)
    english = sms_text("Hello!", buttons, "en", settings, "https://gmina.example")
    assert english.text == "Hello!\nReply 1 - Saldo"
    ukrainian = sms_text("Вітаю!", buttons, "uk", settings, "https://gmina.example")
    assert ukrainian == SmsText("Вітаю!\nДайте відповідь 1 - Saldo", Encoding.UCS2, 1)
