"""The tax ledger: effective due dates, interest on arrears, allocation of payments.

Pure computation: frozen dataclasses in, dataclasses out, `Decimal` money, no database and no I/O.
`storage.balances` feeds it from the store. The rules and where they come from (DOMAIN.md):

- effective due date: OP art. 47 §2 (late delivery of the decision), then OP art. 12 §5 (a day
  off moves the deadline to the next working day);
- interest: from the day after the effective due date up to and including the day of payment
  (OP art. 53), principal × days × rate / 365 per rate period, summed, then the kind's policy:
  not charged up to the threshold (OP art. 54 §1 pkt 5), rounded to whole złoty for taxes
  (OP art. 63 §1);
- a payment goes to the obligation it names, then to the ones due first (OP art. 62 §1); one that
  does not cover principal and interest is split between them in proportion (OP art. 55 §2).
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import holidays

from kernel.errors import InputError
from kernel.money import ZERO, to_grosze, to_whole_zloty
from kernel.settings import LedgerSettings
from storage.models import InterestTable, ObligationKind

ONE_DAY = timedelta(days=1)
# OP art. 47 §2: a decision delivered less than this many days before a deadline moves it.
DELIVERY_NOTICE = timedelta(days=14)
# OP art. 56 and KC art. 481 both count a year as 365 days, leap year or not; × 100 for percent.
DAY_PERCENT_DIVISOR = Decimal(36500)


class LedgerError(InputError):
    """Input the ledger cannot compute with; the message says what and where."""


class RateTableError(LedgerError):
    """No interest rate is known for a day that needs one."""


# --- effective due dates ----------------------------------------------------------------------


@functools.cache
def _public_holidays(year: int) -> frozenset[date]:
    # The same calendar as `holidays.Poland`, through the package's typed entry point.
    return frozenset(holidays.country_holidays("PL", years=year).keys())


def is_day_off(day: date) -> bool:
    """Saturday, Sunday or a Polish public holiday (24 Dec from 2025, per the package)."""
    return day.weekday() >= 5 or day in _public_holidays(day.year)


@functools.lru_cache(maxsize=4096)
def effective_due_date(due_date: date, decision_delivered_on: date | None = None) -> date:
    """The day a payment is late after: OP art. 47 §2, then OP art. 12 §5. Cached: a city's
    obligations share a handful of due dates, and a refresh asks for each of them."""
    due = due_date
    if decision_delivered_on is not None and due_date - decision_delivered_on < DELIVERY_NOTICE:
        due = decision_delivered_on + DELIVERY_NOTICE
    while is_day_off(due):
        due += ONE_DAY
    return due


# --- interest rates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RateTable:
    """One statutory rate history: each rate applies from its `effective_from` to the next one."""

    name: str
    starts: tuple[date, ...]
    rates: tuple[Decimal, ...]

    @classmethod
    def from_rows(cls, name: str, rows: Iterable[tuple[date, Decimal]]) -> RateTable:
        ordered = sorted(rows)
        if not ordered:
            raise RateTableError(f"interest-rate table {name!r} has no rates")
        starts = tuple(start for start, _ in ordered)
        if len(set(starts)) != len(starts):
            raise RateTableError(f"interest-rate table {name!r} has two rates from one day")
        return cls(name, starts, tuple(Decimal(rate) for _, rate in ordered))

    def interest(self, principal: Decimal, from_exclusive: date, to_inclusive: date) -> Decimal:
        """Unrounded interest on `principal` for the days after `from_exclusive` up to and
        including `to_inclusive` (OP art. 53), summed over the rate periods it crosses."""
        if to_inclusive <= from_exclusive:
            return Decimal(0)
        day = from_exclusive + ONE_DAY
        if day < self.starts[0]:
            raise RateTableError(
                f"no {self.name!r} interest rate for {day.isoformat()}: "
                f"the table starts on {self.starts[0].isoformat()}"
            )
        index = bisect_right(self.starts, day) - 1
        # Σ days × rate, exact; one division at the end so only the sum is ever rounded.
        rate_days = Decimal(0)
        while day <= to_inclusive:
            next_start = self.starts[index + 1] if index + 1 < len(self.starts) else None
            last = to_inclusive if next_start is None else min(to_inclusive, next_start - ONE_DAY)
            rate_days += self.rates[index] * ((last - day).days + 1)
            day = last + ONE_DAY
            index += 1
        return principal * rate_days / DAY_PERCENT_DIVISOR


# --- what each kind of levy accrues -----------------------------------------------------------


@dataclass(frozen=True)
class InterestRule:
    """How one kind of levy accrues interest when late."""

    table: str
    # OP art. 63 §1 rounds tax interest to whole złoty; otherwise to grosze.
    whole_zloty: bool
    # OP art. 54 §1 pkt 5: tax-ordinance interest not above this is not charged; None for civil.
    threshold: Decimal | None

    def charge(self, accrued: Decimal) -> Decimal:
        """The interest charged for one period's unrounded accrual."""
        if accrued <= 0 or (self.threshold is not None and accrued <= self.threshold):
            return ZERO
        return to_whole_zloty(accrued) if self.whole_zloty else to_grosze(accrued)


