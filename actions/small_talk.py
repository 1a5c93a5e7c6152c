"""Greeting, help, the language, and the start of a Rasa session."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.common import (
    LANGUAGE_CHOSEN_SLOT,
    LANGUAGE_SLOT,
    TAXPAYER_SLOT,
    DomainDict,
    Event,
    GminaAction,
    button,
    entity,
    intent_button,
    sender,
    verified_summary,
)
from kernel.i18n import LANGUAGES
from storage.bindings import bound_taxpayer


class ActionGreet(GminaAction):
    def name(self) -> str:
        return "action_greet"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        summary = await verified_summary(tracker)
        if summary is not None:
            dispatcher.utter_message(response="utter_greet_verified", name=summary.display_name)
        else:
            office = services.current().settings.city.office_name
            dispatcher.utter_message(response="utter_greet", office=office)
        return []


# A word of ours the resident asks about (the lexicon's `topic`), told by utter_explain_<topic>.
TOPIC_ENTITY = "topic"
TOPICS = frozenset({"activation_code"})


class ActionHelp(GminaAction):
    def name(self) -> str:
        return "action_help"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        topic = entity(tracker, TOPIC_ENTITY)
        if topic in TOPICS:
            dispatcher.utter_message(response=f"utter_explain_{topic}")
            return []
        intents = ("check_balance", "list_deadlines", "pay", "start_form", "human_handoff")
        dispatcher.utter_message(
            response="utter_help", buttons=[intent_button(intent) for intent in intents]
        )
        return []


class ActionChangeLanguage(GminaAction):
    def name(self) -> str:
        return "action_change_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        wanted = str(entity(tracker, "language") or "").strip().lower()[:2]
        if wanted not in LANGUAGES:
            dispatcher.utter_message(
                response="utter_ask_language",
                buttons=[
                    button(f"label_language_{code}", "change_language", language=code)
                    for code in LANGUAGES
                ],
            )
            return []
        # The engine renders after applying the events, so this answer is in the new language.
        dispatcher.utter_message(response="utter_language_changed")
        return [SlotSet(LANGUAGE_SLOT, wanted), SlotSet(LANGUAGE_CHOSEN_SLOT, True)]


class ActionSessionStart(GminaAction):
    """For a Rasa server: copy the store's binding into `taxpayer_id` when a session starts.

    Our own engine does this at every turn and never calls this action.
    """

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        channel, sender_id = sender(tracker)
        async with services.session() as session:
            taxpayer_id = await bound_taxpayer(session, channel, sender_id)
        return [
            SessionStarted(),
            SlotSet(TAXPAYER_SLOT, taxpayer_id),
            ActionExecuted("action_listen"),
        ]
