"""Bank statements that book themselves: `gmina import bank-statement FILE`.

MT940 (the frame by the `mt-940` package, the Polish `:86:` by `details86`; UTF-8 or CP852,
told apart by whether the bytes are valid UTF-8) or camt.053 001.02–08 (XML, told by its first
character). Each credit is matched to a taxpayer by the individual account it was paid to, and
booked once through `storage.bookings` (the bank's reference is the key, source `bank`);
credits that match no taxpayer are kept for staff; debits and reversals are ignored.

Like every import, all or nothing: one line per problem, `FILE:LINE: reason` (camt.053:
`FILE: entry N: reason`), and nothing is written while there is one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import Clock, SystemClock
from kernel.errors import StoreError
from payments.statements.camt053 import looks_like_xml, read_camt053
from payments.statements.entries import (
    CURRENCY,
    Entry,
    Problem,
    Read,
    compact_account,
    full_account_check,
)
from payments.statements.mt940_reader import read_mt940
from storage.bookings import (
    BANK_SOURCE,
    MAX_EXTERNAL_REF,
    BookingConflict,
    Credit,
    CreditsBooked,
    book_credits,
    taxpayer_ids_by_account,
)
from storage.ledger import LedgerPolicy
from storage.sql import store_error_reason

__all__ = ["StatementRefused", "StatementResult", "import_statement", "read_statement"]

log = logging.getLogger(__name__)

_UTF8_BOM = b"\xef\xbb\xbf"


class StatementRefused(StoreError):
    """The store refused the statement's writes: one line, no entry's values."""


@dataclass
class StatementResult:
    file_name: str
    format: str = ""
    entries: int = 0
    credits: int = 0
    debits: int = 0
    repeated: int = 0
    outcome: CreditsBooked = field(default_factory=CreditsBooked)
    dry_run: bool = False
    errors: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line for the operator."""
        o = self.outcome
        counts = (
            f"{o.booked} booked, {o.already_booked} booked before, "
            f"{o.kept_unmatched} kept unmatched, {o.already_kept} kept before"
        )
        head = (
            f"{self.file_name}: {self.format}, {self.entries} entries: {self.credits} credits, "
            f"{self.debits} debits and reversals ignored"
        )
        if self.repeated:
            head += f", {self.repeated} repeated in the file"
        if self.dry_run:
            return f"{head}; dry run, would be: {counts}; nothing written"
        return f"{head}; {counts}"


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without a BOM) when the bytes are valid UTF-8, else CP852 (DOS Latin 2,
    which some Polish banks still write): Polish letters in CP852 are never valid UTF-8."""
    raw = raw.removeprefix(_UTF8_BOM)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp852")


def read_statement(path: Path, name: str) -> Read:
    """The entries of an MT940 or camt.053 file, with the problems found in it."""
    with path.open("rb") as handle:
        head = handle.read(64)
        if looks_like_xml(head):
            handle.seek(0)
            return read_camt053(name, handle)
        raw = head + handle.read()
    return read_mt940(name, _decode(raw))


def _same_credit(one: Credit, other: Credit) -> bool:
    """The facts a booking keeps; a repeat may word the payer or the title differently."""
    return (one.account, one.paid_on, one.amount) == (other.account, other.paid_on, other.amount)


def _credits(read: Read, name: str, result: StatementResult) -> dict[str, tuple[Entry, Credit]]:
    """The credits to book, by bank reference; problems go to `result.errors`."""
    found: dict[str, tuple[Entry, Credit]] = {}
    for entry in read.entries:
        if not entry.credit:
            result.debits += 1
            continue
        result.credits += 1
        problems = []
        if entry.currency != CURRENCY:
            problems.append(f"currency {entry.currency or 'none'}: only {CURRENCY} is booked")
        if entry.amount <= 0:
            problems.append("a credit of no amount")
        if len(entry.bank_ref) > MAX_EXTERNAL_REF:
            problems.append(f"bank reference longer than {MAX_EXTERNAL_REF} characters")
        account = ""
        if entry.credited_account:
            try:
                account = compact_account(entry.credited_account)
            except ValueError as exc:
                problems.append(f"the account paid to is not a valid NRB/IBAN: {exc}")
        if problems:
            result.errors.extend(Problem(entry.where, p) for p in problems)
            continue
        credit = Credit(
            BANK_SOURCE, entry.bank_ref, account, entry.paid_on, entry.amount,
            counterparty=entry.counterparty, counterparty_account=entry.counterparty_account,
            title=entry.title,
        )  # fmt: skip
        earlier = found.get(entry.bank_ref)
        if earlier is None:
            found[entry.bank_ref] = (entry, credit)
        elif _same_credit(earlier[1], credit):
            # The same credit on two statements of the file (an interim and a daily one).
            result.repeated += 1
        else:
            result.errors.append(
                Problem(
                    entry.where,
                    f"bank reference {entry.bank_ref!r} is also at {earlier[0].where} "
                    "with another amount, date or account",
                )
            )
    return found


async def _check_unknown_accounts(
    session: AsyncSession, found: dict[str, tuple[Entry, Credit]], result: StatementResult
) -> None:
    """schwifty's full check (the bank's branch code too) of each account paid to that is no
    taxpayer's: the taxpayers' own passed it when they were imported."""
    accounts = {credit.account for _, credit in found.values() if credit.account}
    known = await taxpayer_ids_by_account(session, sorted(accounts))
    await session.rollback()
    for entry, credit in found.values():
        if credit.account and credit.account not in known:
            try:
                full_account_check(credit.account)
            except ValueError as exc:
                result.errors.append(
                    Problem(entry.where, f"the account paid to is not a valid NRB/IBAN: {exc}")
                )


async def import_statement(
    session: AsyncSession,
    path: str | Path,
    policy: LedgerPolicy,
    *,
    dry_run: bool = False,
    display_name: str | None = None,
    clock: Clock | None = None,
) -> StatementResult:
    """Read a statement and, if it has no problem, book its credits in one transaction.

    The session's transaction is the import's own: committed when the credits are taken,
    rolled back otherwise. A write the store refuses raises `StatementRefused`.
    """
    path = Path(path)
    name = display_name if display_name is not None else str(path)
    result = StatementResult(name, dry_run=dry_run)
    read = read_statement(path, name)
    result.format = read.format
    result.entries = len(read.entries)
    result.errors.extend(read.problems)
    found = _credits(read, name, result)
    await _check_unknown_accounts(session, found, result)
    if not result.ok:
        result.errors.sort(key=lambda problem: problem.where)
        return result
    now = (clock or SystemClock()).now()
    credits = [credit for _, credit in found.values()]
    try:
        result.outcome = await book_credits(session, credits, name, policy, now, dry_run=dry_run)
        if dry_run:
            await session.rollback()
        else:
            await session.commit()
    except BookingConflict as conflict:
        await session.rollback()
        for ref in conflict.refs:
            entry = found[ref.removeprefix(f"{BANK_SOURCE}:")][0]
            result.errors.append(
                Problem(entry.where, f"bank reference {entry.bank_ref!r} was booked before "
                        "with another taxpayer, amount or date")
            )  # fmt: skip
        return result
    except DBAPIError as exc:
        await session.rollback()
        raise StatementRefused(store_error_reason(exc)) from None
    except BaseException:
        await session.rollback()
        raise
    outcome = result.outcome
    log.info(
        "bank statement %s: %d booked, %d booked before, %d kept unmatched, %d kept before",
        name, outcome.booked, outcome.already_booked, outcome.kept_unmatched,
        outcome.already_kept,
    )  # fmt: skip
    return result
