"""The one booking command: once per (source, external ref), under the taxpayer's lock, allocated
by the ledger; unmatched credits kept, listed and assigned (audited), on both engines."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from kernel.errors import ConflictError, InputError, NotFoundError
from kernel.money import to_grosze_count
from storage.balances import load_rate_tables, refresh_allocations, taxpayer_balance
from storage.bookings import (
    BANK_SOURCE,
    AlreadyAssigned,
    Booking,
    BookingConflict,
    Credit,
    UnknownCredit,
    assign_unmatched,
    book_payment,
    book_payments,
    keep_unmatched,
    list_unmatched,
)
from storage.conversation_models import AuditEntry
from storage.models import Allocation, Obligation, Payment, as_money
from storage.taxpayers import UnknownTaxpayer
from tests.conftest import Store
from tests.storage.test_balances import POLICY, add_taxpayer

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


async def _taxpayer_owing(store: Store, ref: str, amount: str = "120.00") -> int:
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, ref)
        session.add(
            Obligation(
                ref=f"{ref}-O1", taxpayer_id=taxpayer_id, kind="property_tax", year=2026,
                due_date=date(2026, 9, 15), amount=Decimal(amount), row_hash="h",
            )
        )  # fmt: skip
        await session.commit()
    return taxpayer_id


def _booking(taxpayer_id: int, ref: str = "TX1", amount: str = "50.00") -> Booking:
    return Booking(taxpayer_id, "przelewy24", ref, date(2026, 5, 4), Decimal(amount))


async def _allocated(store: Store) -> dict[str, Decimal]:
    async with store.sessions() as session:
        result = await session.execute(
            sa.select(Payment.ref, as_money(sa.func.sum(Allocation.principal)))
            .join(Allocation, Allocation.payment_id == Payment.id)
            .group_by(Payment.ref)
        )
        return {ref: total for ref, total in result}


async def test_the_same_key_twice_books_once_and_answers_the_first_payment(store: Store) -> None:
    taxpayer_id = await _taxpayer_owing(store, "T1")
    async with store.sessions() as session:
        first = await book_payment(session, _booking(taxpayer_id), POLICY)
        await session.commit()
    async with store.sessions() as session:
        again = await book_payment(session, _booking(taxpayer_id), POLICY)
        await session.commit()
    assert first.created
    assert not again.created
    assert again.payment_id == first.payment_id
    assert again.ref == "przelewy24:TX1"
    assert await _allocated(store) == {"przelewy24:TX1": Decimal("50.00")}
    async with store.sessions() as session:
        balance = await taxpayer_balance(session, "T1", date(2026, 6, 1), POLICY)
    assert balance is not None
    assert balance.total == Decimal("70.00")


async def test_a_key_repeated_in_one_batch_books_once(store: Store) -> None:
    taxpayer_id = await _taxpayer_owing(store, "T1")
    async with store.sessions() as session:
        booked = await book_payments(
            session, [_booking(taxpayer_id), _booking(taxpayer_id, "TX2"), _booking(taxpayer_id)],
            POLICY,
        )  # fmt: skip
        await session.commit()
    assert [b.created for b in booked] == [True, True, False]
    assert booked[0].payment_id == booked[2].payment_id != booked[1].payment_id
    assert await _allocated(store) == {
        "przelewy24:TX1": Decimal("50.00"), "przelewy24:TX2": Decimal("50.00"),
    }  # fmt: skip


async def test_a_key_booked_with_other_facts_is_refused(store: Store) -> None:
    taxpayer_id = await _taxpayer_owing(store, "T1")
    other_id = await _taxpayer_owing(store, "T2")
    async with store.sessions() as session:
        await book_payment(session, _booking(taxpayer_id), POLICY)
        await session.commit()
    for changed in (_booking(taxpayer_id, amount="51.00"), _booking(other_id)):
        async with store.sessions() as session:
            with pytest.raises(BookingConflict):
                await book_payment(session, changed, POLICY)
            await session.rollback()
    assert issubclass(BookingConflict, ConflictError)
    async with store.sessions() as session:
        with pytest.raises(InputError):
            await book_payment(session, _booking(taxpayer_id, "TX9", "0.00"), POLICY)
        with pytest.raises(InputError):
            await book_payment(
                session, Booking(taxpayer_id, "a:b", "X", NOW.date(), Decimal(1)), POLICY
            )
    assert await _allocated(store) == {"przelewy24:TX1": Decimal("50.00")}


async def test_two_bookers_of_one_key_book_once(store: Store) -> None:
    taxpayer_id = await _taxpayer_owing(store, "T1")

    async def book() -> bool:
        async with store.sessions() as session:
            booked = await book_payment(session, _booking(taxpayer_id), POLICY)
            await asyncio.sleep(0.05)
            await session.commit()
            return booked.created

    created = await asyncio.gather(book(), book())
    assert sorted(created) == [False, True]
    async with store.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Payment))
    assert count == 1


def _credit(ref: str, amount: str = "80.00") -> Credit:
    return Credit(
        BANK_SOURCE, ref, "61109010140000071219812874", date(2026, 5, 5), Decimal(amount),
        counterparty="JAN KOWALSKI", title="PODATEK",
    )  # fmt: skip


async def test_unmatched_credits_are_kept_once_listed_and_assigned_with_an_audit(
    store: Store,
) -> None:
    await _taxpayer_owing(store, "T1")
    async with store.sessions() as session:
        kept = await keep_unmatched(
            session, [_credit("B1"), _credit("B2"), _credit("B1")], "s.sta", NOW
        )
        await session.commit()
    async with store.sessions() as session:
        again = await keep_unmatched(session, [_credit("B1")], "s.sta", NOW)
        await session.commit()
    assert (kept, again) == (2, 0)
    async with store.sessions() as session:
        listed = await list_unmatched(session)
    assert [(row.external_ref, row.amount, row.taxpayer_ref) for row in listed] == [
        ("B1", Decimal("80.00"), None), ("B2", Decimal("80.00"), None),
    ]  # fmt: skip
    async with store.sessions() as session:
        booked = await assign_unmatched(
            session, "B1", "T1", actor="staff:anna", policy=POLICY, now=NOW
        )
        await session.commit()
    assert booked.created
    assert booked.ref == "bank:B1"
    async with store.sessions() as session:
        with pytest.raises(AlreadyAssigned):
            await assign_unmatched(session, "B1", "T1", actor="staff:anna", policy=POLICY, now=NOW)
        with pytest.raises(UnknownCredit):
            await assign_unmatched(session, "B9", "T1", actor="staff:anna", policy=POLICY, now=NOW)
        with pytest.raises(UnknownTaxpayer):
            await assign_unmatched(session, "B2", "T9", actor="staff:anna", policy=POLICY, now=NOW)
        await session.rollback()
    assert issubclass(UnknownCredit, NotFoundError)
    async with store.sessions() as session:
        still = await list_unmatched(session)
        everything = await list_unmatched(session, include_assigned=True)
        entries = (await session.execute(sa.select(AuditEntry.actor, AuditEntry.action))).all()
        balance = await taxpayer_balance(session, "T1", date(2026, 6, 1), POLICY)
    assert [row.external_ref for row in still] == ["B2"]
    assert [(row.external_ref, row.taxpayer_ref, row.assigned_by) for row in everything] == [
        ("B1", "T1", "staff:anna"), ("B2", None, None),
    ]  # fmt: skip
    assert entries == [("staff:anna", "payment.assign")]
    assert balance is not None
    assert balance.total == Decimal("40.00")


async def _allocation_rows(store: Store) -> list[tuple[str, str | None, Decimal, Decimal]]:
    async with store.sessions() as session:
        result = await session.execute(
            sa.select(Payment.ref, Obligation.ref, Allocation.principal, Allocation.interest)
            .join(Payment, Payment.id == Allocation.payment_id)
            .outerjoin(Obligation, Obligation.id == Allocation.obligation_id)
            .order_by(Payment.ref, Obligation.ref)
        )
        return [tuple(row) for row in result]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("later", "expected_rows"),
    [(date(2026, 10, 20), 3), (date(2026, 3, 1), 3)],
    ids=["after-the-others", "back-dated"],
)
async def test_a_booking_leaves_the_allocations_a_full_refresh_would_write(
    store: Store, later: date, expected_rows: int
) -> None:
    """Late instalments with interest: the booking's allocations (only its own rows written when
    it comes last, every row rewritten when it is back-dated) equal a full refresh's."""
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, "T1")
        for n, due in ((1, date(2026, 3, 16)), (2, date(2026, 5, 15))):
            session.add(
                Obligation(
                    ref=f"T1-O{n}", taxpayer_id=taxpayer_id, kind="property_tax", year=2026,
                    due_date=due, amount=Decimal("3000.00"), row_hash="h",
                )
            )  # fmt: skip
        await session.commit()
    async with store.sessions() as session:
        first = Booking(taxpayer_id, "bank", "A", date(2026, 6, 10), Decimal("3500.00"))
        await book_payment(session, first, POLICY)
        await session.commit()
    async with store.sessions() as session:
        await book_payment(
            session, Booking(taxpayer_id, "bank", "B", later, Decimal("1000.00")), POLICY
        )
        await session.commit()
    booked = await _allocation_rows(store)
    async with store.sessions() as session:
        await refresh_allocations(session, [taxpayer_id], POLICY, await load_rate_tables(session))
        await session.commit()
    assert booked == await _allocation_rows(store)
    assert len(booked) == expected_rows
    assert any(interest > 0 for *_, interest in booked)


