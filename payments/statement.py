"""What a payment link pays today: its obligations' outstanding principal and interest as the
ledger has them (the figures of `gmina balance`), and the transfers that pay them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payments.titles import Transfer, plan_transfers
from storage.balances import balance_to_json, taxpayer_balance
from storage.ledger import LedgerPolicy, RateTable
from storage.payment_links import OpenLink


@dataclass(frozen=True)
class LinkStatement:
    link: OpenLink
    as_of: date
    # `gmina balance --json` obligation rows of the link's obligations still outstanding.
    rows: tuple[dict[str, Any], ...]
    total: Decimal
    transfers: tuple[Transfer, ...]


async def link_statement(
    session: AsyncSession,
    link: OpenLink,
    today: date,
    policy: LedgerPolicy,
    rates: Mapping[str, RateTable],
) -> LinkStatement:
    balance = await taxpayer_balance(session, link.taxpayer_ref, today, policy, rates=rates)
    rows: list[dict[str, Any]] = []
    if balance is not None:
        covered = set(link.obligation_refs)
        rows = [
            row
            for row in balance_to_json(balance)["obligations"]
            if row["obligation_ref"] in covered
        ]
    total = sum((Decimal(row["total"]) for row in rows), Decimal(0))
    transfers = plan_transfers(link.taxpayer_ref, rows) if rows else []
    return LinkStatement(link, today, tuple(rows), total, tuple(transfers))
