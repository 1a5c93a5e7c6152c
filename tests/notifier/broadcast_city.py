"""A five-household city for broadcast tests, put straight into the store.

    ref  district     street     lang  contacts                             obligations
    A    Bielszowice  Główna     pl    telegram 101 (consent), phone (c.)   property 2026, 16 Mar
    B    Bielszowice  Kokota     en    phone (consent), e-mail (consent)    waste 2026, Sat 21 Nov
    C    Halemba      Główna     uk    e-mail (consent)                     dog fee 2025, paid
    D    Halemba      Kłodnicka  pl    telegram 104 (c., announcements off) —
                                       e-mail (consent)
    E    Wirek        Tuwima     pl    phone, telegram 105, no consent      —

Today is Monday 23 November 2026 in Warsaw: B's waste fee is due today (the Saturday moves to the
Monday), so only A is overdue.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.clock import FrozenClock
from kernel.settings import LedgerSettings
from storage.balances import load_rate_tables, refresh_allocations
from storage.ledger import LedgerPolicy
from storage.models import Contact, Taxpayer
from storage.preferences import opt_out
from storage.staff import Role, add_staff
from tests.conversation_helpers import add_obligation, add_payment

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
# Cheap hashes: these tests are about who may act, not about the hash (tests/staff is).
QUICK = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def clock() -> FrozenClock:
    return FrozenClock(NOW)


async def add_household(
    session: AsyncSession,
    ref: str,
    district: str,
    street: str,
    language: str,
    contacts: list[tuple[str, str, bool]],
) -> int:
    taxpayer_id: int = (
        await session.execute(
            sa.insert(Taxpayer)
            .values(
                ref=ref,
                last_name=f"Household {ref}",
                district=district,
                street=street,
                language=language,
                row_hash="test",
            )
            .returning(Taxpayer.id)
        )
    ).scalar_one()
    for kind, value, consent in contacts:
        await session.execute(
            sa.insert(Contact).values(
                taxpayer_id=taxpayer_id,
                kind=kind,
                value=value,
                source="import" if kind in ("phone", "email") else "chat",
                notify_consent=consent,
                created_at=NOW,
            )
        )
    return taxpayer_id


async def build_city(session: AsyncSession) -> dict[str, int]:
    ids = {
        "A": await add_household(
            session,
            "A",
            "Bielszowice",
            "Główna",
            "pl",
            [("telegram", "101", True), ("phone", "+48500000001", True)],
        ),
        "B": await add_household(
            session,
            "B",
            "Bielszowice",
            "Kokota",
            "en",
            [("phone", "+48500000002", True), ("email", "b@example.org", True)],
        ),
        "C": await add_household(
            session, "C", "Halemba", "Główna", "uk", [("email", "c@example.org", True)]
        ),
        "D": await add_household(
            session,
            "D",
            "Halemba",
            "Kłodnicka",
            "pl",
            [("telegram", "104", True), ("email", "d@example.org", True)],
        ),
        "E": await add_household(
            session,
            "E",
            "Wirek",
            "Tuwima",
            "pl",
            [("phone", "+48500000005", False), ("telegram", "105", False)],
        ),
    }
    await add_obligation(session, ids["A"], "A-1", "property_tax", date(2026, 3, 16), "120.00")
    await add_obligation(session, ids["B"], "B-1", "waste_fee", date(2026, 11, 21), "35.00")
    dog_fee = await add_obligation(session, ids["C"], "C-1", "dog_fee", date(2025, 3, 15), "50.00")
    await add_payment(session, ids["C"], "P-1", date(2025, 3, 1), "50.00", dog_fee)
    policy = LedgerPolicy.from_settings(LedgerSettings())
    await refresh_allocations(session, [ids["C"]], policy, await load_rate_tables(session))
    await opt_out(session, ids["D"], "telegram", "chat", NOW, categories=["announcements"])
    return ids


async def add_team(session: AsyncSession) -> None:
    """kasia (clerk), anna and piotr (approvers), ewa (admin)."""
    for name, role in (
        ("kasia", Role.CLERK),
        ("anna", Role.APPROVER),
        ("piotr", Role.APPROVER),
        ("ewa", Role.ADMIN),
    ):
        await add_staff(session, name, role, PASSWORD, actor="test", now=NOW, hasher=QUICK)
