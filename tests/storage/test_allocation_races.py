"""Allocations under concurrent writers: each payment allocated once, and the store itself
refuses an over-allocation or an allocation across taxpayers (issue 7, defect 2)."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from storage.balances import load_rate_tables, refresh_allocations
from storage.models import Allocation, Obligation, Payment, as_money
from tests.conftest import Store
from tests.storage.test_balances import POLICY, add_taxpayer

HOLD_S = 0.3


async def _taxpayer_with_one_paid_levy(store: Store, ref: str = "T1") -> tuple[int, int]:
    """A taxpayer owing 120.00 twice, with the first 120.00 paid and allocated."""
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, ref)
        for n, due in ((1, date(2026, 3, 15)), (2, date(2026, 5, 15))):
            session.add(
                Obligation(
                    ref=f"{ref}-O{n}", taxpayer_id=taxpayer_id, kind="property_tax", year=2026,
                    due_date=due, amount=Decimal("120.00"), row_hash="h",
                )
            )  # fmt: skip
        await session.flush()
        session.add(
            Payment(
                ref=f"{ref}-P0", taxpayer_id=taxpayer_id, paid_on=date(2026, 3, 1),
                amount=Decimal("120.00"), row_hash="h",
            )
        )  # fmt: skip
        await session.flush()
        await refresh_allocations(session, [taxpayer_id], POLICY, await load_rate_tables(session))
        await session.commit()
        payment_id = (
            await session.execute(sa.select(Payment.id).where(Payment.ref == f"{ref}-P0"))
        ).scalar_one()
    return taxpayer_id, payment_id


async def _allocated_per_payment(store: Store) -> dict[str, Decimal]:
    async with store.sessions() as session:
        result = await session.execute(
            sa.select(
                Payment.ref, as_money(sa.func.sum(Allocation.principal + Allocation.interest))
            )
            .join(Allocation, Allocation.payment_id == Payment.id)
            .group_by(Payment.ref)
        )
        return {ref: total for ref, total in result}


async def test_two_transactions_adding_payments_allocate_each_payment_once(store: Store) -> None:
    taxpayer_id, _ = await _taxpayer_with_one_paid_levy(store)
    first_refreshed = asyncio.Event()

    async def add_payment(ref: str, *, wait: bool) -> None:
        async with store.sessions() as session:
            if wait:
                await first_refreshed.wait()
            session.add(
                Payment(
                    ref=ref, taxpayer_id=taxpayer_id, paid_on=date(2026, 5, 1),
                    amount=Decimal("50.00"), row_hash="h",
                )
            )  # fmt: skip
            await session.flush()
            rates = await load_rate_tables(session)
            if not wait:
                await refresh_allocations(session, [taxpayer_id], POLICY, rates)
                first_refreshed.set()
                # Hold the transaction open while the other one refreshes the same taxpayer.
                await asyncio.sleep(HOLD_S)
            else:
                await refresh_allocations(session, [taxpayer_id], POLICY, rates)
            await session.commit()

    await asyncio.gather(add_payment("T1-P1", wait=False), add_payment("T1-P2", wait=True))
    allocated = await _allocated_per_payment(store)
    assert allocated == {
        "T1-P0": Decimal("120.00"),
        "T1-P1": Decimal("50.00"),
        "T1-P2": Decimal("50.00"),
    }


async def test_the_store_refuses_an_over_allocation(store: Store) -> None:
    _, payment_id = await _taxpayer_with_one_paid_levy(store)
    async with store.sessions() as session:
        session.add(
            Allocation(
                payment_id=payment_id, obligation_id=None,
                principal=Decimal("0.01"), interest=Decimal("0.00"),
            )
        )  # fmt: skip
        with pytest.raises(IntegrityError, match="allocat"):
            await session.commit()
    assert await _allocated_per_payment(store) == {"T1-P0": Decimal("120.00")}


async def test_the_store_refuses_an_allocation_to_another_taxpayers_obligation(
    store: Store,
) -> None:
    _, payment_id = await _taxpayer_with_one_paid_levy(store, "T1")
    await _taxpayer_with_one_paid_levy(store, "T2")
    async with store.sessions() as session:
        others = (
            await session.execute(sa.select(Obligation.id).where(Obligation.ref == "T2-O2"))
        ).scalar_one()
        await session.execute(sa.delete(Allocation).where(Allocation.payment_id == payment_id))
        session.add(
            Allocation(
                payment_id=payment_id, obligation_id=others,
                principal=Decimal("120.00"), interest=Decimal("0.00"),
            )
        )  # fmt: skip
        with pytest.raises(IntegrityError, match="allocat"):
            await session.commit()
