"""What every action shares: the verified taxpayer, the sender, buttons, the base class.

rasa-sdk ships no type information, so its classes are `Any` to mypy; the two base classes here
are the only places that subclass them.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions import services
from storage.bindings import bound_taxpayer, bound_taxpayer_summary
from storage.models import ObligationKind
from storage.taxpayers import TaxpayerSummary

Event = dict[str, Any]
DomainDict = dict[str, Any]

# Set by the dialogue engine from the store's binding only (never from an entity or text), for
# rendering; actions read the binding itself (`verified_taxpayer`).
TAXPAYER_SLOT = "taxpayer_id"
LANGUAGE_SLOT = "language"
LANGUAGE_CHOSEN_SLOT = "language_chosen"
KIND_SLOT = "obligation_kind"
KINDS = frozenset(ObligationKind)
# Telegram sends exactly "/start TOKEN" for a t.me/<bot>?start=TOKEN link.
START_COMMAND = re.compile(r"^/start(?:@\w+)?(?:\s+(\S+))?\s*$")
# On channels where the sender id is the chat's only credential (the web chat makes it up in the
# browser), a verified chat needs an id nobody can guess.
MIN_PRIVATE_SENDER_LENGTH = {"rest": 32}
# The message metadata that names the reminder a message answers (storage.reminder_replies).
REMINDER_METADATA = "reminder"
# Channels the notifier delivers on; the web chat and the terminal cannot be reached later.
DELIVERY_CHANNELS = ("sms", "email", "telegram")


class GminaAction(Action, ABC):  # type: ignore[misc]  # rasa_sdk is untyped
    """An action of ours; abstract until it names itself, so rasa-sdk registers only the leaves."""

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]: ...


class GminaFormValidation(FormValidationAction, ABC):  # type: ignore[misc]  # rasa_sdk is untyped
    @abstractmethod
    def name(self) -> str: ...


async def verified_taxpayer(tracker: Tracker) -> int | None:
    """The taxpayer the store binds this sender to, or None: the only key to anyone's data.

    Read from the store at every call, never from the `taxpayer_id` slot, which a request to
    the action server can set to anything (and which an unbind would leave stale).
    """
    channel, sender_id = sender(tracker)
    async with services.session() as session:
        return await bound_taxpayer(session, channel, sender_id)


async def verified_summary(tracker: Tracker) -> TaxpayerSummary | None:
    """What the sender may see about themselves, read through the store's binding."""
    channel, sender_id = sender(tracker)
    async with services.session() as session:
        return await bound_taxpayer_summary(session, channel, sender_id)


def can_bind(channel: str, sender_id: str) -> bool:
    """Whether a chat may be bound to a taxpayer at all (its sender id is hard to guess)."""
    return len(sender_id) >= MIN_PRIVATE_SENDER_LENGTH.get(channel, 0)


def sender(tracker: Tracker) -> tuple[str, str]:
    """`(channel, sender id)` from Rasa's sender id `"<channel>:<id>"`; a bare id is the REST
    channel's, as a Rasa server passes it."""
    channel, separator, sender_id = str(tracker.sender_id).partition(":")
    return (channel, sender_id) if separator else ("rest", channel)


def answered_reminder_key(tracker: Tracker) -> str | None:
    """The reminder the latest message answers, when its channel knew it (an SMS "ZAPŁAĆ" after
    an SMS reminder, the button under a Telegram reminder): Rasa's message metadata."""
    metadata = tracker.latest_message.get("metadata") or {}
    key = metadata.get(REMINDER_METADATA) if isinstance(metadata, dict) else None
    return key if isinstance(key, str) else None


def turn_key(tracker: Tracker) -> str | None:
    """The key under which this turn's writes happen once: Rasa's id of the latest message (our
    engine puts the provider's message id there, or the conversation's id and version)."""
    key = tracker.latest_message.get("message_id")
    return str(key) if key else None


def entity(tracker: Tracker, name: str) -> Any:
    return next(tracker.get_latest_entity_values(name), None)


def consumed(tracker: Tracker, *slots: str) -> list[Event]:
    """Reset entity slots an answer used, so that the next question does not inherit them."""
    return [SlotSet(slot, None) for slot in slots if tracker.get_slot(slot) is not None]


def kind_value(value: Any) -> str | None:
    return value if isinstance(value, str) and value in KINDS else None


def named_kind(tracker: Tracker) -> str | None:
    """The levy this message names, if any: never one named by an earlier question (the slot
    keeps it), so that "how much do I owe?" after "how much for waste?" means everything."""
    return kind_value(entity(tracker, KIND_SLOT))


def button_payload(intent: str, **entities: Any) -> str:
    """Rasa's `/intent{"entity": "value"}`."""
    payload = f"/{intent}"
    if entities:
        payload += json.dumps(entities, ensure_ascii=False, separators=(",", ":"))
    return payload


def button(title_key: str, intent: str, **entities: Any) -> dict[str, str]:
    """A button whose payload is Rasa's `/intent{"entity": "value"}`; the title is a message key."""
    return {"title": title_key, "payload": button_payload(intent, **entities)}


def intent_button(intent: str, **entities: Any) -> dict[str, str]:
    return button(f"label_intent_{intent}", intent, **entities)


YES_NO = [button("label_yes", "affirm"), button("label_no", "deny")]
VERIFY_BUTTON = button("label_verify_now", "link_account")


def offer_verification(dispatcher: CollectingDispatcher) -> None:
    dispatcher.utter_message(response="utter_verify_offer", buttons=[VERIFY_BUTTON])


def event_time(event: Event) -> str | None:
    timestamp = event.get("timestamp")
    if not isinstance(timestamp, int | float):
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