async def _random_city(store: Store, prefix: str, seed: int) -> list[int]:
    """Taxpayers `{prefix}T…` with random levies (some delivered late, some of civil law) and
    earlier payments, allocated; the same city for the same seed whatever the prefix."""
    rng = random.Random(seed)
    kinds = ("property_tax", "vehicle_tax", "waste_fee", "dog_fee", "perpetual_usufruct")
    ids: list[int] = []
    async with store.sessions() as session:
        for n in range(12):
            taxpayer_id = await add_taxpayer(session, f"{prefix}T{n:02d}")
            ids.append(taxpayer_id)
            for k in range(rng.randint(0, 4)):
                due = date(2026, 1, 1) + timedelta(days=rng.randrange(300))
                late = rng.random() < 0.2
                session.add(
                    Obligation(
                        ref=f"{prefix}O{n:02d}-{k}", taxpayer_id=taxpayer_id,
                        kind=rng.choice(kinds), year=2026, due_date=due,
                        amount=Decimal(rng.randrange(1_000, 400_000)) / 100, row_hash="h",
                        decision_delivered_on=due - timedelta(days=5) if late else None,
                    )
                )  # fmt: skip
            for k in range(rng.randint(0, 3)):
                session.add(
                    Payment(
                        ref=f"{prefix}P{n:02d}-{k}", taxpayer_id=taxpayer_id,
                        paid_on=date(2026, 1, 1) + timedelta(days=rng.randrange(400)),
                        amount=Decimal(rng.randrange(100, 300_000)) / 100, row_hash="h",
                    )
                )  # fmt: skip
        await session.flush()
        await refresh_allocations(session, ids, POLICY, await load_rate_tables(session))
        await session.commit()
    return ids


