"""Resident-facing text in Polish, English and Ukrainian, through Babel.

`render(key, language, values)` looks the key up in `kernel.messages` (the English source),
translates it with the language's catalogue and fills its placeholders, formatting each value by
its name:

- `amount`, `*_amount`: money (`1 234,56 zł`; English `PLN 1,234.56`, see `format_money`);
- `date`, `*_date`: a long date (`15 marca 2027`, `15 March 2027`, `15 березня 2027 р.`);
  `dates`, `*_dates`: a list of them (`15 marca 2027 i 17 maja 2027`);
- `count`: a number, which also picks the plural form (pl and uk: one, few, many);
- `account`: an NRB in the usual groups (`22 1050 1214 1000 0000 1234 5678`);
- `kind`, `form_type`, `category`, `channel`, `status`: the label `label_<name>_<value>`;
- `lines`: a list of `{"response": key, **values}`, each rendered and put on its own line.

Catalogues are `kernel/locale/<lang>/LC_MESSAGES/messages.po`, read with Babel and compiled in
memory on first use: no `.mo` file is built or committed. To change a text: edit
`kernel/messages.py`, then `pybabel extract` / `update` (see `babel.cfg`) and translate.
"""

from __future__ import annotations

import functools
import gettext
import string
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

from kernel.errors import InternalError
from kernel.messages import MESSAGES, Plural

LANGUAGES = ("pl", "en", "uk")
DEFAULT_LANGUAGE = "pl"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"

_BABEL_LOCALES = {"pl": "pl_PL", "en": "en_GB", "uk": "uk_UA"}
# English readers get the currency code first and English separators: `PLN 1,234.56` cannot be
# misread, where `1 234,56 zł` swaps the roles of comma and point they are used to.
_MONEY_FORMATS = {"en": "¤\u00a0#,##0.00"}
LABELLED = frozenset({"kind", "form_type", "category", "channel", "status"})
_FORMATTER = string.Formatter()


class UnknownMessage(InternalError, LookupError):
    """No message has this key."""


def normalise_language(language: str | None) -> str:
    """`pl`, `en` or `uk` from a code like `uk-UA` or `EN`; anything else is Polish."""
    code = (language or "").strip().lower()[:2]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def catalog_path(language: str, domain: str = DOMAIN) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


@functools.cache
def translations(language: str, domain: str = DOMAIN) -> gettext.GNUTranslations:
    """The language's catalogue of `domain` (`messages` for residents, `panel` for the staff
    panel), compiled in memory; untranslated entries fall back to English."""
    with catalog_path(language, domain).open("rb") as po_file:
        catalog = read_po(po_file, locale=language, domain=domain)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def babel_locale(language: str) -> str:
    return _BABEL_LOCALES[normalise_language(language)]


# Formatting through Babel parses the locale on every call: a batch of reminders or a broadcast
# formats the same amounts and dates over and over.
@functools.lru_cache(maxsize=8192)
def format_money(value: Decimal | str | int, language: str) -> str:
    amount = Decimal(str(value))
    language = normalise_language(language)
    return format_currency(
        amount, "PLN", format=_MONEY_FORMATS.get(language), locale=_BABEL_LOCALES[language]
    )


@functools.lru_cache(maxsize=8192)
def format_date(value: date | str, language: str) -> str:
    day = value if isinstance(value, date) else date.fromisoformat(value)
    return babel_format_date(day, "long", locale=babel_locale(language))


def format_account(number: str) -> str:
    """An NRB as banks print it: two check digits, then groups of four."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) != 26:
        return number
    return " ".join([digits[:2], *(digits[i : i + 4] for i in range(2, 26, 4))])


def is_message(key: str) -> bool:
    return key in MESSAGES


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in _FORMATTER.parse(template) if field}


@functools.lru_cache(maxsize=8192)
def template(key: str, language: str, count: int | None = None) -> str:
    """The translated text of `key`, placeholders unfilled; plural messages need `count`."""
    try:
        source = MESSAGES[key]
    except KeyError:
        raise UnknownMessage(key) from None
    catalog = translations(normalise_language(language))
    if isinstance(source, Plural):
        if count is None:
            raise ValueError(f"{key}: a plural message needs a count")
        return catalog.npgettext(key, source.singular, source.plural, count)
    return catalog.pgettext(key, source)


def render(key: str, language: str, values: Mapping[str, Any] | None = None) -> str:
    values = values or {}
    count = values.get("count")
    text = template(key, language, int(count) if count is not None else None)
    return text.format_map(_Formatted(key, normalise_language(language), values))


class _Formatted(Mapping[str, str]):
    """The values of one message, each formatted by its name when the template asks for it."""

    def __init__(self, key: str, language: str, values: Mapping[str, Any]) -> None:
        self._key = key
        self._language = language
        self._values = values

    def __getitem__(self, name: str) -> str:
        if name not in self._values or self._values[name] is None:
            raise ValueError(f"{self._key}: no value for {{{name}}}")
        return _format_value(name, self._values[name], self._language)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _format_value(name: str, value: Any, language: str) -> str:
    locale = _BABEL_LOCALES[language]
    if name == "lines":
        items: Sequence[Mapping[str, Any]] = value
        return "\n".join(render(item["response"], language, item) for item in items)
    if name in LABELLED:
        return render(f"label_{name}_{value}", language)
    if name == "count":
        return format_decimal(int(value), locale=locale)
    if name == "account":
        return format_account(str(value))
    if name == "amount" or name.endswith("_amount"):
        return format_money(value, language)
    if name == "dates" or name.endswith("_dates"):
        return format_list([format_date(day, language) for day in value], locale=locale)
    if name == "date" or name.endswith("_date"):
        return format_date(value, language)
    return str(value)
