"""Every story of tests/stories/*.yml, in Polish, English and Ukrainian, on both engines.

Each runs through the REST channel of the real web application, on a small demo city loaded by
storage.demo at a frozen clock; see tests/stories/runner.py for the story format.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.i18n import LANGUAGES
from kernel.settings import Settings
from storage.balances import balance_to_json, load_rate_tables, taxpayer_balance
from storage.bindings import create_link_token, issue_activation_code
from storage.case_moves import move_case
from storage.casework import CaseStatus
from storage.conversation_models import Case, HandoffTicket
from storage.demo import load_demo
from storage.ledger import LedgerPolicy
from storage.models import Taxpayer
from storage.staff import Role, add_staff
from storage.staff_models import StaffMember
from tests.conftest import Store
from tests.conversation_helpers import ClientMaker, new_sender
from tests.stories.runner import (
    DEMO_SEED,
    DEMO_TAXPAYERS,
    NOW,
    TODAY,
    Ledger,
    Story,
    check,
    load_stories,
    per_language,
    send,
)

STORIES = load_stories()
CLERK = "urzedniczka"


def _profile_fits(profile: str, data: dict[str, object]) -> bool:
    rows = data["obligations"]
    assert isinstance(rows, list)
    kinds = {row["kind"] for row in rows}
    if profile == "debtor":
        return len(kinds) >= 2 and Decimal(str(data["overdue"])) > 0
    if profile == "clear":
        return not rows
    raise ValueError(f"unknown taxpayer profile {profile!r}")


async def _ledger_for(store: Store, settings: Settings, profile: str) -> Ledger:
    """Load the demo city and pick its first taxpayer that fits the story's profile."""
    clock = FrozenClock(NOW)
    async with store.sessions() as session:
        await load_demo(
            session, taxpayers=DEMO_TAXPAYERS, seed=DEMO_SEED, clock=clock, ledger=settings.ledger
        )
        await session.commit()
    if profile == "none":
        return Ledger()
    policy = LedgerPolicy.from_settings(settings.ledger)
    async with store.sessions() as session:
        rates = await load_rate_tables(session)
        taxpayers = (await session.execute(sa.select(Taxpayer.ref, Taxpayer.pesel))).all()
        for ref, pesel in sorted(taxpayers):
            balance = await taxpayer_balance(session, ref, TODAY, policy, rates=rates)
            assert balance is not None
            data = balance_to_json(balance)
            if pesel and _profile_fits(profile, data):
                tokens = [
                    (await create_link_token(session, ref, NOW, timedelta(hours=2))).token
                    for _ in range(2)
                ]
                code = await issue_activation_code(session, ref, NOW)
                await session.commit()
                return Ledger(ref, pesel, tokens[0], tokens[1], code, data)
    raise AssertionError(f"the demo city has no {profile} taxpayer")


async def _count_in_store(store: Store, turn: Mapping[str, Any]) -> list[str]:
    """`cases: N` / `tickets: N` expected after a turn: how many the store holds."""
    failures = []
    for key, table in (("cases", Case), ("tickets", HandoffTicket)):
        wanted = turn.get("expect", {}).get(key)
        if wanted is not None:
            async with store.sessions() as session:
                held = await session.scalar(sa.select(sa.func.count()).select_from(table))
            if held != wanted:
                failures.append(f"{held} {key} in the store, not {wanted}")
    return failures


async def _staff_moves(store: Store, move: Mapping[str, Any], language: str) -> str:
    """A clerk moves the newest case to `move["to"]` with its note; returns its reference."""
    async with store.sessions() as session:
        if await session.scalar(sa.select(StaffMember.id).where(StaffMember.name == CLERK)) is None:
            await add_staff(session, CLERK, Role.CLERK, "a long password 1", actor="test", now=NOW)
        ref, status = (
            await session.execute(
                sa.select(Case.ref, Case.status).order_by(Case.id.desc()).limit(1)
            )
        ).one()
        note = per_language(move.get("note"), language)
        await move_case(session, ref, CaseStatus(status), CaseStatus(move["to"]), note, CLERK, NOW)
        await session.commit()
    return str(ref)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("story", STORIES, ids=[story.id for story in STORIES])
async def test_story(
    story: Story, language: str, store: Store, aiohttp_client: ClientMaker
) -> None:
    settings = Settings.model_validate({"database": {"url": store.url}})
    ledger = await _ledger_for(store, settings, story.taxpayer)
    client = await aiohttp_client(init_app(settings, clock=FrozenClock(NOW)))
    sender = new_sender()
    if story.verified:
        assert await send(client, sender, ledger.substitute("/start {token}"))
    for number, turn in enumerate(story.turns, start=1):
        if "staff_moves" in turn:
            ledger.case = await _staff_moves(store, turn["staff_moves"], language)
            continue
        said = per_language(turn["say"], language)
        if said is None:
            continue
        if turn.get("new_chat"):
            sender = new_sender()
        replies = await send(client, sender, ledger.substitute(str(said)))
        failures = check(turn.get("expect", {}), replies, ledger, language)
        failures += await _count_in_store(store, turn)
        transcript = "\n---\n".join(reply.text + f" {reply.buttons}" for reply in replies)
        assert not failures, f"turn {number} {said!r}: {failures}\n{transcript}"
