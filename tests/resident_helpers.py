"""Taxpayers put straight into the store for tests of verification, cases and the portal API."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contact, Taxpayer

# Checksum-valid example identifiers.
PESEL = "44051401359"
NIP = "5260250274"
OTHER_PESEL = "02070803628"


async def add_taxpayer(
    session: AsyncSession,
    ref: str = "T-0001",
    *,
    pesel: str | None = PESEL,
    nip: str | None = None,
    first_name: str = "Jan",
    last_name: str = "Kowalski",
    phone: str | None = None,
    account_number: str | None = None,
) -> int:
    taxpayer_id: int = (
        await session.execute(
            sa.insert(Taxpayer)
            .values(
                ref=ref,
                pesel=pesel,
                nip=nip,
                first_name=first_name,
                last_name=last_name,
                account_number=account_number,
                row_hash="test",
            )
            .returning(Taxpayer.id)
        )
    ).scalar_one()
    if phone is not None:
        await session.execute(
            sa.insert(Contact).values(
                taxpayer_id=taxpayer_id, kind="phone", value=phone, source="import"
            )
        )
    return taxpayer_id
