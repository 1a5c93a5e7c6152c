"""Reminders and announcements, switched on or off per channel.

The NLU has no entities for a channel or a category yet, so besides the `channel` and `category`
entities that our buttons carry, a few word stems in the message name them (intents.answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.common import (
    DELIVERY_CHANNELS,
    DomainDict,
    Event,
    GminaAction,
    button,
    entity,
    offer_verification,
    sender,
    verified_taxpayer,
)
from intents.answers import CATEGORY_STEMS, CHANNEL_STEMS, named_by_stem
from storage.preferences import CATEGORIES, address_on_record, opt_out, record_consent

# The source of a preference the resident states in a conversation, in the preference history.
CHAT_SOURCE = "chat"


def _named(tracker: Tracker, name: str, stems: Mapping[str, tuple[str, ...]]) -> str | None:
    """The value of the entity `name`, or the first value whose stem the message contains."""
    value = entity(tracker, name)
    if value in stems:
        return str(value)
    return named_by_stem(str(tracker.latest_message.get("text") or ""), stems)


def _channel(tracker: Tracker) -> str | None:
    """The channel named, else the one the sender writes on if the notifier can reach it."""
    named = _named(tracker, "channel", CHANNEL_STEMS)
    if named is not None:
        return named
    current, _ = sender(tracker)
    return current if current in DELIVERY_CHANNELS else None


def _ask_channel(dispatcher: CollectingDispatcher, intent: str, **entities: Any) -> None:
    dispatcher.utter_message(
        response="utter_ask_subscription_channel",
        buttons=[
            button(f"label_channel_{channel}", intent, channel=channel, **entities)
            for channel in DELIVERY_CHANNELS
        ],
    )


async def _subscribe(tracker: Tracker, taxpayer_id: int, channel: str, category: str) -> bool:
    """Consent to `category` on `channel`, which becomes the first choice: at the chat the
    resident writes from, else at the address on record. False when there is none."""
    current_channel, sender_id = sender(tracker)
    current = services.current()
    async with services.session() as session:
        if channel == current_channel:
            address: str | None = sender_id
        else:
            address = await address_on_record(session, taxpayer_id, channel)
        if address is None:
            return False
        await record_consent(
            session, taxpayer_id, channel, address, CHAT_SOURCE, current.now(),
            categories=(category,), first=True,
        )  # fmt: skip
        await session.commit()
    return True


async def _unsubscribe(taxpayer_id: int, channel: str, categories: tuple[str, ...]) -> None:
    current = services.current()
    async with services.session() as session:
        await opt_out(session, taxpayer_id, channel, CHAT_SOURCE, current.now(), categories)
        await session.commit()


class ActionSubscribe(GminaAction):
    def name(self) -> str:
        return "action_subscribe"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        taxpayer_id = await verified_taxpayer(tracker)
        if taxpayer_id is None:
            offer_verification(dispatcher)
            return []
        category = _named(tracker, "category", CATEGORY_STEMS) or "reminders"
        channel = _channel(tracker)
        if channel is None:
            _ask_channel(dispatcher, "subscribe_reminders", category=category)
            return []
        if not await _subscribe(tracker, taxpayer_id, channel, category):
            dispatcher.utter_message(response="utter_subscribe_no_address", channel=channel)
            return []
        dispatcher.utter_message(response="utter_subscribed", category=category, channel=channel)
        return []


class ActionUnsubscribe(GminaAction):
    def name(self) -> str:
        return "action_unsubscribe"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        taxpayer_id = await verified_taxpayer(tracker)
        if taxpayer_id is None:
            offer_verification(dispatcher)
            return []
        category = _named(tracker, "category", CATEGORY_STEMS)
        channel = _channel(tracker)
        if channel is None:
            _ask_channel(dispatcher, "unsubscribe", **({"category": category} if category else {}))
            return []
        if category is None:
            await _unsubscribe(taxpayer_id, channel, CATEGORIES)
            dispatcher.utter_message(response="utter_unsubscribed_all", channel=channel)
        else:
            await _unsubscribe(taxpayer_id, channel, (category,))
            dispatcher.utter_message(
                response="utter_unsubscribed", category=category, channel=channel
            )
        return []
