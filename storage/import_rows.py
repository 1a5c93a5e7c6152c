"""The finance-system export's rows, checked and normalised, one function per kind of file.

A row's checks all run (`Checks`), so every bad column of it is reported, one line each; a good
row becomes the tuple the writers store, with a `row_hash` of its normalised values last.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, TypeVar

from email_validator import EmailNotValidError, validate_email
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.pl import nip as stdnum_nip
from stdnum.pl import pesel as stdnum_pesel

from kernel.errors import InputError
from kernel.money import format_plain, parse_amount, to_grosze_count
from storage.identifiers import normalise_nrb, normalise_phone
from storage.models import ObligationKind

T = TypeVar("T")

CONSENT_SOURCE: Final = "import"
LANGUAGES: Final = ("pl", "en", "uk")
KINDS: Final = tuple(kind.value for kind in ObligationKind)
# Ten digits before the point, as the contract allows.
MAX_AMOUNT: Final = Decimal("9999999999.99")
MIN_YEAR, MAX_YEAR = 1990, 2100
# A due date's year is within this many years of its levy's `year` (see _due_near_year).
DUE_YEAR_WINDOW: Final = 1
_KIND_NAMES: Final = {kind: kind for kind in KINDS}
_YEARS: Final = {str(year): year for year in range(MIN_YEAR, MAX_YEAR + 1)}

_POSTAL_CODE = re.compile(r"[0-9]{2}-[0-9]{3}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONSENTS: Final[dict[str, tuple[bool, bool]]] = {
    "": (False, False),
    "sms": (True, False),
    "email": (False, True),
    "sms+email": (True, True),
    "email+sms": (True, True),
}


# Database column widths, so that an over-long value is a row error, not a failed transaction.
_WIDTHS: Final[dict[str, int]] = {
    "taxpayer_ref": 64, "first_name": 100, "last_name": 200, "street": 200, "building": 20,
    "flat": 20, "city": 100, "district": 100, "email": 320, "obligation_ref": 64,
    "decision_ref": 64, "payment_ref": 128, "source": 32,
}  # fmt: skip


class Bad(InputError):
    """One bad value: the column and a reason a person can act on."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(column, reason)
        self.column = column
        self.reason = reason


class BadRow(InputError):
    """Every bad value of one row, in the order of its columns."""

    def __init__(self, problems: list[Bad]) -> None:
        super().__init__(problems)
        self.problems = problems


class Checks:
    """Runs a row's checks one by one and keeps every failure, so each bad column is told."""

    def __init__(self) -> None:
        self.problems: list[Bad] = []

    def __call__(self, check: Callable[..., T], *args: Any) -> T | None:
        try:
            return check(*args)
        except Bad as bad:
            self.problems.append(bad)
            return None

    def add(self, column: str, reason: str) -> None:
        self.problems.append(Bad(column, reason))

    def done(self) -> None:
        if self.problems:
            raise BadRow(self.problems)


# --- field checks ----------------------------------------------------------------------------


def _text(value: str, column: str, required: bool = False) -> str:
    if required and not value:
        raise Bad(column, "missing value")
    width = _WIDTHS.get(column)
    if width is not None and len(value) > width:
        raise Bad(column, f"longer than {width} characters")
    return value


