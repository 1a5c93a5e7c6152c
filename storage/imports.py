"""Import of the city finance system's CSV exports: taxpayers, obligations, payments.

The format is the operator contract (CONTRACT.md, "Finance-system export"): UTF-8 (a BOM is
accepted), comma-separated, a header row; columns are matched by name, unknown ones are ignored.

- All or nothing: every row is validated first and every bad row reported, one line each,
  `FILE:LINE: column: reason` (LINE is the physical line, the header being line 1); if there is
  any, nothing is written.
- Idempotent: each row's normalised values are hashed into `row_hash`; an unchanged row is not
  written at all, a changed one is updated in place (so an obligation keeps its id and the
  payments that name it), keyed by the finance system's refs.
- Bulk: the existing refs are loaded in one query per table, the rows are validated in Python,
  and the writes go in one transaction as executemany (SQLite) or COPY (PostgreSQL).

After obligations or payments change, the ledger's derived allocations of the taxpayers
concerned who have payments are rewritten in the same transaction.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, Final, TypeVar

import phonenumbers
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from schwifty import IBAN
from schwifty.exceptions import InvalidBBANChecksum, InvalidChecksumDigits, SchwiftyException
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.pl import nip as stdnum_nip
from stdnum.pl import pesel as stdnum_pesel

from kernel.clock import Clock, SystemClock
from kernel.money import format_plain, parse_amount, to_grosze_count
from kernel.settings import LedgerSettings
from storage.balances import load_rate_tables, refresh_allocations
from storage.db import SQLITE_BUSY_TIMEOUT_MS, copy_rows
from storage.ledger import LedgerPolicy
from storage.models import (
    Base,
    Contact,
    ContactKind,
    ImportRun,
    Obligation,
    ObligationKind,
    Payment,
    Taxpayer,
)
from storage.sql import is_lock_timeout, lock_name, store_error_reason

log = logging.getLogger(__name__)

_taxpayers = Base.metadata.tables[Taxpayer.__tablename__]
_contacts = Base.metadata.tables[Contact.__tablename__]
_obligations = Base.metadata.tables[Obligation.__tablename__]
_payments = Base.metadata.tables[Payment.__tablename__]
_import_runs = Base.metadata.tables[ImportRun.__tablename__]

# Rows per executemany round trip on SQLite, and ids per IN list.
CHUNK: Final = 5_000
PROGRESS_EVERY: Final = 10_000
# Rows written after which PostgreSQL's statistics are refreshed at once.
ANALYZE_AFTER: Final = 10_000
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


class ImportKind(StrEnum):
    TAXPAYERS = "taxpayers"
    OBLIGATIONS = "obligations"
    PAYMENTS = "payments"


# Required and optional columns per file, in the contract's order. A taxpayers file needs only
# one of `pesel` and `nip`; `source` defaults to "import".
_REQUIRED: Final[dict[ImportKind, tuple[str, ...]]] = {
    ImportKind.TAXPAYERS: (
        "taxpayer_ref", "first_name", "last_name", "street", "building", "flat",
        "postal_code", "city", "district", "phone", "email", "language", "account_number",
    ),
    ImportKind.OBLIGATIONS: (
        "obligation_ref", "taxpayer_ref", "kind", "year", "installment", "due_date", "amount",
        "decision_ref", "description",
    ),
    ImportKind.PAYMENTS: ("payment_ref", "taxpayer_ref", "obligation_ref", "paid_on", "amount"),
}  # fmt: skip
_OPTIONAL: Final[dict[ImportKind, tuple[str, ...]]] = {
    ImportKind.TAXPAYERS: ("pesel", "nip", "notify_consent"),
    ImportKind.OBLIGATIONS: ("decision_delivered_on",),
    ImportKind.PAYMENTS: ("source",),
}

# Database column widths, so that an over-long value is a row error, not a failed transaction.
_WIDTHS: Final[dict[str, int]] = {
    "taxpayer_ref": 64, "first_name": 100, "last_name": 200, "street": 200, "building": 20,
    "flat": 20, "city": 100, "district": 100, "email": 320, "obligation_ref": 64,
    "decision_ref": 64, "payment_ref": 128, "source": 32,
}  # fmt: skip

Progress = Callable[[int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.reason}"


@dataclass
class ImportResult:
    kind: ImportKind
    file_name: str
    sha256: str = ""
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line for the operator."""
        counts = f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged"
        if self.dry_run:
            line = (
                f"{self.file_name}: {self.rows} {self.kind} rows valid; dry run, would be: "
                f"{counts}; nothing written"
            )
        else:
            line = f"{self.file_name}: {self.rows} {self.kind} rows: {counts}"
        if self.ignored_columns:
            line += f"; ignored unknown columns: {', '.join(self.ignored_columns)}"
        return line