@dataclass(frozen=True)
class LedgerPolicy:
    """Kind → interest rule: the one place that says which table, threshold and rounding apply."""

    rules: Mapping[str, InterestRule]

    @classmethod
    def from_settings(cls, settings: LedgerSettings) -> LedgerPolicy:
        threshold = settings.interest_threshold
        tax = InterestRule(InterestTable.TAX, whole_zloty=True, threshold=threshold)
        # Fees accrue tax-ordinance interest too; whether it is rounded is unconfirmed (config).
        fee = InterestRule(
            InterestTable.TAX, whole_zloty=settings.round_fee_interest, threshold=threshold
        )
        # A civil-law charge: statutory civil interest, to the grosz, no tax-ordinance threshold.
        civil = InterestRule(InterestTable.CIVIL, whole_zloty=False, threshold=None)
        kinds = ObligationKind
        return cls(
            {
                kinds.PROPERTY_TAX: tax,
                kinds.AGRICULTURAL_TAX: tax,
                kinds.FOREST_TAX: tax,
                kinds.VEHICLE_TAX: tax,
                kinds.WASTE_FEE: fee,
                kinds.DOG_FEE: fee,
                kinds.OTHER_FEE: fee,
                kinds.PERPETUAL_USUFRUCT: civil,
            }
        )

    def rule(self, kind: str) -> InterestRule:
        try:
            return self.rules[kind]
        except KeyError:
            raise LedgerError(f"unknown obligation kind: {kind!r}") from None


# --- the ledger -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerObligation:
    ref: str
    kind: str
    due_date: date
    amount: Decimal
    decision_delivered_on: date | None = None


@dataclass(frozen=True)
class LedgerPayment:
    ref: str
    paid_on: date
    amount: Decimal
    # The obligation the payer named (OP art. 62 §1); None: allocated by the rules.
    obligation_ref: str | None = None


@dataclass(frozen=True)
class AllocatedPart:
    """The part of a payment that went to one obligation; `obligation_ref` None: overpayment."""

    payment_ref: str
    obligation_ref: str | None
    principal: Decimal
    interest: Decimal


@dataclass(frozen=True)
class ObligationBalance:
    obligation_ref: str
    kind: str
    due_date: date
    effective_due_date: date
    principal: Decimal
    interest: Decimal
    total: Decimal


@dataclass(frozen=True)
class LedgerResult:
    as_of: date
    # Only obligations with something outstanding, in order of effective due date, then ref.
    obligations: tuple[ObligationBalance, ...]
    total: Decimal
    overdue: Decimal
    overpayment: Decimal
    allocations: tuple[AllocatedPart, ...]


class _Account:
    """One obligation's running state while payments are replayed."""

    __slots__ = (
        "carried",
        "effective_due",
        "obligation",
        "principal",
        "rates",
        "rule",
        "settled_to",
    )

    def __init__(self, obligation: LedgerObligation, rule: InterestRule, rates: RateTable) -> None:
        self.obligation = obligation
        self.rule = rule
        self.rates = rates
        self.effective_due = effective_due_date(
            obligation.due_date, obligation.decision_delivered_on
        )
        self.principal = to_grosze(obligation.amount)
        # Interest settled at an earlier payment and not paid then; it bears no interest itself.
        self.carried = ZERO
        # Interest has been reckoned for every day up to and including this one.
        self.settled_to = self.effective_due

    @property
    def outstanding(self) -> bool:
        return self.principal > 0 or self.carried > 0

    def interest_on(self, day: date) -> Decimal:
        """Carried interest plus what the principal has accrued since the last settlement."""
        if day <= self.settled_to or self.principal == 0:
            return self.carried
        accrued = self.rates.interest(self.principal, self.settled_to, day)
        return self.carried + self.rule.charge(accrued)

    def settle(self, day: date, money: Decimal) -> tuple[Decimal, Decimal]:
        """Apply `money` paid on `day`; returns the (principal, interest) parts taken."""
        interest = self.interest_on(day)
        owed = self.principal + interest
        if money >= owed:
            principal_part, interest_part = self.principal, interest
        else:
            # OP art. 55 §2: in proportion to principal and interest as they stand on the day.
            interest_part = to_grosze(money * interest / owed)
            principal_part = money - interest_part
        self.principal -= principal_part
        self.carried = interest - interest_part
        self.settled_to = max(self.settled_to, day)
        return principal_part, interest_part


