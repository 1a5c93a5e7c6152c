"""Unmatched credits in the panel, on both engines: listed for clerks (audited), assigned by an
approver after seeing whom to (audited, through the one booking command), once however often the
form is sent; refusals leave nothing behind."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from storage.balances import taxpayer_balance
from storage.bookings import BANK_SOURCE, Credit, keep_unmatched, list_unmatched
from storage.models import Obligation, Payment, Taxpayer
from storage.staff import Role
from tests.conftest import Store
from tests.panel.conftest import NOW, Panel
from tests.storage.test_balances import POLICY

PAYER_ACCOUNT = "61109010140000071219812874"


async def _city(store: Store) -> dict[str, int]:
    """Taxpayers T1 (Jan Kowalski, owing 120,00 zł) and T2, and two credits nobody's account got."""
    async with store.sessions() as session:
        ids = {}
        for ref, first, last in (("T1", "Jan", "Kowalski"), ("T2", "Ewa", "Nowak")):
            taxpayer = Taxpayer(ref=ref, first_name=first, last_name=last, row_hash=ref)
            session.add(taxpayer)
            await session.flush()
            ids[ref] = taxpayer.id
        session.add(
            Obligation(
                ref="T1-O1", taxpayer_id=ids["T1"], kind="property_tax", year=2027,
                due_date=date(2027, 3, 15), amount=Decimal("120.00"), row_hash="h",
            )
        )  # fmt: skip
        credits = [
            Credit(BANK_SOURCE, ref, "", date(2027, 5, day), Decimal("80.00"),
                   counterparty="JAN KOWALSKI UL. DLUGA 1", counterparty_account=PAYER_ACCOUNT,
                   title="PODATEK OD NIERUCHOMOSCI")
            for ref, day in (("BNK-1", 4), ("BNK-2", 5))
        ]  # fmt: skip
        await keep_unmatched(session, credits, "wyciag-2027-05-06.sta", NOW)
        await session.commit()
    return ids


async def _credit_id(store: Store, bank_ref: str) -> int:
    async with store.sessions() as session:
        rows = await list_unmatched(session, include_assigned=True)
    return next(row.id for row in rows if row.external_ref == bank_ref)


async def _payments(store: Store) -> list[tuple[str, int]]:
    async with store.sessions() as session:
        return [
            tuple(r) for r in await session.execute(sa.select(Payment.ref, Payment.taxpayer_id))
        ]  # type: ignore[misc]


async def _balance(store: Store) -> Decimal:
    async with store.sessions() as session:
        balance = await taxpayer_balance(session, "T1", NOW.date(), POLICY)
    assert balance is not None
    return balance.total


async def test_a_clerk_sees_the_credits_and_the_view_is_audited(panel: Panel) -> None:
    await _city(panel.store)
    clerk = await panel.login("olek", Role.CLERK)
    page = await clerk.get("/panel/money/unmatched")
    html = await page.text()
    assert page.status == 200
    shown = ("BNK-1", "BNK-2", "JAN KOWALSKI UL. DLUGA 1", PAYER_ACCOUNT, "wyciag-2027-05-06.sta",
             "PODATEK OD NIERUCHOMOSCI")  # fmt: skip
    for text in shown:
        assert text in html
    assert "/panel/money/unmatched/" not in html  # no "assign" for a clerk
    rows = await panel.audit_rows(action="panel.view.unmatched", actor="staff:olek")
    assert len(rows) == 1
    assert rows[0].taxpayer_id is None


