"""Actions run against a real store with the actions' services configured on a frozen clock."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker

from actions import services
from actions.services import Services
from bot.dialogue.domain import DOMAIN_PATH
from kernel.clock import FrozenClock
from storage.bindings import redeem_link_token
from tests.conftest import Store
from tests.conversation_helpers import NOW, add_resident, link_token, settings_for

SENDER = "rest:web-0123456789abcdef0123456789abcdef"


@pytest.fixture
def configured(store: Store) -> Services:
    return services.configure(store.sessions, settings_for(store), FrozenClock(NOW))


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    with DOMAIN_PATH.open(encoding="utf-8") as domain_file:
        loaded: dict[str, Any] = yaml.safe_load(domain_file)
    return loaded


def make_tracker(
    slots: dict[str, Any] | None = None,
    *,
    text: str = "",
    intent: str = "out_of_scope",
    entities: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
    sender_id: str = SENDER,
) -> Tracker:
    """A tracker built by hand, as rasa-sdk's own tests build theirs."""
    return Tracker(
        sender_id,
        {"language": "pl", "language_chosen": False, **(slots or {})},
        {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []},
        events or [],
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


async def add_bound_resident(store: Store) -> int:
    """Anna Nowak, with the trackers' default sender bound to her: actions read the binding."""
    taxpayer_id = await add_resident(store)
    channel, _, sender_id = SENDER.partition(":")
    async with store.sessions() as session:
        bound = await redeem_link_token(session, await link_token(store), channel, sender_id, NOW)
        await session.commit()
    assert bound == taxpayer_id
    return taxpayer_id
