"""The engine without a channel: concurrent turns, the secrecy guard, and `gmina chat`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from actions import services
from actions.forms import CONFIRM_SLOT
from actions.verification import CODE_SLOT, IDENTIFIER_SLOT
from bot.channels.conversation import understanding
from bot.cli import main
from bot.dialogue import DialogueEngine, InboundMessage, policy
from bot.dialogue.render import render_message
from kernel.clock import FrozenClock
from storage import bindings
from storage.bindings import issue_activation_code
from storage.conversation_models import Conversation
from storage.db import sync_url
from tests.conftest import Store
from tests.conversation_helpers import NOW, TAXPAYER_REF, add_resident, link_token, settings_for
from tests.resident_helpers import PESEL


async def _engine(store: Store) -> DialogueEngine:
    clock = FrozenClock(NOW)
    services.configure(store.sessions, settings_for(store), clock)
    return DialogueEngine(store.sessions, await understanding(clock), clock)


async def test_turns_of_one_sender_in_two_processes_are_all_kept(store: Store) -> None:
    # Two engines share a store as two `gmina run` processes would; the conversation's lease
    # makes one turn wait for the other, and it runs on the state the other saved.
    first, second = await _engine(store), await _engine(store)
    sender = "web-0123456789abcdef0123456789abcdef"
    replies = await asyncio.gather(
        first.handle(InboundMessage("rest", sender, "dzień dobry")),
        second.handle(InboundMessage("rest", sender, "pomoc")),
    )
    assert all(replies)
    async with store.sessions() as session:
        state, version = (
            await session.execute(
                sa.select(Conversation.state, Conversation.version).where(
                    Conversation.sender_id == sender
                )
            )
        ).one()
    said = [event["text"] for event in state["events"] if event["event"] == "user"]
    assert sorted(said) == ["dzień dobry", "pomoc"]
    assert version == 2


def test_a_response_with_a_taxpayers_data_never_reaches_an_unverified_sender() -> None:
    leaking: dict[str, Any] = {"response": "utter_verified", "name": "Anna Nowak", "buttons": []}
    text, _, _, key = render_message(leaking, "pl", verified=False)
    assert key == "utter_verify_offer"
    assert "Anna" not in text
    nested = {
        "response": "utter_deadlines",
        "lines": [{"response": "utter_deadline_line", "amount": "1.00"}],
    }
    assert render_message(nested, "pl", verified=False)[3] == "utter_verify_offer"
    assert render_message(leaking, "pl", verified=True)[0].startswith("Dziękuję, Anna Nowak.")


async def test_gmina_chat_talks_in_the_terminal_and_verifies_with_a_token(store: Store) -> None:
    await add_resident(store)
    token = await link_token(store)
    lines = ["how much do I owe?", f"/start {token}", "how much do I owe?", "1", ""]
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["chat", "--lang", "en"],
        input="\n".join(lines),
        env={"GMINA__DATABASE__URL": store.url},
    )
    assert result.exit_code == 0, result.output
    output = result.output
    assert "gmina> Hello! This is the local taxes and fees assistant" in output
    assert "gmina> For this I must first confirm who you are" in output
    # The resident wrote in English before the link: the welcome keeps to it (the taxpayer's
    # stored language, pl, is for a chat opened by the link).
    assert "gmina> Thank you, Anna Nowak." in output
    assert "gmina> Your balance as of" in output
    assert "[1] How to pay" in output
    # "1" pressed the first button: the transfer details.
    assert "Transfer details:\nRecipient: Urząd Miasta Ruda Śląska" in output


def test_a_code_or_a_number_never_cancels_the_form_asking_for_it() -> None:
    # The classifier may call a random code such as "N27E-95Y2" a "no"; as an answer to the slot
    # asked for it is the answer, while "nie" and "anuluj" still cancel.
    def deny(text: str) -> dict[str, Any]:
        return {"text": text, "intent": {"name": "deny", "confidence": 0.9}}

    assert not policy.is_cancel(deny("N27E-95Y2"), CODE_SLOT)
    assert not policy.is_cancel(deny("hakx tumw"), CODE_SLOT)
    assert not policy.is_cancel(deny("44051401359"), IDENTIFIER_SLOT)
    assert policy.is_cancel(deny("nie"), CODE_SLOT)
    assert policy.is_cancel(deny("nie mam"), IDENTIFIER_SLOT)
    assert policy.is_cancel({"text": "Anuluj!", "intent": {"name": "pay"}}, CODE_SLOT)


async def test_a_code_the_classifier_takes_for_a_request_still_verifies(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "MENU-73L7" looks like "help" to the classifier, sure enough to interrupt a form; asked
    # for the activation code, it is the code. The city's random draw is made to give it.
    engine = await _engine(store)
    await add_resident(store)
    drawn = iter("MENU73L7")
    monkeypatch.setattr(bindings.secrets, "choice", lambda _alphabet: next(drawn))
    async with store.sessions() as session:
        assert await issue_activation_code(session, TAXPAYER_REF, NOW) == "MENU-73L7"
        await session.commit()
    assert engine.nlu.parse("MENU-73L7")["intent"]["name"] == "help"
    sender = "web-" + "b2" * 16
    for text in ("chcę się zweryfikować", PESEL):
        await engine.handle(InboundMessage("rest", sender, text))
    (reply,) = await engine.handle(InboundMessage("rest", sender, "MENU-73L7"))
    assert reply.text.startswith("Dziękuję, Anna Nowak.")


async def test_a_turn_survives_the_database_dropping_its_connections(store: Store) -> None:
    if store.engine_name != "postgresql":
        pytest.skip("SQLite has no server to drop a connection")
    engine = await _engine(store)
    sender = "web-" + "c3" * 16
    await engine.handle(InboundMessage("rest", sender, "dzień dobry"))
    # What a restart of PostgreSQL does to the pooled connections, from outside the pool.
    outside = sa.create_engine(sync_url(store.url))
    with outside.connect() as connection:
        dropped = connection.scalar(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    outside.dispose()
    assert dropped
    replies = await engine.handle(InboundMessage("rest", sender, "pomoc"))
    assert replies[0].text.startswith("Oto, w czym mogę pomóc:")


def test_no_at_the_confirmation_cancels_even_with_a_number() -> None:
    parse = {"text": "nie, mieszkają 3 osoby", "intent": {"name": "deny", "confidence": 0.8}}
    assert policy.is_cancel(parse, CONFIRM_SLOT)
    assert not policy.is_cancel(parse, "residents_count")
