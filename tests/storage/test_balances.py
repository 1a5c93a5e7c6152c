"""Balances from the store, on SQLite and PostgreSQL, against examples worked by hand.

`SCENARIOS` are also run through `gmina balance --json` (tests/bot/test_ledger_cli.py): each is
one taxpayer's obligations and payments and the exact JSON the contract promises for one day.
Interest = principal × days × rate / 36500 per rate period, from the seeded rates: tax 14.5% from
2023-10-05 and 13.5% from 2025-05-08; civil 11.25% from 2023-10-05.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.settings import LedgerSettings
from storage import balances
from storage.balances import (
    balance_to_json,
    list_interest_rates,
    load_rate_tables,
    refresh_allocations,
    set_interest_rate,
    taxpayer_balance,
    taxpayers_with_payments_since,
)
from storage.ledger import LedgerPolicy
from storage.models import Allocation, Obligation, Payment, Taxpayer
from tests.conftest import Store

POLICY = LedgerPolicy.from_settings(LedgerSettings())


@dataclass(frozen=True)
class Due:
    ref: str
    kind: str
    due_date: date
    amount: str
    delivered_on: date | None = None


@dataclass(frozen=True)
class Paid:
    ref: str
    paid_on: date
    amount: str
    obligation_ref: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    obligations: tuple[Due, ...]
    payments: tuple[Paid, ...]
    as_of: date
    expected: dict[str, Any]

    @property
    def taxpayer_ref(self) -> str:
        return f"T-{self.name}"


def line(
    ref: str, kind: str, due: str, effective: str, principal: str, interest: str, total: str
) -> dict[str, str]:
    return {
        "obligation_ref": ref,
        "kind": kind,
        "due_date": due,
        "effective_due_date": effective,
        "principal": principal,
        "interest": interest,
        "total": total,
    }


def expect(
    name: str,
    as_of: date,
    total: str,
    overdue: str,
    overpayment: str,
    *obligations: dict[str, str],
) -> dict[str, Any]:
    return {
        "taxpayer_ref": f"T-{name}",
        "as_of": as_of.isoformat(),
        "total": total,
        "overdue": overdue,
        "overpayment": overpayment,
        "obligations": list(obligations),
    }


SCENARIOS = (
    # Due Saturday 15 Mar 2025 → Monday 17 Mar (OP art. 12 §5); interest from 18 Mar.
    # As of 20 Mar: 3 days, 20000 × 3 × 14.5 / 36500 = 23.84 → 24 zł (OP art. 63 §1).
    # (From the 16th it would be 5 days: 39.73 → 40 zł.)
    Scenario(
        "saturday",
        (Due("saturday-1", "property_tax", date(2025, 3, 15), "20000.00"),),
        (),
        date(2025, 3, 20),
        expect(
            "saturday",
            date(2025, 3, 20),
            "20024.00",
            "20024.00",
            "0.00",
            line(
                "saturday-1",
                "property_tax",
                "2025-03-15",
                "2025-03-17",
                "20000.00",
                "24.00",
                "20024.00",
            ),
        ),
    ),
    # Interest 18 Mar–20 May 2025 across the 8 May change: 18 Mar–7 May = 14 + 30 + 7 = 51 days
    # at 14.5%, 8–20 May = 13 days at 13.5%:
    # 10000 × (51 × 14.5 + 13 × 13.5) / 36500 = 9150000 / 36500 = 250.68 → 251 zł
    # (at 14.5% throughout it would be 254 zł).
    Scenario(
        "rate-change",
        (Due("rate-change-1", "property_tax", date(2025, 3, 15), "10000.00"),),
        (),
        date(2025, 5, 20),
        expect(
            "rate-change",
            date(2025, 5, 20),
            "10251.00",
            "10251.00",
            "0.00",
            line(
                "rate-change-1",
                "property_tax",
                "2025-03-15",
                "2025-03-17",
                "10000.00",
                "251.00",
                "10251.00",
            ),
        ),
    ),
    # Due Friday 15 Mar 2024; 16 Mar–14 Apr = 30 days: 730 × 30 × 14.5 / 36500 = 8.70 exactly,
    # not above 8,70 zł, so not charged (OP art. 54 §1 pkt 5).
    Scenario(
        "threshold",
        (Due("threshold-1", "property_tax", date(2024, 3, 15), "730.00"),),
        (),
        date(2024, 4, 14),
        expect(
            "threshold",
            date(2024, 4, 14),
            "730.00",
            "730.00",
            "0.00",
            line(
                "threshold-1",
                "property_tax",
                "2024-03-15",
                "2024-03-15",
                "730.00",
                "0.00",
                "730.00",
            ),
        ),
    ),
    # The same 30 days on 745.10: 745.10 × 30 × 14.5 / 36500 = 8.87996 → charged, 9 zł.
    Scenario(
        "above-threshold",
        (Due("above-threshold-1", "property_tax", date(2024, 3, 15), "745.10"),),
        (),
        date(2024, 4, 14),
        expect(
            "above-threshold",
            date(2024, 4, 14),
            "754.10",
            "754.10",
            "0.00",
            line(
                "above-threshold-1",
                "property_tax",
                "2024-03-15",
                "2024-03-15",
                "745.10",
                "9.00",
                "754.10",
            ),
        ),
    ),
    # 2000.00 due 15 Mar 2024; 1000.00 paid 14 May: 16 Mar–14 May = 16 + 30 + 14 = 60 days,
    # 2000 × 60 × 14.5 / 36500 = 47.67 → 48. 1000 < 2048, so split (OP art. 55 §2):
    # interest 1000 × 48 / 2048 = 23.4375 → 23.44, principal 976.56; left 1023.44 and 24.56.
    # As of 13 Jun: 15 May–13 Jun = 30 days on 1023.44: 12.197 → 12; interest 24.56 + 12 = 36.56.
    Scenario(
        "partial",
        (Due("partial-1", "property_tax", date(2024, 3, 15), "2000.00"),),
        (Paid("partial-p1", date(2024, 5, 14), "1000.00"),),
        date(2024, 6, 13),
        expect(
            "partial",
            date(2024, 6, 13),
            "1060.00",
            "1060.00",
            "0.00",
            line(
                "partial-1",
                "property_tax",
                "2024-03-15",
                "2024-03-15",
                "1023.44",
                "36.56",
                "1060.00",
            ),
        ),
    ),
    # Dog fee 120.50 due Sunday 31 Mar 2024 → Tuesday 2 Apr (1 Apr is Easter Monday).
    # 3 Apr–31 Oct = 28 + 31 + 30 + 31 + 31 + 30 + 31 = 212 days:
    # 120.50 × 212 × 14.5 / 36500 = 10.148 → 10.15, not whole złoty (a fee; art. 63 §2).
    Scenario(
        "dog-fee",
        (Due("dog-fee-1", "dog_fee", date(2024, 3, 31), "120.50"),),
        (),
        date(2024, 10, 31),
        expect(
            "dog-fee",
            date(2024, 10, 31),
            "130.65",
            "130.65",
            "0.00",
            line("dog-fee-1", "dog_fee", "2024-03-31", "2024-04-02", "120.50", "10.15", "130.65"),
        ),
    ),
    # Perpetual usufruct 500.00 due Monday 31 Mar 2025, civil table: 1–30 Apr = 30 days,
    # 500 × 30 × 11.25 / 36500 = 4.623 → 4.62, charged although under 8,70 zł (civil law).
    Scenario(
        "usufruct",
        (Due("usufruct-1", "perpetual_usufruct", date(2025, 3, 31), "500.00"),),
        (),
        date(2025, 4, 30),
        expect(
            "usufruct",
            date(2025, 4, 30),
            "504.62",
            "504.62",
            "0.00",
            line(
                "usufruct-1",
                "perpetual_usufruct",
                "2025-03-31",
                "2025-03-31",
                "500.00",
                "4.62",
                "504.62",
            ),
        ),
    ),
    # Dog fee 100.00 due 31 Mar 2025 paid with 130.00 on 20 Mar: 30.00 kept as an overpayment.
    Scenario(
        "overpaid",
        (Due("overpaid-1", "dog_fee", date(2025, 3, 31), "100.00"),),
        (Paid("overpaid-p1", date(2025, 3, 20), "130.00"),),
        date(2025, 4, 15),
        expect("overpaid", date(2025, 4, 15), "0.00", "0.00", "30.00"),
    ),
    # 1500.00 naming instalment 2 (due 15 May 2024) on 14 Jun:
    #   instalment 2: 16 May–14 Jun = 30 days, 1000 × 30 × 14.5 / 36500 = 11.92 → 12; 1012.00;
    #   488.00 left goes to instalment 1 (due 15 Mar: the earliest arrears, OP art. 62 §1), not to
    #   instalment 3 (due 15 Sep, a Sunday → 16 Sep): 16 Mar–14 Jun = 91 days,
    #   1000 × 91 × 14.5 / 36500 = 36.15 → 36; interest part 488 × 36 / 1036 = 16.96,
    #   principal 471.04; left 528.96 + 19.04 = 548.00.
    Scenario(
        "named",
        (
            Due("named-1", "property_tax", date(2024, 3, 15), "1000.00"),
            Due("named-2", "property_tax", date(2024, 5, 15), "1000.00"),
            Due("named-3", "property_tax", date(2024, 9, 15), "1000.00"),
        ),
        (Paid("named-p1", date(2024, 6, 14), "1500.00", "named-2"),),
        date(2024, 6, 14),
        expect(
            "named",
            date(2024, 6, 14),
            "1548.00",
            "548.00",
            "0.00",
            line(
                "named-1", "property_tax", "2024-03-15", "2024-03-15", "528.96", "19.04", "548.00"
            ),
            line(
                "named-3", "property_tax", "2024-09-15", "2024-09-16", "1000.00", "0.00", "1000.00"
            ),
        ),
    ),
    # Decision delivered Friday 7 Mar 2025 for a 15 Mar deadline: 8 days before, so due
    # 7 Mar + 14 = Friday 21 Mar (OP art. 47 §2). 22 Mar–20 Apr = 10 + 20 = 30 days:
    # 3000 × 30 × 14.5 / 36500 = 35.75 → 36.
    Scenario(
        "late-delivery",
        (Due("late-delivery-1", "property_tax", date(2025, 3, 15), "3000.00", date(2025, 3, 7)),),
        (),
        date(2025, 4, 20),
        expect(
            "late-delivery",
            date(2025, 4, 20),
            "3036.00",
            "3036.00",
            "0.00",
            line(
                "late-delivery-1",
                "property_tax",
                "2025-03-15",
                "2025-03-21",
                "3000.00",
                "36.00",
                "3036.00",
            ),
        ),
    ),
    # 1000.00 due Friday 15 Nov 2024, paid in full on 20 Nov; as of 18 Nov that payment is not
    # yet made: 3 days, 1000 × 3 × 14.5 / 36500 = 1.19, under the threshold.
    Scenario(
        "paid-later",
        (Due("paid-later-1", "property_tax", date(2024, 11, 15), "1000.00"),),
        (Paid("paid-later-p1", date(2024, 11, 20), "1000.00"),),
        date(2024, 11, 18),
        expect(
            "paid-later",
            date(2024, 11, 18),
            "1000.00",
            "1000.00",
            "0.00",
            line(
                "paid-later-1",
                "property_tax",
                "2024-11-15",
                "2024-11-15",
                "1000.00",
                "0.00",
                "1000.00",
            ),
        ),
    ),
)


def _hash(*values: object) -> str:
    return hashlib.md5(repr(values).encode(), usedforsecurity=False).hexdigest()


async def add_taxpayer(session: AsyncSession, ref: str) -> int:
    taxpayer = Taxpayer(ref=ref, last_name="Nowak", row_hash=_hash(ref))
    session.add(taxpayer)
    await session.flush()
    return taxpayer.id


async def load_scenario(session: AsyncSession, scenario: Scenario) -> int:
    """Put the scenario's taxpayer, obligations and payments in the store; the taxpayer's id."""
    taxpayer_id = await add_taxpayer(session, scenario.taxpayer_ref)
    obligation_ids: dict[str, int] = {}
    for due in scenario.obligations:
        row = Obligation(
            ref=due.ref,
            taxpayer_id=taxpayer_id,
            kind=due.kind,
            year=due.due_date.year,
            due_date=due.due_date,
            amount=Decimal(due.amount),
            decision_delivered_on=due.delivered_on,
            row_hash=_hash(due),
        )
        session.add(row)
        await session.flush()
        obligation_ids[due.ref] = row.id
    for paid in scenario.payments:
        session.add(
            Payment(
                ref=paid.ref,
                taxpayer_id=taxpayer_id,
                obligation_id=obligation_ids[paid.obligation_ref] if paid.obligation_ref else None,
                paid_on=paid.paid_on,
                amount=Decimal(paid.amount),
                row_hash=_hash(paid),
            )
        )
    await session.commit()
    return taxpayer_id


def scenario_named(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_balance_matches_the_hand_worked_example(
    session: AsyncSession, scenario: Scenario
) -> None:
    await load_scenario(session, scenario)
    balance = await taxpayer_balance(session, scenario.taxpayer_ref, scenario.as_of, POLICY)
    assert balance is not None
    assert balance_to_json(balance) == scenario.expected


async def test_all_scenarios_in_one_store_do_not_mix(session: AsyncSession) -> None:
    for scenario in SCENARIOS:
        await load_scenario(session, scenario)
    rates = await load_rate_tables(session)
    for scenario in SCENARIOS:
        balance = await taxpayer_balance(
            session, scenario.taxpayer_ref, scenario.as_of, POLICY, rates=rates
        )
        assert balance is not None
        assert balance_to_json(balance) == scenario.expected


async def test_an_unknown_taxpayer_has_no_balance(session: AsyncSession) -> None:
    assert await taxpayer_balance(session, "T-nobody", date(2025, 1, 1), POLICY) is None


async def test_a_taxpayer_with_nothing_owes_nothing(session: AsyncSession) -> None:
    await add_taxpayer(session, "T-empty")
    await session.commit()
    balance = await taxpayer_balance(session, "T-empty", date(2025, 1, 1), POLICY)
    assert balance is not None
    assert balance_to_json(balance) == expect("empty", date(2025, 1, 1), "0.00", "0.00", "0.00")


async def test_a_balance_takes_one_query_when_given_the_rates(store: Store) -> None:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    async with store.sessions() as session:
        await load_scenario(session, scenario_named("named"))
        rates = await load_rate_tables(session)
    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with store.sessions() as session:
            balance = await taxpayer_balance(
                session, "T-named", date(2024, 6, 14), POLICY, rates=rates
            )
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", record)
    assert balance is not None
    assert len(balance.obligations) == 2
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 1


async def _allocation_rows(session: AsyncSession) -> set[tuple[str, str | None, str, str]]:
    """(payment ref, obligation ref or None, principal, interest) of every allocation row."""
    result = await session.execute(
        sa.select(Payment.ref, Obligation.ref, Allocation.principal, Allocation.interest)
        .join(Payment, Payment.id == Allocation.payment_id)
        .outerjoin(Obligation, Obligation.id == Allocation.obligation_id)
    )
    return {(p, o, str(principal), str(interest)) for p, o, principal, interest in result}


async def test_refresh_allocations_writes_each_split(session: AsyncSession) -> None:
    named = await load_scenario(session, scenario_named("named"))
    overpaid = await load_scenario(session, scenario_named("overpaid"))
    rates = await load_rate_tables(session)
    await refresh_allocations(session, [named, overpaid], POLICY, rates)
    await session.commit()
    expected = {
        # Worked out in the "named" scenario above.
        ("named-p1", "named-2", "1000.00", "12.00"),
        ("named-p1", "named-1", "471.04", "16.96"),
        ("overpaid-p1", "overpaid-1", "100.00", "0.00"),
        ("overpaid-p1", None, "30.00", "0.00"),
    }
    assert await _allocation_rows(session) == expected
    # Running it again rewrites, it does not add.
    await refresh_allocations(session, [named, overpaid, named], POLICY, rates)
    await session.commit()
    assert await _allocation_rows(session) == expected


async def test_refresh_allocations_covers_every_payment_and_only_the_given_taxpayers(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(balances, "REFRESH_CHUNK", 2)  # several chunks from a few taxpayers
    ids = {s.name: await load_scenario(session, s) for s in SCENARIOS}
    rates = await load_rate_tables(session)
    await refresh_allocations(
        session, [ids["partial"], ids["paid-later"], ids["named"]], POLICY, rates
    )
    await session.commit()
    rows = await _allocation_rows(session)
    # "paid-later" is allocated although its scenario looks at a day before the payment:
    # 15–20 Nov is 5 days, 1000 × 5 × 14.5 / 36500 = 1.99, under the threshold.
    assert ("paid-later-p1", "paid-later-1", "1000.00", "0.00") in rows
    assert ("partial-p1", "partial-1", "976.56", "23.44") in rows
    assert {payment for payment, *_ in rows} == {"paid-later-p1", "partial-p1", "named-p1"}


async def test_refresh_allocations_of_nobody_is_harmless(session: AsyncSession) -> None:
    await refresh_allocations(session, [], POLICY, await load_rate_tables(session))
    assert await _allocation_rows(session) == set()


async def test_the_seeded_rate_tables_load(session: AsyncSession) -> None:
    rates = await load_rate_tables(session)
    assert set(rates) == {"tax", "civil"}
    assert rates["tax"].starts[-1] == date(2025, 12, 4)
    assert rates["tax"].rates[-1] == Decimal("11")
    assert rates["civil"].rates[-1] == Decimal("9.5")


async def test_set_interest_rate_adds_then_corrects(session: AsyncSession) -> None:
    before = await list_interest_rates(session, "tax")
    await set_interest_rate(session, "tax", date(2026, 3, 5), Decimal("10.5"))
    await set_interest_rate(session, "tax", date(2026, 3, 5), Decimal("10.25"))
    await session.commit()
    after = await list_interest_rates(session, "tax")
    assert len(after) == len(before) + 1
    assert (after[-1].table, after[-1].effective_from, after[-1].rate_percent) == (
        "tax",
        date(2026, 3, 5),
        Decimal("10.25"),
    )
    assert {row.table for row in await list_interest_rates(session)} == {"tax", "civil"}


@pytest.mark.parametrize(
    ("table", "rate", "message"),
    [
        ("lombard", "10", "unknown interest-rate table 'lombard'"),
        ("tax", "-1", "not between 0 and 100"),
        ("civil", "10.1234", "more than three decimal places"),
    ],
)
async def test_set_interest_rate_refuses_nonsense(
    session: AsyncSession, table: str, rate: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await set_interest_rate(session, table, date(2026, 1, 1), Decimal(rate))


async def test_a_new_rate_changes_the_balance(session: AsyncSession) -> None:
    scenario = scenario_named("above-threshold")
    await load_scenario(session, scenario)
    # From 1 Apr 2024 at 29.0%: 16–31 Mar = 16 days at 14.5%, 1–14 Apr = 14 days at 29%:
    # 745.10 × (16 × 14.5 + 14 × 29) / 36500 = 745.10 × 638 / 36500 = 13.02 → 13 zł.
    await set_interest_rate(session, "tax", date(2024, 4, 1), Decimal("29"))
    await session.commit()
    balance = await taxpayer_balance(session, scenario.taxpayer_ref, scenario.as_of, POLICY)
    assert balance is not None
    assert balance.obligations[0].interest == Decimal("13.00")


async def test_taxpayers_with_payments_since(session: AsyncSession) -> None:
    partial = await load_scenario(session, scenario_named("partial"))  # paid 2024-05-14
    paid_later = await load_scenario(session, scenario_named("paid-later"))  # paid 2024-11-20
    await load_scenario(session, scenario_named("saturday"))  # no payments
    assert sorted(await taxpayers_with_payments_since(session, date(2024, 5, 14))) == sorted(
        [partial, paid_later]
    )
    assert await taxpayers_with_payments_since(session, date(2024, 5, 15)) == [paid_later]