def _accounts(
    obligations: Sequence[LedgerObligation], rates: Mapping[str, RateTable], policy: LedgerPolicy
) -> list[_Account]:
    accounts: list[_Account] = []
    seen: set[str] = set()
    for obligation in obligations:
        if obligation.ref in seen:
            raise LedgerError(f"obligation {obligation.ref!r} given twice")
        if obligation.amount < 0:
            raise LedgerError(f"obligation {obligation.ref!r} has a negative amount")
        seen.add(obligation.ref)
        rule = policy.rule(obligation.kind)
        try:
            table = rates[rule.table]
        except KeyError:
            raise RateTableError(f"no {rule.table!r} interest-rate table") from None
        accounts.append(_Account(obligation, rule, table))
    # OP art. 62 §1: what is due first is paid first; the ref makes the order total.
    accounts.sort(key=lambda account: (account.effective_due, account.obligation.ref))
    return accounts


def _replay(
    accounts: Sequence[_Account], payments: Iterable[LedgerPayment]
) -> tuple[list[AllocatedPart], Decimal]:
    """Apply the payments, in (date, ref) order, to the accounts; their parts and the
    overpayment. The accounts are left as they stand after the last payment."""
    by_ref = {account.obligation.ref: account for account in accounts}
    allocations: list[AllocatedPart] = []
    overpayment = ZERO
    for payment in sorted(payments, key=lambda payment: (payment.paid_on, payment.ref)):
        if payment.amount < 0:
            raise LedgerError(f"payment {payment.ref!r} has a negative amount")
        money = to_grosze(payment.amount)
        # A named obligation of someone else (or one since removed) is treated as unnamed.
        named = by_ref.get(payment.obligation_ref) if payment.obligation_ref else None
        order = accounts if named is None else [named, *(a for a in accounts if a is not named)]
        for account in order:
            if money == 0:
                break
            if not account.outstanding:
                continue
            principal_part, interest_part = account.settle(payment.paid_on, money)
            money -= principal_part + interest_part
            allocations.append(
                AllocatedPart(payment.ref, account.obligation.ref, principal_part, interest_part)
            )
        if money > 0:
            overpayment += money
            allocations.append(AllocatedPart(payment.ref, None, money, ZERO))
    return allocations, overpayment


def allocate_payments(
    obligations: Sequence[LedgerObligation],
    payments: Sequence[LedgerPayment],
    rates: Mapping[str, RateTable],
    policy: LedgerPolicy,
) -> list[AllocatedPart]:
    """The split of every payment, whatever its date: `compute_ledger(...).allocations` as of
    the last payment's day, without working out the balance that day (what a refresh of the
    stored allocations needs, for many taxpayers at a time)."""
    allocations, _ = _replay(_accounts(obligations, rates, policy), payments)
    return allocations


def compute_ledger(
    obligations: Sequence[LedgerObligation],
    payments: Sequence[LedgerPayment],
    as_of: date,
    rates: Mapping[str, RateTable],
    policy: LedgerPolicy,
) -> LedgerResult:
    """Replay the payments made up to `as_of` against the obligations; the balance on `as_of`."""
    accounts = _accounts(obligations, rates, policy)
    allocations, overpayment = _replay(
        accounts, (payment for payment in payments if payment.paid_on <= as_of)
    )

    rows: list[ObligationBalance] = []
    total = overdue = ZERO
    for account in accounts:
        interest = account.interest_on(as_of)
        owed = account.principal + interest
        if owed == 0:
            continue
        obligation = account.obligation
        rows.append(
            ObligationBalance(
                obligation_ref=obligation.ref,
                kind=obligation.kind,
                due_date=obligation.due_date,
                effective_due_date=account.effective_due,
                principal=account.principal,
                interest=interest,
                total=owed,
            )
        )
        total += owed
        if account.effective_due < as_of:
            overdue += owed
    return LedgerResult(
        as_of=as_of,
        obligations=tuple(rows),
        total=total,
        overdue=overdue,
        overpayment=overpayment,
        allocations=tuple(allocations),
    )
