"""No PESEL at rest: after conversations that type one everywhere, no table but the taxpayers'
holds an eleven-digit number that is a valid PESEL (issue 7, defect 5)."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from stdnum.pl import pesel

from actions import services
from bot.channels.conversation import understanding
from bot.dialogue import DialogueEngine, InboundMessage
from kernel.clock import FrozenClock
from storage.bindings import issue_activation_code
from storage.conversation_models import Conversation
from storage.models import Base
from tests.conftest import Store
from tests.conversation_helpers import NOW, TAXPAYER_REF, add_resident, settings_for
from tests.resident_helpers import PESEL

_ELEVEN_DIGITS = re.compile(r"(?<!\d)\d{11}(?!\d)")


async def _valid_pesels_outside_taxpayers(store: Store) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    async with store.sessions() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == "taxpayers":
                continue
            for row in await session.execute(sa.select(table)):
                for number in _ELEVEN_DIGITS.findall(" ".join(map(str, row))):
                    if pesel.is_valid(number):
                        found.setdefault(table.name, set()).add(number)
    return found


async def test_no_table_but_the_taxpayers_keeps_a_pesel(store: Store) -> None:
    clock = FrozenClock(NOW)
    services.configure(store.sessions, settings_for(store), clock)
    engine = DialogueEngine(store.sessions, await understanding(clock), clock)
    await add_resident(store)
    async with store.sessions() as session:
        code = await issue_activation_code(session, TAXPAYER_REF, NOW)
        await session.commit()

    async def say(sender: str, *texts: str, message_id: str | None = None) -> None:
        for text in texts:
            await engine.handle(InboundMessage("rest", sender, text, message_id=message_id))

    # Walks away in the middle of the verification form, the PESEL given.
    await say("web-" + "a1" * 16, "chcę się zweryfikować", PESEL)
    # Verifies to the end, with the code written as the city prints it.
    await say("web-" + "b2" * 16, "weryfikacja", f"PESEL {PESEL}", code, "ile mam do zapłaty?")
    # Types the PESEL outside any form, then asks for a person: it is in the transcript's turns.
    await say("web-" + "c3" * 16, f"mój pesel to {PESEL}, ile mam do zapłaty?", message_id="x1")
    await say("web-" + "c3" * 16, PESEL, f"kod {code}", "chcę rozmawiać z człowiekiem")
    assert await _valid_pesels_outside_taxpayers(store) == {}


async def test_an_abandoned_verification_form_is_closed_and_forgotten(store: Store) -> None:
    clock = FrozenClock(NOW)
    services.configure(store.sessions, settings_for(store), clock)
    engine = DialogueEngine(store.sessions, await understanding(clock), clock)
    await add_resident(store)
    sender = "web-" + "d4" * 16
    for text in ("chcę się zweryfikować", PESEL):
        await engine.handle(InboundMessage("rest", sender, text))
    clock.advance(timedelta(hours=1))
    (reply,) = await engine.handle(InboundMessage("rest", sender, "pomoc"))
    assert reply.text.startswith("Oto, w czym mogę pomóc:")
    async with store.sessions() as session:
        state = await session.scalar(sa.select(Conversation.state))
    assert state is not None
    assert not state["active_loop"]
    assert state["slots"]["identifier"] is None
