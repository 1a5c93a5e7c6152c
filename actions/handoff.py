"""Handing the conversation to a person at the tax office, with its last turns as context."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.common import (
    LANGUAGE_SLOT,
    DomainDict,
    Event,
    GminaAction,
    event_time,
    sender,
    verified_taxpayer,
)
from actions.matters import tell_office_contact
from storage.handoffs import create_handoff_ticket, join_handoff_ticket, open_handoff_ticket

LAST_TURNS = 12


def last_turns(tracker: Tracker, limit: int = LAST_TURNS) -> list[dict[str, Any]]:
    """The latest messages both ways, oldest first, as staff will read them."""
    turns = [
        {
            "from": "resident" if event["event"] == "user" else "assistant",
            "text": event["text"],
            "at": event_time(event),
        }
        for event in tracker.events
        if event.get("event") in ("user", "bot") and event.get("text")
    ]
    return turns[-limit:]


class ActionHumanHandoff(GminaAction):
    def name(self) -> str:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        channel, sender_id = sender(tracker)
        current = services.current()
        taxpayer_id = await verified_taxpayer(tracker)
        async with services.session() as session:
            # Asked again while staff have not answered yet: the open ticket gets the newer turns.
            ticket_ref = await open_handoff_ticket(session, channel, sender_id)
            joined = ticket_ref is not None
            if ticket_ref is not None:
                await join_handoff_ticket(session, ticket_ref, last_turns(tracker))
            else:
                ticket_ref = await create_handoff_ticket(
                    session,
                    channel,
                    sender_id,
                    taxpayer_id,
                    last_turns(tracker),
                    current.now(),
                    language=str(tracker.get_slot(LANGUAGE_SLOT) or "pl"),
                )
            await session.commit()
        dispatcher.utter_message(
            response="utter_handoff_joined" if joined else "utter_handoff", ticket_ref=ticket_ref
        )
        tell_office_contact(dispatcher)
        return []
