"""Reading an export: the CSV's header matched to the contract's columns, rows as tuples.

UTF-8 (a BOM is accepted), comma-separated, a header row; columns are matched by name and
unknown ones ignored. LINE in an error is the physical line, the header being line 1.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO, Final

from storage.import_rows import Bad, BadRow

PROGRESS_EVERY: Final = 10_000

Progress = Callable[[int], None]


class ImportKind(StrEnum):
    TAXPAYERS = "taxpayers"
    OBLIGATIONS = "obligations"
    PAYMENTS = "payments"


# Required and optional columns per file, in the contract's order. A taxpayers file needs only
# one of `pesel` and `nip`; `source` defaults to "import".
REQUIRED_COLUMNS: Final[dict[ImportKind, tuple[str, ...]]] = {
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
OPTIONAL_COLUMNS: Final[dict[ImportKind, tuple[str, ...]]] = {
    ImportKind.TAXPAYERS: ("pesel", "nip", "notify_consent"),
    ImportKind.OBLIGATIONS: ("decision_delivered_on",),
    ImportKind.PAYMENTS: ("source",),
}


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.reason}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- reading ---------------------------------------------------------------------------------


class Reader:
    """The CSV's rows as tuples in the order of `columns` ("" for an absent optional one)."""

    def __init__(self, path: Path, name: str, kind: ImportKind) -> None:
        self.path = path
        self.name = name
        self.required = REQUIRED_COLUMNS[kind]
        self.columns = self.required + OPTIONAL_COLUMNS[kind]
        self.present: set[str] = set()
        self.unknown: list[str] = []
        self.errors: list[RowError] = []

    def error(self, line: int, column: str, reason: str) -> None:
        self.errors.append(RowError(self.name, line, column, reason))

    def report(self, line: int, bad: Bad | BadRow) -> None:
        for problem in bad.problems if isinstance(bad, BadRow) else (bad,):
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
