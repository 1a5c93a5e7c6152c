"""MT940 statements: the frame read by the `mt-940` package, the `:86:` by ours (details86).

Each problem names the line of the tag it is in. The package drops blank lines before it
reads; here every line is kept (blanked instead), so a tag's place in the text gives its line.
The SWIFT envelope (`{1:…}{2:…}{4:` and `-}`), when a bank sends it, is blanked the same way.
"""

from __future__ import annotations

import bisect
import logging
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import mt940
from mt940.options import Options

from payments.statements.details86 import read_details
from payments.statements.entries import Entry, Place, Problem, Read

# The package logs a tag's value (payers' names, accounts, titles) when it cannot read it; the
# problem is reported here instead, by line, without the values.
logging.getLogger("mt940").setLevel(logging.CRITICAL)

_ENVELOPE = re.compile(r"^(\{[1-5]:.*|-\}?)$")


class _Frame(mt940.models.Transactions):
    """The package's reader, told to keep line numbers and to go on past a bad tag."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(
            # The raw `:86:` text: our reader splits it, not the German `?NN` processor.
            processors={
                "post_transaction_details": [],
                "post_statement": [
                    *mt940.models.Transactions.DEFAULT_PROCESSORS["post_statement"],
                    mt940.processors.transactions_to_transaction("account_identification"),
                ],
            },
            options=Options(unbounded_details=True),
        )
        self.name = name
        self.problems: list[Problem] = []
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    @staticmethod
    def strip(lines: list[str]) -> list[str]:
        kept = []
        for raw in lines:
            line = raw.replace("\r", "").rstrip()
            kept.append("" if _ENVELOPE.match(line.strip()) else line)
        return kept

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)

    def _process_match(
        self, match: re.Match[str], i: int, valid_matches: list[re.Match[str]], data: str
    ) -> None:
        line = self.line_of(match.start())
        tag = match.group("full_tag")
        try:
            super()._process_match(match, i, valid_matches, data)
        except (RuntimeError, ValueError, KeyError, TypeError, InvalidOperation):
            self.problems.append(
                Problem(Place(line, self.name), f":{tag}: does not follow the MT940 layout")
            )
            if tag == "61":
                # A stand-in (with an id, without a line) that takes the bad line's `:86:`,
                # which would otherwise be glued to the transaction before.
                self.transactions.append(mt940.models.Transaction(self, {"id": "unread"}))
            return
        if tag == "61":
            self.transactions[-1].data["line"] = line


def _entry(name: str, data: dict[str, Any]) -> Entry | Problem:
    where = Place(data["line"], name)
    details = read_details(str(data.get("transaction_details") or ""))
    amount = data["amount"]
    # The bank's reference after `//`; some banks leave it out and number the operation in
    # `<10`; a customer reference other than NONREF is the last resort.
    customer = str(data.get("customer_reference") or "").strip()
    bank_ref = (
        str(data.get("bank_reference") or "").strip()
        or details.operation_ref
        or ("" if customer.upper() == "NONREF" else customer)
    )
    if not bank_ref:
        return Problem(where, ":61: has no bank reference (after //, or in <10 of :86:)")
    status = str(data.get("status") or "")
    return Entry(
        where=where,
        bank_ref=bank_ref,
        # RC/RD are reversals of earlier entries, not money paid in.
        credit=status == "C",
        paid_on=date(data["date"].year, data["date"].month, data["date"].day),
        amount=abs(Decimal(amount.amount)),
        currency=str(amount.currency or ""),
        credited_account=details.credited_account or str(data.get("account_identification", "")),
        counterparty=details.counterparty,
        counterparty_account=details.counterparty_account,
        title=details.title,
    )


def read_mt940(name: str, text: str) -> Read:
    """The entries of every statement in an MT940 file, with the problems found."""
    frame = _Frame(name, text)
    frame.parse(text)
    read = Read("MT940", problems=frame.problems)
    if not frame.transactions and not frame.data and not frame.problems:
        read.problems.append(
            Problem(Place(1, name), "not an MT940 statement: no :20:, :25: or :61:")
        )
    for transaction in frame.transactions:
        if "line" not in transaction.data:
            continue  # a bad :61:, already reported
        found = _entry(name, transaction.data)
        if isinstance(found, Problem):
            read.problems.append(found)
        else:
            read.entries.append(found)
    return read