async def test_an_approver_sees_whom_then_books_once_and_the_balance_drops(panel: Panel) -> None:
    ids = await _city(panel.store)
    credit = await _credit_id(panel.store, "BNK-1")
    before = await _balance(panel.store)
    anna = await panel.login("anna", Role.APPROVER)
    form = await anna.get(f"/panel/money/unmatched/{credit}")
    assert form.status == 200
    assert "BNK-1" in await form.text()
    preview = await anna.post(f"/panel/money/unmatched/{credit}/preview", {"taxpayer_ref": "T1"})
    preview_html = await preview.text()
    assert preview.status == 200
    assert "J.\u00a0K." in preview_html
    assert "Kowalski" not in preview_html.replace("JAN KOWALSKI", "")
    assert await _payments(panel.store) == []  # seeing whom books nothing
    # Each page seen so far is one view in the audit: the form (the payer's data), the preview
    # (the taxpayer's).
    views = await panel.audit_rows(action_prefix="panel.view.", actor="staff:anna")
    assert [(row.action, row.taxpayer_id) for row in views] == [
        ("panel.view.unmatched", None), ("panel.view.assign_preview", ids["T1"]),
    ]  # fmt: skip

    # A double click: two submits of the one form at once.
    first, second = await asyncio.gather(
        anna.post(f"/panel/money/unmatched/{credit}/assign", {"taxpayer_ref": "T1"},
                  allow_redirects=False),
        anna.post(f"/panel/money/unmatched/{credit}/assign", {"taxpayer_ref": "T1"},
                  allow_redirects=False),
    )  # fmt: skip
    assert (first.status, second.status) == (303, 303)
    assert first.headers["Location"] == f"/panel/money/unmatched?booked={credit}"
    assert await _payments(panel.store) == [("bank:BNK-1", ids["T1"])]
    assert await _balance(panel.store) == before - Decimal("80.00")
    booked = await panel.audit_rows(action="payment.assign")
    assert [(r.actor, r.taxpayer_id) for r in booked] == [("staff:anna", ids["T1"])]
    listed = await (await anna.get(first.headers["Location"])).text()
    assert "bank:BNK-1" in listed  # the notice of what was booked
    assert f'/panel/money/unmatched/{credit}"' not in listed  # no longer waiting


async def test_an_assigned_credit_is_refused_clearly_and_nothing_changes(panel: Panel) -> None:
    ids = await _city(panel.store)
    credit = await _credit_id(panel.store, "BNK-2")
    anna = await panel.login("anna", Role.APPROVER)
    done = await anna.post(f"/panel/money/unmatched/{credit}/assign", {"taxpayer_ref": "T1"})
    assert done.status == 200
    bartek = await panel.login("bartek", Role.APPROVER)
    again = await bartek.post(f"/panel/money/unmatched/{credit}/assign", {"taxpayer_ref": "T2"})
    preview = await bartek.post(f"/panel/money/unmatched/{credit}/preview", {"taxpayer_ref": "T2"})
    assert again.status == 409
    assert "staff:anna" in await again.text()
    assert preview.status == 409
    assert await _payments(panel.store) == [("bank:BNK-2", ids["T1"])]
    assert len(await panel.audit_rows(action="payment.assign")) == 1


async def test_refusals_book_nothing(panel: Panel) -> None:
    ids = await _city(panel.store)
    credit = await _credit_id(panel.store, "BNK-1")
    clerk = await panel.login("olek", Role.CLERK)
    assert (await clerk.get(f"/panel/money/unmatched/{credit}")).status == 403
    by_clerk = await clerk.post(f"/panel/money/unmatched/{credit}/assign", {"taxpayer_ref": "T1"})
    assert by_clerk.status == 403
    anna = await panel.login("anna", Role.APPROVER)
    unknown = await anna.post(f"/panel/money/unmatched/{credit}/assign", {"taxpayer_ref": "T9"})
    assert unknown.status == 422
    assert "T9" in await unknown.text()
    empty = await anna.post(f"/panel/money/unmatched/{credit}/preview", {"taxpayer_ref": " "})
    assert empty.status == 422
    no_token = await anna.client.post(
        f"/panel/money/unmatched/{credit}/assign", data={"taxpayer_ref": "T1"}
    )
    assert no_token.status == 403
    missing = await anna.post("/panel/money/unmatched/999999/assign", {"taxpayer_ref": "T1"})
    assert missing.status == 404
    # The ledger refuses to allocate for T2 (an obligation of a kind it does not know).
    async with panel.store.sessions() as session:
        session.add(
            Obligation(
                ref="T2-O1", taxpayer_id=ids["T2"], kind="unknown_fee", year=2027,
                due_date=date(2027, 3, 15), amount=Decimal("10.00"), row_hash="h",
            )
        )  # fmt: skip
        await session.commit()
    refused = await anna.post(f"/panel/money/unmatched/{credit}/assign", {"taxpayer_ref": "T2"})
    assert refused.status == 422
    assert "unknown_fee" in await refused.text()
    assert await _payments(panel.store) == []
    assert await panel.audit_rows(action="payment.assign") == []
