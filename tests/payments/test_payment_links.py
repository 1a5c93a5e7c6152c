"""Payment links in the store, on SQLite and PostgreSQL: hashed tokens, expiry, one taxpayer."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from storage.payment_links import (
    NotTheTaxpayersObligation,
    TransactionStatus,
    create_payment_link,
    find_transaction,
    open_payment_link,
    register_transaction,
    settle_transaction,
    token_hash,
)
from storage.payment_models import PaymentLink
from tests.conftest import Store
from tests.conversation_helpers import NOW, add_obligation
from tests.resident_helpers import OTHER_PESEL, add_taxpayer

TTL = timedelta(days=14)


async def _two_taxpayers(store: Store) -> tuple[int, int]:
    async with store.sessions() as session:
        mine = await add_taxpayer(session, "T-1", first_name="Jan", last_name="Kowalski")
        other = await add_taxpayer(session, "T-2", pesel=OTHER_PESEL)
        await add_obligation(session, mine, "PT-1", "property_tax", date(2027, 3, 15), "100.00")
        await add_obligation(session, mine, "PT-2", "property_tax", date(2027, 5, 15), "100.00")
        await add_obligation(session, other, "PT-9", "property_tax", date(2027, 3, 15), "100.00")
        await session.commit()
    return mine, other


async def test_a_link_opens_until_it_expires_and_keeps_only_the_tokens_hash(store: Store) -> None:
    mine, _ = await _two_taxpayers(store)
    async with store.sessions() as session:
        issued = await create_payment_link(
            session, mine, ["PT-2", "PT-1"], NOW, TTL, language="uk", source="chat"
        )
        await session.commit()
    # 32 random bytes, URL-safe: at least 128 bits, nothing personal in it.
    assert len(issued.token) >= 43
    assert "T-1" not in issued.token
    async with store.sessions() as session:
        stored = (await session.execute(sa.select(PaymentLink.token_hash))).scalars().all()
        assert stored == [token_hash(issued.token)]
        link = await open_payment_link(session, issued.token, NOW)
        assert link is not None
        assert link.obligation_refs == ("PT-1", "PT-2")
        assert link.initials == "J. K."
        assert link.language == "uk"
        assert link.taxpayer_ref == "T-1"
        assert link.expires_at == NOW + TTL
        assert await open_payment_link(session, issued.token, NOW + TTL) is None
        assert await open_payment_link(session, issued.token + "x", NOW) is None


async def test_a_link_covers_only_its_taxpayers_obligations(store: Store) -> None:
    mine, _ = await _two_taxpayers(store)
    async with store.sessions() as session:
        with pytest.raises(NotTheTaxpayersObligation):
            await create_payment_link(
                session, mine, ["PT-1", "PT-9"], NOW, TTL, language="pl", source="chat"
            )
        with pytest.raises(NotTheTaxpayersObligation):
            await create_payment_link(session, mine, [], NOW, TTL, language="pl", source="chat")


async def test_a_transaction_settles_once(store: Store) -> None:
    mine, _ = await _two_taxpayers(store)
    async with store.sessions() as session:
        issued = await create_payment_link(
            session, mine, ["PT-1"], NOW, TTL, language="pl", source="chat", channel="rest",
            recipient="web-1",
        )  # fmt: skip
        await register_transaction(
            session, link_id=issued.link_id, taxpayer_id=mine, session_id="S-1", gateway="demo",
            amount=Decimal("100.00"), currency="PLN", now=NOW,
        )  # fmt: skip
        await session.commit()
    async with store.sessions() as session:
        paid = date(2027, 5, 10)
        assert await settle_transaction(
            session, "S-1", TransactionStatus.PAID, NOW, provider_order_id="77", paid_on=paid
        )
        assert not await settle_transaction(session, "S-1", TransactionStatus.FAILED, NOW)
        await session.commit()
        found = await find_transaction(session, "S-1")
        assert found is not None
        assert (found.status, found.amount, found.paid_on) == ("paid", Decimal("100.00"), paid)
        assert (found.channel, found.recipient, found.taxpayer_ref) == ("rest", "web-1", "T-1")
        assert await find_transaction(session, "S-2") is None
