"""`/start TOKEN` for a city that runs Rasa: the action its rule runs for such a message.

Our own engine redeems the token before understanding (bot/dialogue/engine.py); a Rasa server
has no such step, so a rule sends the message here (see the README). The token is read from the
message's text, redeemed for the tracker's sender, and the welcome follows as in our engine.
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.common import (
    START_COMMAND,
    TAXPAYER_SLOT,
    DomainDict,
    Event,
    GminaAction,
    can_bind,
    sender,
)
from storage.bindings import redeem_link_token


class ActionLinkToken(GminaAction):
    def name(self) -> str:
        return "action_link_token"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        start = START_COMMAND.match(str(tracker.latest_message.get("text") or "").strip())
        if start is None or start.group(1) is None:
            return [FollowupAction("action_greet")]
        channel, sender_id = sender(tracker)
        if not can_bind(channel, sender_id):
            dispatcher.utter_message(response="utter_chat_not_private")
            return []
        async with services.session() as session:
            taxpayer_id = await redeem_link_token(
                session, start.group(1), channel, sender_id, services.current().now()
            )
            await session.commit()
        if taxpayer_id is None:
            dispatcher.utter_message(response="utter_link_token_refused")
            return []
        return [SlotSet(TAXPAYER_SLOT, taxpayer_id), FollowupAction("action_link_welcome")]