def _date(value: str, column: str) -> str:
    """A calendar date, kept as its ISO text: both engines take it as it is."""
    if not _ISO_DATE.match(value):
        raise Bad(column, f"not a date (YYYY-MM-DD): {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise Bad(column, f"not a date (YYYY-MM-DD): no such day {value!r}") from None
    return value


def _optional_date(value: str, column: str) -> str | None:
    return _date(value, column) if value else None


def _whole(value: str, column: str, low: int, high: int) -> int:
    if not (value.isascii() and value.isdigit()):
        raise Bad(column, f"not a whole number: {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise Bad(column, f"must be between {low} and {high}: {value!r}")
    return number


def _amount(value: str) -> tuple[str, int]:
    """A positive złoty amount: its plain text with two decimals ("1234.50"), which the row's
    hash covers, and its whole grosze, which the store keeps."""
    try:
        amount = parse_amount(value)
    except ValueError as exc:
        raise Bad("amount", str(exc)) from None
    if amount <= 0:
        raise Bad("amount", f"must be positive: {value!r}")
    if amount > MAX_AMOUNT:
        raise Bad("amount", f"too large: {value!r}")
    return format_plain(amount), to_grosze_count(amount)


def _pesel(value: str) -> str:
    try:
        return str(stdnum_pesel.validate(value))
    except InvalidChecksum:
        raise Bad("pesel", "invalid PESEL checksum") from None
    except InvalidComponent:
        raise Bad("pesel", "invalid PESEL: no such birth date") from None
    except ValidationError:
        raise Bad("pesel", "a PESEL is 11 digits") from None


def _nip(value: str) -> str:
    try:
        return str(stdnum_nip.validate(value))
    except InvalidChecksum:
        raise Bad("nip", "invalid NIP checksum") from None
    except ValidationError:
        raise Bad("nip", "a NIP is 10 digits") from None


def _nrb(value: str) -> str:
    try:
        return normalise_nrb(value)
    except ValueError as exc:
        raise Bad("account_number", f"not a valid Polish account number (NRB): {exc}") from None


def _phone(value: str) -> str:
    try:
        return normalise_phone(value)
    except ValueError:
        raise Bad("phone", "not a phone number (E.164 or Polish national)") from None


def _email(value: str) -> str:
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Bad("email", f"not a valid e-mail address: {exc}") from None
    # Contacts keep e-mail addresses in lower case (storage.models.Contact.value).
    return str(checked.normalized).lower()


def _row_hash(values: tuple[object, ...]) -> str:
    """A digest of a row's normalised values (str, int, None, bools): their repr is exact."""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def first_seen(seen: dict[str, int], ref: str, line: int, column: str) -> None:
    first = seen.setdefault(ref, line)
    if first != line:
        raise Bad(column, f"{ref!r} appears twice (first on line {first})")


@dataclass(frozen=True)
class TaxpayerRow:
    values: tuple[Any, ...]  # in TAXPAYER_COLUMNS order, row_hash last
    phone: str | None
    email: str | None
    # None: the file has no notify_consent column, so consents already on record stand.
    consent: tuple[bool, bool] | None


TAXPAYER_COLUMNS: Final = (
    "ref", "pesel", "nip", "first_name", "last_name", "street", "building", "flat",
    "postal_code", "city", "district", "language", "account_number", "row_hash",
)  # fmt: skip
OBLIGATION_COLUMNS: Final = (
    "ref", "taxpayer_id", "kind", "year", "installment", "due_date", "amount", "decision_ref",
    "description", "decision_delivered_on", "row_hash",
)  # fmt: skip
PAYMENT_COLUMNS: Final = (
    "ref", "taxpayer_id", "obligation_id", "paid_on", "amount", "source", "row_hash",
)  # fmt: skip


def taxpayer_row(values: tuple[str, ...], has_consent: bool) -> TaxpayerRow:
    (ref, first_name, last_name, street, building, flat, postal_code, city, district, phone,
     email, language, account, pesel, nip, consent) = values  # fmt: skip
    check = Checks()
    check(_text, ref, "taxpayer_ref", True)
    check(_text, first_name, "first_name")
    check(_text, last_name, "last_name", True)
    for column, value in (("street", street), ("building", building), ("flat", flat),
                          ("city", city), ("district", district)):  # fmt: skip
        check(_text, value, column)
    if postal_code and not _POSTAL_CODE.fullmatch(postal_code):
        check.add("postal_code", f"not a postal code (NN-NNN): {postal_code!r}")
    language = language.lower() or "pl"
    if language not in LANGUAGES:
        check.add("language", f"unknown language {language!r}; expected pl, en or uk")
    consents = _CONSENTS.get(consent.lower().replace(" ", ""))
    if consents is None:
        check.add("notify_consent", f"unknown consent {consent!r}; expected sms, email, sms+email")
    if not pesel and not nip:
        check.add("pesel", "a PESEL or a NIP is required")
    pesel_value = check(_pesel, pesel) if pesel else None
    nip_value = check(_nip, nip) if nip else None
    account_number = check(_nrb, account) if account else None
    phone_value = check(_phone, phone) if phone else None
    email_value = check(_email, email) if email else None
    if consents is not None and consents[0] and not phone:
        check.add("notify_consent", "consent to SMS but no phone number")
    if consents is not None and consents[1] and not email:
        check.add("notify_consent", "consent to e-mail but no e-mail address")
    check.done()
    # Streets, codes and districts repeat across a city: keep one copy of each in memory.
    intern = sys.intern
    record = (ref, pesel_value, nip_value, first_name, last_name, intern(street), building, flat,
              intern(postal_code), intern(city), intern(district), language,
              account_number)  # fmt: skip
    stated = consents if has_consent else None
    digest = _row_hash((*record, phone_value, email_value, stated))
    return TaxpayerRow((*record, digest), phone_value, email_value, stated)


def obligation_values(values: tuple[str, ...], taxpayer_ids: Mapping[str, int]) -> tuple[Any, ...]:
    (ref, taxpayer_ref, kind, year, installment, due_date, amount, decision_ref, description,
     delivered_on) = values  # fmt: skip
    check = Checks()
    check(_text, ref, "obligation_ref", True)
    taxpayer_id = taxpayer_ids.get(taxpayer_ref)
    if taxpayer_id is None:
        check.add("taxpayer_ref", f"unknown taxpayer_ref {taxpayer_ref!r}")
    # Look-ups in tables of the few valid values, which also keep one copy of each in memory.
    kind = _KIND_NAMES.get(kind, "")
    if not kind:
        check.add("kind", f"unknown kind {values[2]!r}; expected one of {', '.join(KINDS)}")
    year_value = _YEARS.get(year) or check(_whole, year, "year", MIN_YEAR, MAX_YEAR)
    # A one-off levy (a dog fee paid at once) may leave it empty: its single instalment.
    installment_value = check(_whole, installment, "installment", 1, 999) if installment else 1
    due = check(_date, due_date, "due_date")
    if due is not None and year_value is not None:
        check(_due_near_year, due, year_value)
    amount_checked = check(_amount, amount)
    check(_text, decision_ref, "decision_ref")
    delivered = check(_optional_date, delivered_on, "decision_delivered_on")
    check.done()
    amount_text, grosze = amount_checked or ("", 0)
    described = sys.intern(description)
    digest = _row_hash((ref, taxpayer_ref, kind, year_value, installment_value, due, amount_text,
                        decision_ref, described, delivered))  # fmt: skip
    return (ref, taxpayer_id, kind, year_value, installment_value, due, grosze, decision_ref,
            described, delivered, digest)  # fmt: skip


def _due_near_year(due: str, year: int) -> None:
    """A levy's due date falls in its year, or in the year before or after it: instalments of a
    decision delivered late, or a fee due early for the year ahead. Anything further is a typo
    (9999-12-31) that would make the levy look never overdue."""
    if not year - DUE_YEAR_WINDOW <= int(due[:4]) <= year + DUE_YEAR_WINDOW:
        raise Bad(
            "due_date",
            f"{due} is far from the levy's year {year} "
            f"(a due date falls in {year - DUE_YEAR_WINDOW}–{year + DUE_YEAR_WINDOW})",
        )


def payment_values(
    values: tuple[str, ...],
    taxpayer_ids: Mapping[str, int],
    obligations: Mapping[str, tuple[int, int]],
) -> tuple[Any, ...]:
    ref, taxpayer_ref, obligation_ref, paid_on, amount, source = values
    check = Checks()
    check(_text, ref, "payment_ref", True)
    taxpayer_id = taxpayer_ids.get(taxpayer_ref)
    if taxpayer_id is None:
        check.add("taxpayer_ref", f"unknown taxpayer_ref {taxpayer_ref!r}")
    obligation_id: int | None = None
    if obligation_ref:
        found = obligations.get(obligation_ref)
        if found is None:
            check.add("obligation_ref", f"unknown obligation_ref {obligation_ref!r}")
        elif taxpayer_id is not None and found[1] != taxpayer_id:
            check.add(
                "obligation_ref",
                f"obligation {obligation_ref!r} belongs to another taxpayer, not {taxpayer_ref!r}",
            )
        else:
            obligation_id = found[0]
    paid = check(_date, paid_on, "paid_on")
    amount_checked = check(_amount, amount)
    source = sys.intern(check(_text, source, "source") or "import")
    check.done()
    amount_text, grosze = amount_checked or ("", 0)
    digest = _row_hash((ref, taxpayer_ref, obligation_ref, paid, amount_text, source))
    return (ref, taxpayer_id, obligation_id, paid, grosze, source, digest)
