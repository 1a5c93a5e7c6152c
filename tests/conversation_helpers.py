"""A small city for conversation tests, and transcripts through the REST channel.

Taxpayers, obligations and payments go straight into the store with SQLAlchemy Core. Transcripts
follow zulip_bots' `verify_dialog([(user, [bot lines]), ...])`: each user line is posted to
`/webhooks/rest/webhook` and the bot's answers must equal the lines given, in order.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import main
from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.settings import Settings
from storage.bindings import create_link_token
from storage.models import Obligation, Payment, Taxpayer
from tests.conftest import Store
from tests.resident_helpers import add_taxpayer

ClientMaker = Callable[..., Awaitable[TestClient[Any, Any]]]
Reply = dict[str, Any]

# Monday 10 May 2027, noon in Warsaw: the March instalments are late, the May ones (15 May is a
# Saturday, so Monday 17 May) are next.
NOW = datetime(2027, 5, 10, 10, 0, tzinfo=UTC)
TODAY = date(2027, 5, 10)
TAXPAYER_REF = "T-1001"
ACCOUNT = "22105012141000000012345678"


def settings_for(store: Store) -> Settings:
    return Settings.model_validate({"database": {"url": store.url}})


def new_app(store: Store, clock: FrozenClock | None = None) -> Any:
    return init_app(settings_for(store), clock=clock or FrozenClock(NOW))


async def add_obligation(
    session: AsyncSession,
    taxpayer_id: int,
    ref: str,
    kind: str,
    due: date,
    amount: str,
    installment: int = 1,
) -> int:
    obligation_id: int = (
        await session.execute(
            sa.insert(Obligation)
            .values(
                ref=ref,
                taxpayer_id=taxpayer_id,
                kind=kind,
                year=due.year,
                installment=installment,
                due_date=due,
                amount=Decimal(amount),
                row_hash="test",
            )
            .returning(Obligation.id)
        )
    ).scalar_one()
    return obligation_id


async def add_payment(
    session: AsyncSession,
    taxpayer_id: int,
    ref: str,
    paid_on: date,
    amount: str,
    obligation_id: int | None = None,
) -> None:
    await session.execute(
        sa.insert(Payment).values(
            ref=ref,
            taxpayer_id=taxpayer_id,
            obligation_id=obligation_id,
            paid_on=paid_on,
            amount=Decimal(amount),
            row_hash="test",
        )
    )


async def add_resident(store: Store, *, language: str = "pl") -> int:
    """Anna Nowak: property tax (the March instalment late), the waste fee (March paid), a dog
    fee (late)."""
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(
            session, TAXPAYER_REF, first_name="Anna", last_name="Nowak", account_number=ACCOUNT
        )
        await session.execute(
            sa.update(Taxpayer).where(Taxpayer.id == taxpayer_id).values(language=language)
        )
        for number, due in enumerate(
            (date(2027, 3, 15), date(2027, 5, 15), date(2027, 9, 15), date(2027, 11, 15)), start=1
        ):
            await add_obligation(
                session, taxpayer_id, f"PT-2027-{number}", "property_tax", due, "1500.00", number
            )
        paid = await add_obligation(
            session, taxpayer_id, "WF-2027-1", "waste_fee", date(2027, 3, 15), "150.00"
        )
        await add_obligation(
            session, taxpayer_id, "WF-2027-2", "waste_fee", date(2027, 5, 15), "150.00", 2
        )
        await add_obligation(
            session, taxpayer_id, "DOG-2027", "dog_fee", date(2027, 3, 31), "30.00"
        )
        await add_payment(session, taxpayer_id, "BANK-1", date(2027, 3, 10), "150.00", paid)
        await session.commit()
    return taxpayer_id


async def link_token(store: Store, ref: str = TAXPAYER_REF, *, ttl_minutes: int = 30) -> str:
    async with store.sessions() as session:
        issued = await create_link_token(session, ref, NOW, timedelta(minutes=ttl_minutes))
        await session.commit()
    return issued.token


async def gmina_balance_json(store: Store, ref: str = TAXPAYER_REF) -> dict[str, Any]:
    """What `gmina balance REF --on TODAY --json` prints, run as the operator runs it."""
    env = {"GMINA__DATABASE__URL": store.url}
    args = ["balance", ref, "--on", TODAY.isoformat(), "--json"]
    # The command runs its own event loop, so it gets a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def new_sender() -> str:
    """What the web chat makes up: long and random, so that it may be verified."""
    return f"web-{uuid.uuid4().hex}"


class Chat:
    """One resident talking to the REST channel."""

    def __init__(self, client: TestClient[Any, Any], sender: str | None = None) -> None:
        self.client = client
        self.sender = sender or new_sender()

    async def say(self, text: str) -> list[Reply]:
        response = await self.client.post(
            "/webhooks/rest/webhook", json={"sender": self.sender, "message": text}
        )
        assert response.status == 200, await response.text()
        replies: list[Reply] = await response.json()
        assert all(reply["recipient_id"] == self.sender for reply in replies)
        return replies

    async def texts(self, text: str) -> list[str]:
        return [reply["text"] for reply in await self.say(text)]

    async def verify_dialog(self, exchanges: Sequence[tuple[str, Sequence[str]]]) -> None:
        for user, expected in exchanges:
            got = await self.texts(user)
            assert got == list(expected), f"after {user!r}:\n" + "\n---\n".join(got)
