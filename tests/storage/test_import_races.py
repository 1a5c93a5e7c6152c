"""Imports under concurrency (issue 7, defect 3): one import per kind at a time, driver errors
as one line without personal data, and no payment on another taxpayer's obligation."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage.models import ImportRun, Obligation, Payment, Taxpayer
from storage.sql import store_error_reason
from tests.conftest import Store
from tests.storage.test_imports import (
    NRB_3,
    OBLIGATIONS,
    OBLIGATIONS_HEADER,
    PESEL_1,
    TAXPAYERS,
    TAXPAYERS_HEADER,
    load_city,
    run,
    write,
)


def _pesel(number: int) -> str:
    """A valid PESEL per number: 10,000 serial numbers for each day from 1 Jan 1990."""
    born = date(1990, 1, 1) + timedelta(days=number // 10_000)
    body = f"{born:%y%m%d}{number % 10_000:04d}"
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    check = sum(w * int(d) for w, d in zip(weights, body, strict=True))
    return body + str((10 - check % 10) % 10)


def taxpayer_rows(numbers: range) -> list[str]:
    return [
        f"X{n},{_pesel(n)},,Jan,Nowak{n},Długa,{n},,41-709,Ruda Śląska,Ruda,,,pl," for n in numbers
    ]


async def test_two_concurrent_taxpayer_imports_give_one_after_the_other(
    store: Store, tmp_path: Path
) -> None:
    first = write(tmp_path / "a", "taxpayers.csv", TAXPAYERS_HEADER, taxpayer_rows(range(0, 1500)))
    second = write(
        tmp_path / "b", "taxpayers.csv", TAXPAYERS_HEADER, taxpayer_rows(range(1000, 2500))
    )
    results = await asyncio.gather(run(store, "taxpayers", first), run(store, "taxpayers", second))
    assert all(result.ok for result in results), [r.errors for r in results]
    inserted = sorted(result.inserted for result in results)
    # The one that waited planned again and found the overlap already there.
    assert inserted == [1000, 1500]
    assert sorted(result.unchanged for result in results) == [0, 500]
    async with store.sessions() as session:
        count = sa.select(sa.func.count()).select_from(Taxpayer)
        assert (await session.execute(count)).scalar_one() == 2500
        runs = sa.select(sa.func.count()).select_from(ImportRun)
        assert (await session.execute(runs)).scalar_one() == 2


async def test_an_obligation_its_payments_name_cannot_move_to_another_taxpayer(
    store: Store, tmp_path: Path
) -> None:
    await load_city(store, tmp_path)
    moved = [OBLIGATIONS[0].replace(",T1,", ",T2,"), *OBLIGATIONS[1:]]
    path = write(tmp_path / "again", "obligations.csv", OBLIGATIONS_HEADER, moved)
    result = await run(store, "obligations", path, display_name="obligations.csv")
    assert [str(error) for error in result.errors] == [
        "obligations.csv:2: taxpayer_ref: obligation 'O1' is named by payments of taxpayer "
        "'T1'; it cannot move to 'T2' (correct those payments first)"
    ]
    # An obligation no payment names may move.
    moved = [*OBLIGATIONS[:1], OBLIGATIONS[1].replace(",T1,", ",T2,"), *OBLIGATIONS[2:]]
    path = write(tmp_path / "again", "obligations.csv", OBLIGATIONS_HEADER, moved)
    assert (await run(store, "obligations", path)).ok


async def test_the_store_refuses_a_payment_on_another_taxpayers_obligation(
    store: Store, tmp_path: Path
) -> None:
    await load_city(store, tmp_path)
    async with store.sessions() as session:
        ids = dict((await session.execute(sa.select(Taxpayer.ref, Taxpayer.id))).all())
        o1 = (
            await session.execute(sa.select(Obligation).where(Obligation.ref == "O1"))
        ).scalar_one()
        # P1 names O1: O1 cannot move to T2 under it.
        o1.taxpayer_id = ids["T2"]
        with pytest.raises(IntegrityError):
            await session.commit()
    async with store.sessions() as session:
        o1_id = (
            await session.execute(sa.select(Obligation.id).where(Obligation.ref == "O1"))
        ).scalar_one()
        session.add(
            Payment(
                ref="P9", taxpayer_id=ids["T2"], obligation_id=o1_id, paid_on=date(2026, 3, 1),
                amount=Decimal("1.00"), row_hash="h",
            )
        )  # fmt: skip
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_a_driver_error_is_one_line_without_personal_data(
    store: Store, tmp_path: Path
) -> None:
    await load_city(store, tmp_path)
    async with store.sessions() as session:
        session.add(
            Taxpayer(
                ref="T1", pesel=PESEL_1, first_name="Jan", last_name="Kowalski",
                account_number=NRB_3, row_hash="h",
            )
        )  # fmt: skip
        with pytest.raises(DBAPIError) as caught:
            await session.commit()
    reason = store_error_reason(caught.value)
    assert "\n" not in reason
    for secret in (PESEL_1, "Kowalski", NRB_3, "Jan", "T1"):
        assert secret not in reason
    assert "taxpayers" in reason
    assert TAXPAYERS  # the rows above are the city's own