def _random_bookings(ids: list[int], prefix: str, seed: int) -> list[Booking]:
    """A statement's worth of credits: several to some taxpayers, some back-dated before their
    earlier payments, most after them."""
    rng = random.Random(seed)
    return [
        Booking(
            rng.choice(ids),
            "bank",
            f"{prefix}B{k:03d}",
            date(2026, 1, 1) + timedelta(days=rng.randrange(500)),
            Decimal(rng.randrange(100, 200_000)) / 100,
        )  # fmt: skip
        for k in range(40)
    ]


async def _allocations_by_name(store: Store, prefix: str) -> list[tuple[str, str, int, int]]:
    """(payment ref, obligation ref or "" for an overpayment, principal, interest in grosze) of
    one city's allocations, refs without the city's prefix."""
    async with store.sessions() as session:
        result = await session.execute(
            sa.select(Payment.ref, Obligation.ref, Allocation.principal, Allocation.interest)
            .join(Payment, Payment.id == Allocation.payment_id)
            .outerjoin(Obligation, Obligation.id == Allocation.obligation_id)
            .where(sa.or_(Payment.ref.startswith(prefix), Payment.ref.startswith(f"bank:{prefix}")))
        )
        return sorted(
            (
                payment.replace(prefix, ""),
                "" if obligation is None else obligation.replace(prefix, ""),
                to_grosze_count(principal),
                to_grosze_count(interest),
            )
            for payment, obligation, principal, interest in result
        )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_allocates_as_booking_one_by_one_and_as_a_full_refresh(
    store: Store, seed: int
) -> None:
    """Two copies of a random city: one gets a statement's credits in one `book_payments`, the
    other one `book_payment` (and one commit) each; then every allocation of the first is
    rewritten from nothing. All three agree to the grosz."""
    batch_ids = await _random_city(store, "A", seed)
    single_ids = await _random_city(store, "Z", seed)
    async with store.sessions() as session:
        await book_payments(session, _random_bookings(batch_ids, "A", seed), POLICY)
        await session.commit()
    for booking in _random_bookings(single_ids, "Z", seed):
        async with store.sessions() as session:
            await book_payment(session, booking, POLICY)
            await session.commit()
    batch = await _allocations_by_name(store, "A")
    assert batch == await _allocations_by_name(store, "Z")
    assert any(interest > 0 for *_, interest in batch)
    async with store.sessions() as session:
        await session.execute(sa.delete(Allocation))
        await refresh_allocations(session, batch_ids, POLICY, await load_rate_tables(session))
        await session.commit()
    assert batch == await _allocations_by_name(store, "A")
