"""What a statement reader gives: its entries, each with where it stands in the file, and the
problems found, one line each (`FILE:LINE: reason` or `FILE: entry N: reason`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from storage.identifiers import normalise_nrb

# The currency the city's ledger keeps.
CURRENCY = "PLN"


@dataclass(frozen=True, order=True)
class Place:
    """A line of the file (`FILE:LINE`) or, in XML, an entry (`FILE: entry N`)."""

    number: int
    name: str = field(compare=False)
    entry: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.name}: entry {self.number}" if self.entry else f"{self.name}:{self.number}"


@dataclass(frozen=True)
class Problem:
    where: Place
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class Entry:
    """One booked entry of a statement: a credit (money in) or a debit (ignored)."""

    where: Place
    bank_ref: str
    credit: bool
    paid_on: date
    amount: Decimal
    currency: str
    # The account the money was paid to, as the bank wrote it.
    credited_account: str
    counterparty: str = ""
    counterparty_account: str = ""
    title: str = ""


@dataclass
class Read:
    """A statement file read: its format, its entries in order, and what is wrong with it."""

    format: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def compact_account(value: str) -> str:
    """The 26 digits of an account written as NRB or Polish IBAN (spaces, `PL`, a leading `/`
    as in MT940's `:25:`); ValueError when it is not 26 digits or its check digits (mod 97) are
    wrong. Cheap: the full check (`full_account_check`) is for accounts the city does not know."""
    compact = value.strip().lstrip("/").replace(" ", "").upper().removeprefix("PL")
    if len(compact) != 26 or not (compact.isascii() and compact.isdigit()):
        raise ValueError("expected 26 digits")
    # ISO 13616: the country code moved to the end as digits (P=25, L=21), mod 97 is 1.
    if int(compact[2:] + "2521" + compact[:2]) % 97 != 1:
        raise ValueError("wrong check digits")
    return compact


def full_account_check(account: str) -> None:
    """schwifty's check of a 26-digit NRB: check digits and the bank's branch code (ValueError).
    Individual accounts on record passed it when the finance system's export was imported."""
    normalise_nrb(account)
