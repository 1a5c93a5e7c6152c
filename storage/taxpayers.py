"""What actions may know of a taxpayer: the reference's id and a summary for the sender's eyes.

Exceptions:

    UnknownTaxpayer   (LookupError) no taxpayer has the reference given
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ScalarSelect, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import NotFoundError
from storage.models import Taxpayer, display_name


class UnknownTaxpayer(NotFoundError):
    """No taxpayer has this reference."""


@dataclass(frozen=True)
class TaxpayerSummary:
    """What actions may show a verified sender about themselves."""

    id: int
    ref: str
    display_name: str
    language: str
    account_number: str | None


async def taxpayer_id_by_ref(session: AsyncSession, taxpayer_ref: str) -> int:
    """The id of the taxpayer with this reference; raises `UnknownTaxpayer`."""
    found = await session.scalar(select(Taxpayer.id).where(Taxpayer.ref == taxpayer_ref.strip()))
    if found is None:
        raise UnknownTaxpayer(taxpayer_ref)
    return found


async def taxpayer_summary(
    session: AsyncSession, taxpayer_id: int | ScalarSelect[int]
) -> TaxpayerSummary | None:
    """The summary of a taxpayer, by id or by a query giving one (a chat's binding)."""
    # Just these columns, without the ORM's identity map: read on every verified turn.
    row = (
        await session.execute(
            select(
                Taxpayer.id,
                Taxpayer.ref,
                Taxpayer.first_name,
                Taxpayer.last_name,
                Taxpayer.language,
                Taxpayer.account_number,
            ).where(Taxpayer.id == taxpayer_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return TaxpayerSummary(
        id=row.id,
        ref=row.ref,
        display_name=display_name(row.first_name, row.last_name),
        language=row.language,
        account_number=row.account_number,
    )
