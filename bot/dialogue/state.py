"""One conversation's tracker: slots, events, the active form; saved in the store between turns.

The saved form is the part of a Rasa tracker the engine needs; `as_tracker` gives the full JSON a
Rasa server sends an action server. `taxpayer_id` is never saved: the engine copies it from the
store's binding at every turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.common import LANGUAGE_CHOSEN_SLOT, LANGUAGE_SLOT, TAXPAYER_SLOT
from bot.dialogue.domain import REQUESTED_SLOT, Domain

# What a restart or a slot reset keeps: who the sender is and how they want to be spoken to.
KEPT_ON_RESET = (TAXPAYER_SLOT, LANGUAGE_SLOT, LANGUAGE_CHOSEN_SLOT)
# Older events are dropped on save. A hand-off shows the last 12 messages both ways; with the
# actions and slots between them a message takes up to 5 events. The state is read and written
# every turn, so it is kept to what is needed.
MAX_EVENTS = 60

Event = dict[str, Any]


class DialogueState:
    def __init__(
        self,
        slots: dict[str, Any],
        events: list[Event],
        active_loop: dict[str, Any],
        latest_message: dict[str, Any],
        latest_action_name: str | None,
    ) -> None:
        self.slots = slots
        self.events = events
        self.active_loop = active_loop
        self.latest_message = latest_message
        self.latest_action_name = latest_action_name

    @classmethod
    def restore(cls, saved: Mapping[str, Any], domain: Domain, language: str) -> DialogueState:
        slots = domain.initial_slots()
        slots.update({k: v for k, v in saved.get("slots", {}).items() if k in slots})
        slots[LANGUAGE_SLOT] = language
        slots[TAXPAYER_SLOT] = None
        return cls(
            slots,
            list(saved.get("events", [])),
            dict(saved.get("active_loop") or {}),
            dict(saved.get("latest_message") or {}),
            saved.get("latest_action_name"),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "slots": {k: v for k, v in self.slots.items() if k != TAXPAYER_SLOT},
            "events": self.events[-MAX_EVENTS:],
            "active_loop": self.active_loop,
            "latest_message": self.latest_message,
            "latest_action_name": self.latest_action_name,
        }

    @property
    def active_loop_name(self) -> str | None:
        name = self.active_loop.get("name")
        return str(name) if name else None

    @property
    def requested_slot(self) -> str | None:
        value = self.slots.get(REQUESTED_SLOT)
        return str(value) if value else None

    @property
    def language(self) -> str:
        return str(self.slots[LANGUAGE_SLOT])

    def add(self, event: Event) -> None:
        self.events.append(event)
        if event.get("event") == "action":
            self.latest_action_name = event.get("name")

    def reset_slots(self, domain: Domain) -> None:
        kept = {name: self.slots.get(name) for name in KEPT_ON_RESET}
        self.slots = domain.initial_slots() | kept

    def restart(self, domain: Domain) -> None:
        self.reset_slots(domain)
        self.events = []
        self.active_loop = {}

    def as_tracker(self, sender_id: str, channel: str, extra_events: list[Event]) -> dict[str, Any]:
        """Rasa's tracker JSON; `extra_events` follow the log (a form's slot candidates)."""
        events = [*self.events, *extra_events]
        return {
            "sender_id": sender_id,
            "slots": dict(self.slots),
            "latest_message": self.latest_message,
            "latest_event_time": events[-1].get("timestamp") if events else None,
            "followup_action": None,
            "paused": False,
            "events": events,
            "latest_input_channel": channel,
            "active_loop": self.active_loop,
            "latest_action": {"action_name": self.latest_action_name},
            "latest_action_name": self.latest_action_name,
        }
