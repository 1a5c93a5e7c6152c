"""The ledger's rules, without a store: due dates, rate tables, interest policy, allocation.

Amounts worked by hand are written out beside each case; the interest formula is
principal × days × rate / 36500 per rate period (OP art. 53, 56), from the seeded rate history:
tax 14.5% from 2023-10-05, 13.5% from 2025-05-08; civil 11.25% from 2023-10-05, 10.75% from
2025-05-08.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kernel.settings import LedgerSettings
from storage.ledger import (
    LedgerError,
    LedgerObligation,
    LedgerPayment,
    LedgerPolicy,
    LedgerResult,
    RateTable,
    RateTableError,
    compute_ledger,
    effective_due_date,
    is_day_off,
)
from storage.models import ObligationKind
from storage.rates_seed import SEED_RATES

RATES = {name: RateTable.from_rows(name, rows) for name, rows in SEED_RATES.items()}
POLICY = LedgerPolicy.from_settings(LedgerSettings())
D = Decimal
NIL = Decimal("0.00")
TAX_KINDS = ("property_tax", "agricultural_tax", "forest_tax", "vehicle_tax")
FEE_KINDS = ("waste_fee", "dog_fee", "other_fee")


def ledger(
    obligations: list[LedgerObligation],
    payments: list[LedgerPayment],
    as_of: date,
    policy: LedgerPolicy = POLICY,
) -> LedgerResult:
    return compute_ledger(obligations, payments, as_of, RATES, policy)


def obligation(
    ref: str, kind: str, due: date, amount: str, delivered: date | None = None
) -> LedgerObligation:
    return LedgerObligation(ref, kind, due, D(amount), delivered)


def payment(ref: str, paid_on: date, amount: str, names: str | None = None) -> LedgerPayment:
    return LedgerPayment(ref, paid_on, D(amount), names)


# --- effective due dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "effective"),
    [
        (date(2025, 3, 15), date(2025, 3, 17)),  # Saturday → Monday
        (date(2026, 3, 15), date(2026, 3, 16)),  # Sunday → Monday
        (date(2027, 5, 15), date(2027, 5, 17)),  # Saturday → Monday
        (date(2024, 3, 15), date(2024, 3, 15)),  # a Friday stays
        (date(2024, 3, 31), date(2024, 4, 2)),  # Easter Sunday, then Easter Monday
        (date(2024, 11, 1), date(2024, 11, 4)),  # All Saints' Day (Fri), then the weekend
        (date(2025, 5, 3), date(2025, 5, 5)),  # Third of May on a Saturday
        (date(2025, 12, 24), date(2025, 12, 29)),  # 24 Dec is a holiday from 2025; 25-28 off
        (date(2024, 12, 24), date(2024, 12, 24)),  # ...but not in 2024
    ],
)
def test_a_deadline_on_a_day_off_moves_to_the_next_working_day(due: date, effective: date) -> None:
    # OP art. 12 §5.
    assert effective_due_date(due) == effective


def test_is_day_off_knows_weekends_and_holidays() -> None:
    assert is_day_off(date(2025, 11, 11))  # Independence Day, a Tuesday
    assert is_day_off(date(2025, 3, 16))  # Sunday
    assert not is_day_off(date(2025, 3, 17))


@pytest.mark.parametrize(
    ("due", "delivered", "effective"),
    [
        # 14 days before the deadline is enough: the deadline stays.
        (date(2025, 5, 15), date(2025, 5, 1), date(2025, 5, 15)),
        # 13 days: 2 May + 14 days = Friday 16 May.
        (date(2025, 5, 15), date(2025, 5, 2), date(2025, 5, 16)),
        # 7 Mar + 14 = Friday 21 Mar.
        (date(2025, 3, 15), date(2025, 3, 7), date(2025, 3, 21)),
        # 8 Mar + 14 = Saturday 22 Mar, then art. 12 §5: Monday 24 Mar.
        (date(2025, 3, 15), date(2025, 3, 8), date(2025, 3, 24)),
        # Delivered after the deadline: 20 Mar + 14 = Thursday 3 Apr.
        (date(2025, 3, 15), date(2025, 3, 20), date(2025, 4, 3)),
    ],
)
def test_late_delivery_of_the_decision_moves_the_deadline(
    due: date, delivered: date, effective: date
) -> None:
    # OP art. 47 §2, then art. 12 §5.
    assert effective_due_date(due, delivered) == effective


# --- rate tables ------------------------------------------------------------------------------


def test_interest_within_one_rate_period() -> None:
    # 36500 × 10 days (2 Jan–11 Jan 2024) × 14.5 / 36500 = 145.
    assert RATES["tax"].interest(D("36500"), date(2024, 1, 1), date(2024, 1, 11)) == D("145")


def test_interest_is_summed_over_rate_periods_and_left_unrounded() -> None:
    # 10000 from 18 Mar to 20 May 2025: 18 Mar–7 May is 14 + 30 + 7 = 51 days at 14.5%,
    # 8–20 May is 13 days at 13.5%: (51 × 14.5 + 13 × 13.5) × 10000 / 36500 = 9150000 / 36500.
    interest = RATES["tax"].interest(D("10000"), date(2025, 3, 17), date(2025, 5, 20))
    assert interest == D(9150000) / D(36500)
    assert str(interest).startswith("250.6849315")


def test_interest_for_no_days_is_zero() -> None:
    assert RATES["tax"].interest(D("1000"), date(2025, 3, 17), date(2025, 3, 17)) == 0
    assert RATES["tax"].interest(D("1000"), date(2025, 3, 17), date(2025, 3, 1)) == 0


def test_a_day_before_the_table_starts_is_an_error() -> None:
    table = RateTable.from_rows("tax", [(date(2024, 1, 1), D("10")), (date(2023, 1, 1), D("8"))])
    # Unsorted rows are sorted; the first day of the first period is covered.
    assert table.interest(D("36500"), date(2022, 12, 31), date(2023, 1, 1)) == D("8")
    with pytest.raises(RateTableError, match=r"no 'tax' interest rate for 2022-12-31.*2023-01-01"):
        table.interest(D("100"), date(2022, 12, 30), date(2023, 1, 5))


def test_a_rate_table_needs_rows_and_one_rate_a_day() -> None:
    with pytest.raises(RateTableError, match="no rates"):
        RateTable.from_rows("civil", [])
    with pytest.raises(RateTableError, match="two rates from one day"):
        RateTable.from_rows("civil", [(date(2024, 1, 1), D("8")), (date(2024, 1, 1), D("9"))])


# --- interest policy --------------------------------------------------------------------------


def test_each_kind_has_its_table() -> None:
    assert {kind: POLICY.rule(kind).table for kind in ObligationKind} == {
        **{kind: "tax" for kind in (*TAX_KINDS, *FEE_KINDS)},
        "perpetual_usufruct": "civil",
    }


def test_an_unknown_kind_is_an_error() -> None:
    with pytest.raises(LedgerError, match="unknown obligation kind: 'boat_tax'"):
        POLICY.rule("boat_tax")


@pytest.mark.parametrize(
    ("kind", "round_fee_interest", "accrued", "charged"),
    [
        # OP art. 54 §1 pkt 5: not above 8,70 zł, not charged.
        ("property_tax", False, "8.70", "0.00"),
        ("property_tax", False, "8.71", "9.00"),
        # OP art. 63 §1: whole złoty, 50 gr up.
        ("property_tax", False, "8.88", "9.00"),
        ("vehicle_tax", False, "9.4999", "9.00"),
        ("forest_tax", False, "9.50", "10.00"),
        # Fees: the same threshold; rounding only if configured.
        ("dog_fee", False, "8.70", "0.00"),
        ("dog_fee", False, "8.71", "8.71"),
        ("waste_fee", False, "12.345", "12.35"),
        ("waste_fee", True, "12.345", "12.00"),
        ("other_fee", True, "8.71", "9.00"),
        # Perpetual usufruct: civil interest to the grosz, no threshold.
        ("perpetual_usufruct", True, "4.6232", "4.62"),
        ("perpetual_usufruct", False, "0.004", "0.00"),
    ],
)
def test_interest_charged_per_kind(
    kind: str, round_fee_interest: bool, accrued: str, charged: str
) -> None:
    policy = LedgerPolicy.from_settings(LedgerSettings(round_fee_interest=round_fee_interest))
    assert str(policy.rule(kind).charge(D(accrued))) == charged


def test_the_threshold_comes_from_settings() -> None:
    policy = LedgerPolicy.from_settings(LedgerSettings(interest_threshold=D("10.00")))
    assert policy.rule("property_tax").charge(D("9.99")) == 0
    assert policy.rule("property_tax").charge(D("10.01")) == D("10.00")


# --- compute_ledger ---------------------------------------------------------------------------


def test_a_saturday_instalment_paid_on_monday_is_on_time() -> None:
    # Due Saturday 15 Mar 2025, effective Monday 17 Mar: paying then carries no interest.
    result = ledger(
        [obligation("O1", "property_tax", date(2025, 3, 15), "20000.00")],
        [payment("P1", date(2025, 3, 17), "20000.00")],
        date(2025, 3, 31),
    )
    assert result.allocations[0].interest == 0
    assert (result.total, result.obligations, result.overpayment) == (NIL, (), NIL)


def test_an_instalment_is_not_overdue_on_its_effective_due_date() -> None:
    obligations = [obligation("O1", "property_tax", date(2025, 3, 15), "20000.00")]
    on_the_day = ledger(obligations, [], date(2025, 3, 17))
    assert (on_the_day.total, on_the_day.overdue) == (D("20000.00"), NIL)
    assert on_the_day.obligations[0].interest == 0
    # 18–20 Mar: 20000 × 3 × 14.5 / 36500 = 23.84 → 24 zł (from the 15th it would be 40 zł).
    later = ledger(obligations, [], date(2025, 3, 20))
    assert (later.total, later.overdue) == (D("20024.00"), D("20024.00"))


def test_a_partial_payment_is_split_in_proportion_and_interest_bears_no_interest() -> None:
    # Perpetual usufruct 1000.00 due Monday 31 Mar 2025; 500.00 paid 30 Apr.
    # Interest 1–30 Apr: 1000 × 30 × 11.25 / 36500 = 9.2465... → 9.25 (civil: to the grosz).
    # OP art. 55 §2: interest part 500 × 9.25 / 1009.25 = 4.5826... → 4.58, principal 495.42;
    # left: principal 504.58, interest carried 9.25 − 4.58 = 4.67.
    # To 30 May: 504.58 × (7 × 11.25 + 23 × 10.75) / 36500 = 504.58 × 326 / 36500 = 4.5067
    # → 4.51, so interest 4.67 + 4.51 = 9.18 (on 504.58 + 4.67 it would be 4.55, i.e. 9.22).
    result = ledger(
        [obligation("U1", "perpetual_usufruct", date(2025, 3, 31), "1000.00")],
        [payment("P1", date(2025, 4, 30), "500.00")],
        date(2025, 5, 30),
    )
    assert [(a.principal, a.interest) for a in result.allocations] == [(D("495.42"), D("4.58"))]
    row = result.obligations[0]
    assert (row.principal, row.interest, row.total) == (D("504.58"), D("9.18"), D("513.76"))


def test_an_unnamed_payment_goes_to_what_is_due_first_by_effective_due_date() -> None:
    # A is due 15 Mar 2025 but its decision came 10 Mar, so it is due 24 Mar (art. 47 §2);
    # B is due 20 Mar. On 21 Mar nothing accrued yet on A; B: 1 day, under the threshold.
    result = ledger(
        [
            obligation("A", "property_tax", date(2025, 3, 15), "100.00", date(2025, 3, 10)),
            obligation("B", "property_tax", date(2025, 3, 20), "100.00"),
        ],
        [payment("P1", date(2025, 3, 21), "150.00")],
        date(2025, 3, 21),
    )
    assert [(a.obligation_ref, a.principal) for a in result.allocations] == [
        ("B", D("100.00")),
        ("A", D("50.00")),
    ]
    assert (result.total, result.overdue) == (D("50.00"), NIL)


def test_a_named_payment_pays_its_obligation_first_then_the_earliest_arrears() -> None:
    # I1 due 15 Mar 2024, I2 due 15 May 2024, I3 due 15 Sep 2024 (Sunday → 16 Sep).
    # 1500.00 naming I2 on 14 Jun 2024:
    #   I2: 16 May–14 Jun = 30 days, 1000 × 30 × 14.5 / 36500 = 11.92 → 12; takes 1012.00;
    #   488.00 left to I1 (earliest arrears, not I3): 16 Mar–14 Jun = 91 days,
    #   1000 × 91 × 14.5 / 36500 = 36.15 → 36; 488 × 36 / 1036 = 16.9575 → 16.96 interest,
    #   471.04 principal.
    result = ledger(
        [
            obligation("I1", "property_tax", date(2024, 3, 15), "1000.00"),
            obligation("I2", "property_tax", date(2024, 5, 15), "1000.00"),
            obligation("I3", "property_tax", date(2024, 9, 15), "1000.00"),
        ],
        [payment("P1", date(2024, 6, 14), "1500.00", names="I2")],
        date(2024, 6, 14),
    )
    assert [(a.obligation_ref, a.principal, a.interest) for a in result.allocations] == [
        ("I2", D("1000.00"), D("12.00")),
        ("I1", D("471.04"), D("16.96")),
    ]


def test_a_payment_naming_an_unknown_obligation_is_allocated_by_the_rules() -> None:
    result = ledger(
        [obligation("O1", "dog_fee", date(2025, 3, 31), "100.00")],
        [payment("P1", date(2025, 3, 1), "100.00", names="someone-elses")],
        date(2025, 3, 1),
    )
    assert [(a.obligation_ref, a.principal) for a in result.allocations] == [("O1", D("100.00"))]


def test_what_is_left_after_everything_is_an_overpayment() -> None:
    result = ledger(
        [obligation("O1", "dog_fee", date(2025, 3, 31), "100.00")],
        [payment("P1", date(2025, 3, 20), "70.00"), payment("P2", date(2025, 3, 21), "60.00")],
        date(2025, 4, 15),
    )
    assert [(a.payment_ref, a.obligation_ref, a.principal) for a in result.allocations] == [
        ("P1", "O1", D("70.00")),
        ("P2", "O1", D("30.00")),
        ("P2", None, D("30.00")),
    ]
    assert (result.total, result.overpayment) == (NIL, D("30.00"))


def test_payments_after_the_as_of_date_are_ignored() -> None:
    result = ledger(
        [obligation("O1", "property_tax", date(2024, 11, 15), "1000.00")],
        [payment("P1", date(2024, 11, 20), "1000.00")],
        date(2024, 11, 18),
    )
    assert result.allocations == ()
    assert result.total == D("1000.00")


def test_same_day_payments_are_taken_in_ref_order() -> None:
    result = ledger(
        [obligation("O1", "dog_fee", date(2025, 3, 31), "100.00")],
        [payment("P-b", date(2025, 3, 1), "80.00"), payment("P-a", date(2025, 3, 1), "80.00")],
        date(2025, 3, 1),
    )
    assert [(a.payment_ref, a.obligation_ref) for a in result.allocations] == [
        ("P-a", "O1"),
        ("P-b", "O1"),
        ("P-b", None),
    ]


def test_interest_on_a_fee_follows_round_fee_interest() -> None:
    # Dog fee 120.50 due Sunday 31 Mar 2024 → Tuesday 2 Apr (Easter Monday on 1 Apr).
    # 3 Apr–31 Oct = 28 + 31 + 30 + 31 + 31 + 30 + 31 = 212 days:
    # 120.50 × 212 × 14.5 / 36500 = 10.1484 → 10.15, or 10 zł if rounded like a tax.
    obligations = [obligation("F1", "dog_fee", date(2024, 3, 31), "120.50")]
    rounding = LedgerPolicy.from_settings(LedgerSettings(round_fee_interest=True))
    assert ledger(obligations, [], date(2024, 10, 31)).obligations[0].interest == D("10.15")
    assert ledger(obligations, [], date(2024, 10, 31), rounding).total == D("130.50")


def test_a_due_date_before_the_rate_history_is_an_error() -> None:
    with pytest.raises(RateTableError, match="starts on 2016-01-01"):
        ledger(
            [obligation("O1", "property_tax", date(2015, 3, 16), "100.00")], [], date(2016, 1, 5)
        )


def test_bad_input_is_refused() -> None:
    one = obligation("O1", "property_tax", date(2025, 3, 17), "100.00")
    with pytest.raises(LedgerError, match="'O1' given twice"):
        ledger([one, one], [], date(2025, 3, 17))
    with pytest.raises(LedgerError, match="negative amount"):
        ledger([obligation("O2", "dog_fee", date(2025, 3, 17), "-1.00")], [], date(2025, 3, 17))
    with pytest.raises(LedgerError, match="negative amount"):
        ledger([one], [payment("P1", date(2025, 3, 1), "-5.00")], date(2025, 3, 17))


# --- invariants -------------------------------------------------------------------------------

FIRST_DAY = date(2024, 1, 1)
LAST_DAY = date(2027, 12, 31)
days = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)
grosze = st.integers(min_value=1, max_value=3_000_000).map(lambda g: Decimal(g).scaleb(-2))


@st.composite
def books(draw: st.DrawFn) -> tuple[list[LedgerObligation], list[LedgerPayment], date]:
    obligations = [
        LedgerObligation(
            ref=f"O{index}",
            kind=draw(st.sampled_from(list(ObligationKind))),
            due_date=due,
            amount=draw(grosze),
            decision_delivered_on=draw(
                st.none() | st.dates(min_value=due - timedelta(days=20), max_value=due)
            ),
        )
        for index, due in enumerate(draw(st.lists(days, min_size=1, max_size=5)))
    ]
    refs = [o.ref for o in obligations]
    payments = [
        LedgerPayment(
            ref=f"P{index}",
            paid_on=draw(days),
            amount=draw(grosze),
            obligation_ref=draw(st.none() | st.sampled_from(refs)),
        )
        for index in range(draw(st.integers(min_value=0, max_value=6)))
    ]
    return obligations, payments, draw(days)


@st.composite
def policies(draw: st.DrawFn) -> LedgerPolicy:
    return LedgerPolicy.from_settings(LedgerSettings(round_fee_interest=draw(st.booleans())))


PROPERTIES = settings(max_examples=200, deadline=None)


@PROPERTIES
@given(books(), policies())
def test_allocations_of_a_payment_sum_to_the_payment(
    book: tuple[list[LedgerObligation], list[LedgerPayment], date], policy: LedgerPolicy
) -> None:
    obligations, payments, as_of = book
    result = ledger(obligations, payments, as_of, policy)
    allocated: dict[str, Decimal] = defaultdict(Decimal)
    for part in result.allocations:
        allocated[part.payment_ref] += part.principal + part.interest
    assert allocated == {p.ref: p.amount for p in payments if p.paid_on <= as_of}


@PROPERTIES
@given(books(), policies())
def test_nothing_is_negative_and_the_sums_add_up(
    book: tuple[list[LedgerObligation], list[LedgerPayment], date], policy: LedgerPolicy
) -> None:
    obligations, payments, as_of = book
    result = ledger(obligations, payments, as_of, policy)
    amounts = {o.ref: o.amount for o in obligations}
    for part in result.allocations:
        assert part.principal >= 0
        assert part.interest >= 0
    for row in result.obligations:
        assert 0 <= row.principal <= amounts[row.obligation_ref]
        assert row.interest >= 0
        assert row.total == row.principal + row.interest > 0
    assert result.total == sum((row.total for row in result.obligations), Decimal(0))
    assert 0 <= result.overdue <= result.total
    assert result.overpayment >= 0
    # Principal is either still owed or was paid: nothing lost, nothing paid twice.
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for part in result.allocations:
        if part.obligation_ref is not None:
            paid[part.obligation_ref] += part.principal
    owed = {row.obligation_ref: row.principal for row in result.obligations}
    for ref, amount in amounts.items():
        assert owed.get(ref, Decimal(0)) + paid[ref] == amount


@PROPERTIES
@given(books(), policies())
def test_tax_table_interest_is_never_charged_at_or_below_the_threshold(
    book: tuple[list[LedgerObligation], list[LedgerPayment], date], policy: LedgerPolicy
) -> None:
    obligations, payments, as_of = book
    result = ledger(obligations, payments, as_of, policy)
    # All interest ever charged on an obligation = interest paid + interest still owed; each
    # charge is 0 or above 8,70 zł, so their sum is too (and whole złoty for taxes).
    charged: dict[str, Decimal] = defaultdict(Decimal)
    for part in result.allocations:
        if part.obligation_ref is not None:
            charged[part.obligation_ref] += part.interest
    for row in result.obligations:
        charged[row.obligation_ref] += row.interest
    for o in obligations:
        if policy.rule(o.kind).table == "tax":
            assert charged[o.ref] == 0 or charged[o.ref] > D("8.70")
        if o.kind in TAX_KINDS:
            assert charged[o.ref] == charged[o.ref].to_integral_value()


@PROPERTIES
@given(books(), st.integers(min_value=1, max_value=400), grosze, policies())
def test_a_payment_after_the_as_of_date_changes_nothing(
    book: tuple[list[LedgerObligation], list[LedgerPayment], date],
    days_later: int,
    amount: Decimal,
    policy: LedgerPolicy,
) -> None:
    obligations, payments, as_of = book
    later = LedgerPayment("P-later", as_of + timedelta(days=days_later), amount, None)
    before = ledger(obligations, payments, as_of, policy)
    assert ledger(obligations, [*payments, later], as_of, policy) == before


@PROPERTIES
@given(books(), policies())
def test_paying_the_balance_on_the_day_clears_it(
    book: tuple[list[LedgerObligation], list[LedgerPayment], date], policy: LedgerPolicy
) -> None:
    obligations, payments, as_of = book
    before = ledger(obligations, payments, as_of, policy)
    assume(before.total > 0)
    settle = LedgerPayment("P-settle", as_of, before.total, None)
    after = ledger(obligations, [*payments, settle], as_of, policy)
    assert (after.total, after.obligations) == (NIL, ())
    assert after.overpayment == before.overpayment