class _Bad(Exception):
    """One bad value: the column and a reason a person can act on."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(column, reason)
        self.column = column
        self.reason = reason


class _BadRow(Exception):
    """Every bad value of one row, in the order of its columns."""

    def __init__(self, problems: list[_Bad]) -> None:
        super().__init__(problems)
        self.problems = problems


class _Checks:
    """Runs a row's checks one by one and keeps every failure, so each bad column is told."""

    def __init__(self) -> None:
        self.problems: list[_Bad] = []

    def __call__(self, check: Callable[..., T], *args: Any) -> T | None:
        try:
            return check(*args)
        except _Bad as bad:
            self.problems.append(bad)
            return None

    def add(self, column: str, reason: str) -> None:
        self.problems.append(_Bad(column, reason))

    def done(self) -> None:
        if self.problems:
            raise _BadRow(self.problems)


# --- field checks ----------------------------------------------------------------------------


def _text(value: str, column: str, required: bool = False) -> str:
    if required and not value:
        raise _Bad(column, "missing value")
    width = _WIDTHS.get(column)
    if width is not None and len(value) > width:
        raise _Bad(column, f"longer than {width} characters")
    return value


def _date(value: str, column: str) -> str:
    """A calendar date, kept as its ISO text: both engines take it as it is."""
    if not _ISO_DATE.match(value):
        raise _Bad(column, f"not a date (YYYY-MM-DD): {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise _Bad(column, f"not a date (YYYY-MM-DD): no such day {value!r}") from None
    return value


def _optional_date(value: str, column: str) -> str | None:
    return _date(value, column) if value else None


def _whole(value: str, column: str, low: int, high: int) -> int:
    if not (value.isascii() and value.isdigit()):
        raise _Bad(column, f"not a whole number: {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise _Bad(column, f"must be between {low} and {high}: {value!r}")
    return number


def _amount(value: str) -> tuple[str, int]:
    """A positive złoty amount: its plain text with two decimals ("1234.50"), which the row's
    hash covers, and its whole grosze, which the store keeps."""
    try:
        amount = parse_amount(value)
    except ValueError as exc:
        raise _Bad("amount", str(exc)) from None
    if amount <= 0:
        raise _Bad("amount", f"must be positive: {value!r}")
    if amount > MAX_AMOUNT:
        raise _Bad("amount", f"too large: {value!r}")
    return format_plain(amount), to_grosze_count(amount)


def _pesel(value: str) -> str:
    try:
        return str(stdnum_pesel.validate(value))
    except InvalidChecksum:
        raise _Bad("pesel", "invalid PESEL checksum") from None
    except InvalidComponent:
        raise _Bad("pesel", "invalid PESEL: no such birth date") from None
    except ValidationError:
        raise _Bad("pesel", "a PESEL is 11 digits") from None


def _nip(value: str) -> str:
    try:
        return str(stdnum_nip.validate(value))
    except InvalidChecksum:
        raise _Bad("nip", "invalid NIP checksum") from None
    except ValidationError:
        raise _Bad("nip", "a NIP is 10 digits") from None


def normalise_nrb(value: str) -> str:
    """A Polish account number (NRB) as 26 digits; spaces and a leading "PL" are accepted.

    Raises ValueError with the reason: the check digits (mod 97) or the bank branch code's own
    check digit are wrong.
    """
    compact = value.replace(" ", "").replace("-", "").upper().removeprefix("PL")
    if len(compact) != 26 or not (compact.isascii() and compact.isdigit()):
        raise ValueError("expected 26 digits")
    try:
        IBAN("PL" + compact, validate_bban=True)
    except InvalidChecksumDigits:
        raise ValueError("wrong check digits") from None
    except InvalidBBANChecksum:
        raise ValueError(f"no such bank branch code {compact[2:10]}") from None
    except SchwiftyException as exc:
        raise ValueError(str(exc)) from None
    return compact


def _nrb(value: str) -> str:
    try:
        return normalise_nrb(value)
    except ValueError as exc:
        raise _Bad("account_number", f"not a valid Polish account number (NRB): {exc}") from None


def normalise_phone(value: str) -> str:
    """E.164 (`+48601234567`) from E.164 or a Polish national number; ValueError if neither."""
    try:
        number = phonenumbers.parse(value, "PL")
    except phonenumbers.NumberParseException:
        raise ValueError(value) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(value)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _phone(value: str) -> str:
    try:
        return normalise_phone(value)
    except ValueError:
        raise _Bad("phone", "not a phone number (E.164 or Polish national)") from None


def _email(value: str) -> str:
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise _Bad("email", f"not a valid e-mail address: {exc}") from None
    # Contacts keep e-mail addresses in lower case (storage.models.Contact.value).
    return str(checked.normalized).lower()


def _row_hash(values: tuple[object, ...]) -> str:
    """A digest of a row's normalised values (str, int, None, bools): their repr is exact."""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- reading ---------------------------------------------------------------------------------


class _Reader:
    """The CSV's rows as tuples in the order of `columns` ("" for an absent optional one)."""

    def __init__(self, path: Path, name: str, kind: ImportKind) -> None:
        self.path = path
        self.name = name
        self.required = _REQUIRED[kind]
        self.columns = self.required + _OPTIONAL[kind]
        self.present: set[str] = set()
        self.unknown: list[str] = []
        self.errors: list[RowError] = []

    def error(self, line: int, column: str, reason: str) -> None:
        self.errors.append(RowError(self.name, line, column, reason))

    def report(self, line: int, bad: _Bad | _BadRow) -> None:
        for problem in bad.problems if isinstance(bad, _BadRow) else (bad,):
            self.error(line, problem.column, problem.reason)

    def _header(self, header: list[str], kind_needs_id: bool) -> list[int] | None:
        if len(header) == 1 and header[0].count(";") >= len(self.required) - 1:
            self.error(
                1,
                "header",
                "the columns are separated by semicolons; export the file with commas (,)",
            )
            return None
        names = [name.strip().lower() for name in header]
        seen: set[str] = set()
        for name in names:
            if name in seen and name in self.columns:
                self.error(1, name, "column given twice")
            seen.add(name)
        self.present = seen
        for name in self.required:
            if name not in seen:
                self.error(1, name, "missing required column")
        if kind_needs_id and not {"pesel", "nip"} & seen:
            self.error(1, "pesel", "missing required column (pesel or nip)")
        self.unknown = [name for name in names if name not in self.columns]
        if self.errors:
            return None
        # An absent optional column reads the empty field appended to every row.
        return [names.index(name) if name in seen else -1 for name in self.columns]

    def rows(self, progress: Progress | None) -> Iterator[tuple[int, tuple[str, ...]]]:
        with self.path.open("rb") as handle:
            lines = _Utf8Lines(handle)
            reader = csv.reader(lines)
            line = 0
            try:
                header = next(reader, None)
                if header is None:
                    self.error(1, "header", "empty file: expected a header row")
                    return
                indices = self._header(header, "pesel" in self.columns)
                if indices is None:
                    return
                line = reader.line_num
                width = len(header)
                pick = itemgetter(*indices)
                strip = str.strip
                for count, fields in enumerate(reader, start=1):
                    line, first_line = reader.line_num, line + 1
                    if progress is not None and count % PROGRESS_EVERY == 0:
                        progress(PROGRESS_EVERY)
                    if not fields or (len(fields) == 1 and not fields[0].strip()):
                        continue
                    if len(fields) != width:
                        self.error(
                            first_line, "row", f"expected {width} fields, found {len(fields)}"
                        )
                        continue
                    fields.append("")
                    values = tuple(map(strip, pick(fields)))
                    if lines.nul_seen and any("\x00" in value for value in values):
                        # PostgreSQL cannot store it, and nothing in an export needs it.
                        for column, value in zip(self.columns, values, strict=True):
                            if "\x00" in value:
                                self.error(first_line, column, "contains a NUL byte")
                        continue
                    yield first_line, values
            except _NotUtf8 as exc:
                self.error(exc.line, "file", "not UTF-8 text; save the export as UTF-8")
            except csv.Error as exc:
                self.error(line + 1, "row", f"not valid CSV: {exc}")


class _NotUtf8(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _Utf8Lines:
    """The file's lines as text, decoded one by one so that a bad byte is told by its line;
    notes whether any line so far held a NUL (a C-speed scan, so rows are checked field by
    field only then)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.nul_seen = False

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self.handle, start=1):
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                raise _NotUtf8(number) from None
            if "\x00" in text:
                self.nul_seen = True
            yield text.removeprefix("\ufeff") if number == 1 else text


# --- validation ------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What the validated file asks for: rows to insert, rows to update (id first), the rest."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    unchanged: int = 0
    # Taxpayers whose allocations may change (obligations, payments).
    touched: set[int] = field(default_factory=set)


def _first_seen(seen: dict[str, int], ref: str, line: int, column: str) -> None:
    first = seen.setdefault(ref, line)
    if first != line:
        raise _Bad(column, f"{ref!r} appears twice (first on line {first})")


@dataclass(frozen=True)
class _TaxpayerRow:
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


def _taxpayer_row(values: tuple[str, ...], has_consent: bool) -> _TaxpayerRow:
    (ref, first_name, last_name, street, building, flat, postal_code, city, district, phone,
     email, language, account, pesel, nip, consent) = values  # fmt: skip
    check = _Checks()
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
    return _TaxpayerRow((*record, digest), phone_value, email_value, stated)


def _obligation_values(values: tuple[str, ...], taxpayer_ids: Mapping[str, int]) -> tuple[Any, ...]:
    (ref, taxpayer_ref, kind, year, installment, due_date, amount, decision_ref, description,
     delivered_on) = values  # fmt: skip
    check = _Checks()
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
        raise _Bad(
            "due_date",
            f"{due} is far from the levy's year {year} "
            f"(a due date falls in {year - DUE_YEAR_WINDOW}–{year + DUE_YEAR_WINDOW})",
        )


def _payment_values(
    values: tuple[str, ...],
    taxpayer_ids: Mapping[str, int],
    obligations: Mapping[str, tuple[int, int]],
) -> tuple[Any, ...]:
    ref, taxpayer_ref, obligation_ref, paid_on, amount, source = values
    check = _Checks()
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


# --- writing ---------------------------------------------------------------------------------


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# A timestamp as the engine's driver takes it (see `_stamp`).
Stamp = datetime | str


def _stamp(connection: AsyncConnection, now: datetime) -> Stamp:
    """`now` for raw writes: SQLite gets the text SQLAlchemy's own column type would store."""
    if connection.dialect.name == "postgresql":
        return now
    column_type = _taxpayers.c.updated_at.type.dialect_impl(connection.dialect)
    processor = column_type.bind_processor(connection.dialect)
    stored = processor(now) if processor is not None else now
    if not isinstance(stored, str):
        raise TypeError(f"expected the stored text of a timestamp, got {type(stored).__name__}")
    return stored


async def _insert_rows(
    connection: AsyncConnection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows` of `columns`, each with the same `extra` column values (timestamps)."""
    if not rows:
        return
    added = tuple((extra or {}).values())
    names = (*columns, *(extra or {}))
    if connection.dialect.name == "postgresql":
        await copy_rows(connection, table.name, names, ((*row, *added) for row in rows))
        return
    marks = ", ".join("?" * len(names))
    statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"
    for chunk in _chunks(rows):
        await connection.exec_driver_sql(statement, [(*row, *added) for row in chunk])


async def _update_rows(
    connection: AsyncConnection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Set `columns` from each row `(id, *values)` by id, and the same `extra` on each."""
    if not rows:
        return
    added = tuple((extra or {}).values())
    names = (*columns, *(extra or {}))
    if connection.dialect.name == "postgresql":
        staging = f"import_{table.name}"
        await connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT id, {', '.join(names)} FROM {table.name} WITH NO DATA"
        )
        await copy_rows(connection, staging, ("id", *names), ((*row, *added) for row in rows))
        assignments = ", ".join(f"{name} = s.{name}" for name in names)
        await connection.exec_driver_sql(
            f"UPDATE {table.name} AS t SET {assignments} FROM {staging} AS s WHERE t.id = s.id"
        )
        await connection.exec_driver_sql(f"DROP TABLE {staging}")
        return
    statement = f"UPDATE {table.name} SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?"
    for chunk in _chunks(rows):
        await connection.exec_driver_sql(statement, [(*row[1:], *added, row[0]) for row in chunk])


async def _analyze(connection: AsyncConnection, table: sa.Table, written: int) -> None:
    """Fresh planner statistics after a bulk load on PostgreSQL.

    Autovacuum gets there later; until then the planner takes a freshly filled table for an
    empty one and scans it whole for every look-up, the ledger refresh's included.
    """
    if connection.dialect.name == "postgresql" and written >= ANALYZE_AFTER:
        await connection.exec_driver_sql(f"ANALYZE {table.name}")


async def _id_map(connection: AsyncConnection, table: sa.Table) -> dict[str, int]:
    result = await connection.execute(sa.select(table.c.ref, table.c.id))
    return {ref: row_id for ref, row_id in result}


# --- taxpayers -------------------------------------------------------------------------------


@dataclass
class _TaxpayerPlan(_Plan):
    inserted_rows: list[_TaxpayerRow] = field(default_factory=list)
    updated_rows: dict[int, _TaxpayerRow] = field(default_factory=dict)
    # Taxpayers whose account number moves to another taxpayer in this file.
    release_accounts: list[int] = field(default_factory=list)


# Identifiers that name one taxpayer: (column, index in TAXPAYER_COLUMNS, how a person says it).
_IDENTIFIERS: Final = (("pesel", 1, "PESEL"), ("nip", 2, "NIP"))


async def _plan_taxpayers(
    connection: AsyncConnection, reader: _Reader, progress: Progress | None
) -> _TaxpayerPlan:
    existing: dict[str, tuple[int, str, str | None]] = {}
    owner_of: dict[str, str] = {}
    holder_of: dict[str, dict[str, str]] = {column: {} for column, _, _ in _IDENTIFIERS}
    result = await connection.execute(
        sa.select(
            _taxpayers.c.ref, _taxpayers.c.id, _taxpayers.c.row_hash, _taxpayers.c.account_number,
            _taxpayers.c.pesel, _taxpayers.c.nip,
        )
    )  # fmt: skip
    for ref, row_id, digest, account, pesel, nip in result:
        existing[ref] = (row_id, digest, account)
        if account:
            owner_of[account] = ref
        if pesel:
            holder_of["pesel"][pesel] = ref
        if nip:
            holder_of["nip"][nip] = ref
    plan = _TaxpayerPlan()
    seen: dict[str, int] = {}
    accounts: dict[str, tuple[str, int]] = {}  # account → (ref, line) in this file
    # Per identifier column: value → (ref, line) in this file.
    in_file: dict[str, dict[str, tuple[str, int]]] = {column: {} for column, _, _ in _IDENTIFIERS}
    has_consent = False
    for line, values in reader.rows(progress):
        has_consent = "notify_consent" in reader.present
        try:
            row = _taxpayer_row(values, has_consent)
            ref, account = row.values[0], row.values[12]
            _first_seen(seen, ref, line, "taxpayer_ref")
            check = _Checks()
            for column, index, label in _IDENTIFIERS:
                value = row.values[index]
                other = in_file[column].setdefault(value, (ref, line)) if value else (ref, line)
                if other[0] != ref:
                    check.add(
                        column, f"the same {label} as taxpayer {other[0]!r} on line {other[1]}"
                    )
            if account is not None:
                other = accounts.setdefault(account, (ref, line))
                if other[0] != ref:
                    check.add(
                        "account_number",
                        f"the same account number as taxpayer {other[0]!r} on line {other[1]}",
                    )
            check.done()
        except (_Bad, _BadRow) as bad:
            reader.report(line, bad)
            continue
        known = existing.get(ref)
        if known is None:
            plan.inserts.append(row.values)
            plan.inserted_rows.append(row)
        elif known[1] == row.values[-1]:
            plan.unchanged += 1
        else:
            plan.updates.append((known[0], *row.values[1:]))
            plan.updated_rows[known[0]] = row
    # A PESEL or NIP another taxpayer in the store has: refused, unless the file gives that
    # taxpayer another one (a correction of both).
    for column, _, label in _IDENTIFIERS:
        for value, (ref, line) in in_file[column].items():
            holder = holder_of[column].get(value)
            if holder is not None and holder != ref and holder not in seen:
                reader.error(line, column, f"already the {label} of taxpayer {holder!r}")
    # An account number may move from one taxpayer to another only if the file moves it too.
    file_account_of = {ref: account for account, (ref, _) in accounts.items()}
    for account, (ref, line) in accounts.items():
        holder = owner_of.get(account)
        if holder is None or holder == ref:
            continue
        if holder in seen and file_account_of.get(holder) != account:
            plan.release_accounts.append(existing[holder][0])
        else:
            reader.error(line, "account_number", f"already the account of taxpayer {holder!r}")
    return plan


def _contact_rows(taxpayer_id: int, row: _TaxpayerRow, now: Stamp) -> list[tuple[Any, ...]]:
    consent = row.consent or (False, False)
    rows = []
    for kind, value, agreed in (
        (ContactKind.PHONE, row.phone, consent[0]),
        (ContactKind.EMAIL, row.email, consent[1]),
    ):
        if value is not None:
            rows.append((
                taxpayer_id, kind.value, value, CONSENT_SOURCE, agreed,
                CONSENT_SOURCE if agreed else None, now if agreed else None, now,
            ))  # fmt: skip
    return rows


CONTACT_COLUMNS: Final = (
    "taxpayer_id", "kind", "value", "source", "notify_consent", "consent_source", "consent_at",
    "created_at",
)  # fmt: skip


async def _sync_contacts(
    connection: AsyncConnection, changed: Mapping[int, _TaxpayerRow], now: Stamp
) -> None:
    """Bring the imported contacts of changed taxpayers in line with the file.

    Contacts from other sources (chat, portal, staff) stay; so does a consent given elsewhere.
    """
    on_record: dict[int, list[Any]] = defaultdict(list)
    ids = list(changed)
    for chunk in _chunks(ids, 500):
        result = await connection.execute(
            sa.select(
                _contacts.c.id, _contacts.c.taxpayer_id, _contacts.c.kind, _contacts.c.value,
                _contacts.c.source, _contacts.c.notify_consent, _contacts.c.consent_source,
            ).where(_contacts.c.taxpayer_id.in_(chunk))
        )  # fmt: skip
        for contact in result:
            on_record[contact.taxpayer_id].append(contact)
    inserts: list[tuple[Any, ...]] = []
    consent_updates: list[tuple[Any, ...]] = []
    deletes: list[int] = []
    for taxpayer_id, row in changed.items():
        wanted = {(r[1], r[2]): r for r in _contact_rows(taxpayer_id, row, now)}
        for contact in on_record.get(taxpayer_id, []):
            new = wanted.pop((contact.kind, contact.value), None)
            if new is None:
                imported_consent = contact.consent_source in (None, CONSENT_SOURCE)
                if contact.source == CONSENT_SOURCE and imported_consent:
                    deletes.append(contact.id)
                continue
            if row.consent is None or new[4] == contact.notify_consent:
                continue
            if new[4] or contact.consent_source == CONSENT_SOURCE:
                consent_updates.append((contact.id, new[4], new[5], new[6]))
        inserts.extend(wanted.values())
    if deletes:
        for chunk in _chunks(deletes, 500):
            await connection.execute(_contacts.delete().where(_contacts.c.id.in_(chunk)))
    await _update_rows(
        connection, _contacts, ("notify_consent", "consent_source", "consent_at"), consent_updates
    )
    await _insert_rows(connection, _contacts, CONTACT_COLUMNS, inserts)


async def _write_taxpayers(connection: AsyncConnection, plan: _TaxpayerPlan, now: Stamp) -> None:
    if plan.release_accounts:
        for chunk in _chunks(plan.release_accounts, 500):
            await connection.execute(
                _taxpayers.update().where(_taxpayers.c.id.in_(chunk)).values(account_number=None)
            )
    stamped = {"updated_at": now}
    await _update_rows(connection, _taxpayers, TAXPAYER_COLUMNS[1:], plan.updates, stamped)
    created = {"created_at": now, "updated_at": now}
    await _insert_rows(connection, _taxpayers, TAXPAYER_COLUMNS, plan.inserts, created)
    await _analyze(connection, _taxpayers, len(plan.inserts) + len(plan.updates))
    await _sync_contacts(connection, plan.updated_rows, now)
    if plan.inserted_rows:
        ids = await _id_map(connection, _taxpayers)
        await _insert_rows(
            connection,
            _contacts,
            CONTACT_COLUMNS,
            [
                contact
                for row in plan.inserted_rows
                for contact in _contact_rows(ids[row.values[0]], row, now)
            ],
        )


# --- obligations and payments ----------------------------------------------------------------


async def _plan_obligations(
    connection: AsyncConnection, reader: _Reader, progress: Progress | None
) -> _Plan:
    taxpayer_ids = await _id_map(connection, _taxpayers)
    existing: dict[str, tuple[int, str, int]] = {}
    result = await connection.execute(
        sa.select(
            _obligations.c.ref,
            _obligations.c.id,
            _obligations.c.row_hash,
            _obligations.c.taxpayer_id,
        )
    )
    for ref, row_id, digest, taxpayer_id in result:
        existing[ref] = (row_id, digest, taxpayer_id)
    named = set(
        (
            await connection.execute(
                sa.select(_payments.c.obligation_id)
                .where(_payments.c.obligation_id.is_not(None))
                .distinct()
            )
        ).scalars()
    )
    taxpayer_refs = {row_id: ref for ref, row_id in taxpayer_ids.items()}
    plan = _Plan()
    seen: dict[str, int] = {}
    for line, values in reader.rows(progress):
        try:
            row = _obligation_values(values, taxpayer_ids)
            _first_seen(seen, row[0], line, "obligation_ref")
            known = existing.get(row[0])
            if known is not None and known[2] != row[1] and known[0] in named:
                _refuse_move(row[0], taxpayer_refs[known[2]], values[1])
        except (_Bad, _BadRow) as bad:
            reader.report(line, bad)
            continue
        _sort_row(plan, existing.get(row[0]), row)
    return plan


def _refuse_move(obligation_ref: str, owner: str, new_owner: str) -> None:
    """An obligation that payments name stays with its taxpayer.

    The payments are that taxpayer's money, designated by them (OP art. 62 §1) for this
    liability. Moving the obligation would leave them paying another taxpayer's debt, and
    re-homing them (dropping the designation, crediting other debts or refunding) is a staff
    decision with its own procedure, not something an import can guess; so the row is refused.
    """
    raise _Bad(
        "taxpayer_ref",
        f"obligation {obligation_ref!r} is named by payments of taxpayer {owner!r}; it cannot "
        f"move to {new_owner!r} (correct those payments first)",
    )


async def _plan_payments(
    connection: AsyncConnection, reader: _Reader, progress: Progress | None
) -> _Plan:
    taxpayer_ids = await _id_map(connection, _taxpayers)
    obligations: dict[str, tuple[int, int]] = {}
    result = await connection.execute(
        sa.select(_obligations.c.ref, _obligations.c.id, _obligations.c.taxpayer_id)
    )
    for ref, row_id, taxpayer_id in result:
        obligations[ref] = (row_id, taxpayer_id)
    existing: dict[str, tuple[int, str, int]] = {}
    on_record = await connection.execute(
        sa.select(_payments.c.ref, _payments.c.id, _payments.c.row_hash, _payments.c.taxpayer_id)
    )
    for ref, row_id, digest, taxpayer_id in on_record:
        existing[ref] = (row_id, digest, taxpayer_id)
    plan = _Plan()
    seen: dict[str, int] = {}
    for line, values in reader.rows(progress):
        try:
            row = _payment_values(values, taxpayer_ids, obligations)
            _first_seen(seen, row[0], line, "payment_ref")
        except (_Bad, _BadRow) as bad:
            reader.report(line, bad)
            continue
        _sort_row(plan, existing.get(row[0]), row)
    return plan


def _sort_row(plan: _Plan, known: tuple[int, str, int] | None, row: tuple[Any, ...]) -> None:
    """New, changed or unchanged, by the ref's record (id, row_hash, taxpayer_id)."""
    if known is None:
        plan.inserts.append(row)
        plan.touched.add(row[1])
    elif known[1] == row[-1]:
        plan.unchanged += 1
    else:
        plan.updates.append((known[0], *row[1:]))
        plan.touched.update((row[1], known[2]))


async def _write_rows(
    connection: AsyncConnection, kind: ImportKind, plan: _Plan, now: Stamp
) -> None:
    """Obligations or payments: changed rows updated in place by id, new ones inserted."""
    columns: tuple[str, ...]
    if kind is ImportKind.OBLIGATIONS:
        table, columns = _obligations, OBLIGATION_COLUMNS
        stamped: dict[str, Stamp] = {"updated_at": now}
        created: dict[str, Stamp] = {"created_at": now, "updated_at": now}
    else:
        # A payment is a fact that happened: it has no updated_at.
        table, columns = _payments, PAYMENT_COLUMNS
        stamped, created = {}, {"created_at": now}
    await _update_rows(connection, table, columns[1:], plan.updates, stamped)
    await _insert_rows(connection, table, columns, plan.inserts, created)
    await _analyze(connection, table, len(plan.updates) + len(plan.inserts))


async def _refresh_ledger(session: AsyncSession, touched: set[int], policy: LedgerPolicy) -> None:
    """Rewrite the allocations of the touched taxpayers that have payments."""
    if not touched:
        return
    connection = await session.connection()
    result = await connection.execute(sa.select(_payments.c.taxpayer_id).distinct())
    paying = touched.intersection(result.scalars())
    if paying:
        rates = await load_rate_tables(session)
        await refresh_allocations(session, paying, policy, rates)


# --- the import ------------------------------------------------------------------------------


class ImportRefused(Exception):
    """The store refused the import's writes: one line for the operator, no row's values."""


# How long an import waits for another of its kind to finish (SQLite: the busy timeout).
IMPORT_LOCK_WAIT_S: Final = SQLITE_BUSY_TIMEOUT_MS // 1000


async def _take_import_lock(connection: AsyncConnection, kind: ImportKind) -> None:
    """One import per kind at a time; a second one waits for the first, then plans again."""
    await lock_name(
        connection, f"gmina import {kind.value}", table=_import_runs,
        wait_seconds=IMPORT_LOCK_WAIT_S,
    )  # fmt: skip


def _refusal(kind: ImportKind, exc: DBAPIError) -> str:
    if is_lock_timeout(exc):
        return (
            f"another {kind.value} import (or another writer) held the store for over "
            f"{IMPORT_LOCK_WAIT_S} s; try again when it has finished"
        )
    return store_error_reason(exc)


async def _last_run(connection: AsyncConnection, kind: ImportKind) -> int | None:
    """The newest import of this kind: a plan made before it is stale."""
    query = sa.select(sa.func.max(_import_runs.c.id)).where(_import_runs.c.kind == kind.value)
    newest: int | None = (await connection.execute(query)).scalar_one()
    return newest


async def _plan(
    connection: AsyncConnection,
    kind: ImportKind,
    reader: _Reader,
    result: ImportResult,
    progress: Progress | None,
) -> _Plan:
    """Validate the file against the store; the counts and the errors go into `result`."""
    plan: _Plan
    if kind is ImportKind.TAXPAYERS:
        plan = await _plan_taxpayers(connection, reader, progress)
    elif kind is ImportKind.OBLIGATIONS:
        plan = await _plan_obligations(connection, reader, progress)
    else:
        plan = await _plan_payments(connection, reader, progress)
    result.errors = sorted(reader.errors, key=lambda error: error.line)
    result.ignored_columns = reader.unknown
    result.inserted, result.updated = len(plan.inserts), len(plan.updates)
    result.unchanged = plan.unchanged
    result.rows = result.inserted + result.updated + result.unchanged
    if result.errors:
        # Not above DEBUG: the operator's stderr carries exactly one line per bad row.
        log.debug("%s: %d bad rows; nothing imported", reader.name, len(result.errors))
    return plan


async def import_file(
    session: AsyncSession,
    kind: ImportKind | str,
    path: str | Path,
    *,
    dry_run: bool = False,
    display_name: str | None = None,
    policy: LedgerPolicy | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate one export file and, if every row is good, write it in one transaction.

    `display_name` is how errors name the file (default: the path as given). The session's
    transaction is the import's own: it is committed when rows are taken, rolled back otherwise.
    Imports of one kind take turns (`_take_import_lock`); a write the store refuses raises
    `ImportRefused` with one line that holds no row's values.
    """
    kind = ImportKind(kind)
    path = Path(path)
    name = display_name if display_name is not None else str(path)
    result = ImportResult(kind, name, dry_run=dry_run)
    connection = await session.connection()
    generation = await _last_run(connection, kind)
    plan = await _plan(connection, kind, _Reader(path, name, kind), result, progress)
    # Validation is long and reads only: hold no transaction open across it on PostgreSQL.
    await session.rollback()
    if not result.ok or dry_run:
        return result
    result.sha256 = _file_sha256(path)
    now = (clock or SystemClock()).now()
    try:
        connection = await session.connection()
        await _take_import_lock(connection, kind)
        if await _last_run(connection, kind) != generation:
            # Another import of this kind committed while this one validated: plan again,
            # now that no other can start, from what it wrote.
            plan = await _plan(connection, kind, _Reader(path, name, kind), result, progress)
            if not result.ok:
                await session.rollback()
                return result
        stamp = _stamp(connection, now)
        if isinstance(plan, _TaxpayerPlan):
            await _write_taxpayers(connection, plan, stamp)
        else:
            await _write_rows(connection, kind, plan, stamp)
            await _refresh_ledger(
                session, plan.touched, policy or LedgerPolicy.from_settings(LedgerSettings())
            )
        await connection.execute(
            _import_runs.insert().values(
                kind=kind.value,
                file_name=name[-500:],
                sha256=result.sha256,
                rows=result.rows,
                inserted=result.inserted,
                updated=result.updated,
                unchanged=result.unchanged,
                created_at=now,
            )
        )
        await session.commit()
    except DBAPIError as exc:
        await session.rollback()
        # `from None`: the driver's error carries the rows' values (PESELs, names, accounts).
        raise ImportRefused(_refusal(kind, exc)) from None
    except BaseException:
        await session.rollback()
        raise
    log.info(
        "imported %s from %s: %d inserted, %d updated, %d unchanged",
        kind.value, name, result.inserted, result.updated, result.unchanged,
    )  # fmt: skip
    return result
