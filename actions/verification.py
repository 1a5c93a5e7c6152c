"""Verifying a sender inside the chat: PESEL or NIP, then the activation code from a decision.

The answer to a wrong PESEL and to a wrong code is the same (`utter_verify_rejected`): the store
makes the work look alike, and nothing here says which of the two was wrong. The identifier and the
code live in the tracker only while the form runs; the engine never stores their text in events.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from stdnum.pl import nip, pesel

from actions import services
from actions.common import (
    LANGUAGE_CHOSEN_SLOT,
    LANGUAGE_SLOT,
    TAXPAYER_SLOT,
    DomainDict,
    Event,
    GminaAction,
    GminaFormValidation,
    sender,
    turn_key,
    verified_summary,
)
from actions.matters import tell_office_contact
from kernel.clock import WARSAW
from storage.bindings import (
    SENDER_FAILURE_LIMIT,
    TAXPAYER_FAILURE_LIMIT,
    VerifyStatus,
    identified_taxpayers,
    verification_locked_until,
    verify_identified,
)
from storage.taxpayers import TaxpayerSummary, taxpayer_summary

LINK_FORM = "link_account_form"
IDENTIFIER_SLOT = "identifier"
CODE_SLOT = "activation_code"
IDENTIFIED_PREFIX = "taxpayers:"
# Eight symbols, written with or without the dash the city prints: ABCD-EFGH.
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z0-9]{4})[\s-]?([A-Za-z0-9]{4})(?![A-Za-z0-9])")


def parse_identifier(text: str) -> str | None:
    """The digits of a valid PESEL or NIP in the text ("85010112345", "NIP 641-000-55-41")."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and pesel.is_valid(digits):
        return digits
    if len(digits) == 10 and nip.is_valid(digits):
        return digits
    return None


def identified_slot(taxpayer_ids: list[int]) -> str:
    """The identifier slot's value: the taxpayers a PESEL or NIP named ("" for none)."""
    return IDENTIFIED_PREFIX + ",".join(str(taxpayer_id) for taxpayer_id in taxpayer_ids)


def identified_ids(value: str) -> list[int] | None:
    """The taxpayer ids an identifier slot holds; None when it is not such a value."""
    if not value.startswith(IDENTIFIED_PREFIX):
        return None
    listed = value.removeprefix(IDENTIFIED_PREFIX)
    return [int(part) for part in listed.split(",")] if listed else []


def parse_activation_code(text: str) -> str | None:
    match = _CODE.search(text.strip())
    return (match.group(1) + match.group(2)).upper() if match else None


def _has_written(tracker: Tracker) -> bool:
    """Whether the resident wrote anything but `/start`: the language of the chat is then theirs."""
    return any(
        event.get("event") == "user" and not str(event.get("text") or "").startswith("/start")
        for event in tracker.events
    )


def _welcome(
    dispatcher: CollectingDispatcher, tracker: Tracker, summary: TaxpayerSummary
) -> list[Event]:
    """Greet the newly verified taxpayer. Their stored language applies only to a chat opened by
    a link, where they have not written a word yet; otherwise the chat keeps its language."""
    dispatcher.utter_message(response="utter_verified", name=summary.display_name)
    if tracker.get_slot(LANGUAGE_CHOSEN_SLOT) or _has_written(tracker):
        return []
    return [SlotSet(LANGUAGE_SLOT, summary.language)]


class ActionLinkAccount(GminaAction):
    def name(self) -> str:
        return "action_link_account"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        summary = await verified_summary(tracker)
        if summary is not None:
            dispatcher.utter_message(response="utter_already_verified", name=summary.display_name)
            return []
        return [FollowupAction(LINK_FORM)]


class ValidateLinkAccountForm(GminaFormValidation):
    def name(self) -> str:
        return f"validate_{LINK_FORM}"

    async def validate_identifier(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        identifier = parse_identifier(str(value))
        if identifier is None:
            dispatcher.utter_message(response="utter_identifier_invalid")
            return {IDENTIFIER_SLOT: None}
        # The form keeps whom the identifier named until the code comes, never the identifier.
        async with services.session() as session:
            taxpayer_ids = await identified_taxpayers(session, identifier)
        return {IDENTIFIER_SLOT: identified_slot(taxpayer_ids)}

    def validate_activation_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        code = parse_activation_code(str(value))
        if code is None:
            dispatcher.utter_message(response="utter_activation_code_invalid")
        return {CODE_SLOT: code}


class ActionVerifyIdentity(GminaAction):
    """Submits the link-account form: the store checks, binds and audits."""

    def name(self) -> str:
        return "action_verify_identity"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        forget = [SlotSet(IDENTIFIER_SLOT, None), SlotSet(CODE_SLOT, None)]
        identifier = tracker.get_slot(IDENTIFIER_SLOT)
        code = tracker.get_slot(CODE_SLOT)
        if not identifier or not code:
            return forget
        channel, sender_id = sender(tracker)
        now = services.current().now()
        taxpayer_ids = identified_ids(str(identifier))
        async with services.session() as session:
            if taxpayer_ids is None:  # a Rasa server whose form kept the identifier itself
                taxpayer_ids = await identified_taxpayers(session, str(identifier))
            outcome = await verify_identified(
                session, taxpayer_ids, str(code), channel, sender_id, now, turn_key(tracker)
            )
            summary = (
                await taxpayer_summary(session, outcome.taxpayer_id)
                if outcome.status is VerifyStatus.VERIFIED and outcome.taxpayer_id is not None
                else None
            )
            await session.commit()
            locked_until = (
                None
                if summary is not None
                else await verification_locked_until(session, channel, sender_id, taxpayer_ids, now)
            )
        if locked_until is not None:
            # Said plainly, chat or taxpayer alike, with the ways in that need no code.
            dispatcher.utter_message(
                response="utter_verify_locked",
                time=locked_until.astimezone(WARSAW).strftime("%H:%M"),
                sender_limit=SENDER_FAILURE_LIMIT,
                taxpayer_limit=TAXPAYER_FAILURE_LIMIT,
            )
            tell_office_contact(dispatcher)
            return forget
        if summary is None:
            dispatcher.utter_message(response="utter_verify_rejected")
            return forget
        # The engine does not take this value on trust: it reads the binding back from the store.
        return [
            *forget,
            SlotSet(TAXPAYER_SLOT, summary.id),
            *_welcome(dispatcher, tracker, summary),
        ]


class ActionLinkWelcome(GminaAction):
    """Run by the engine after `/start TOKEN` bound the chat."""

    def name(self) -> str:
        return "action_link_welcome"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        summary = await verified_summary(tracker)
        if summary is None:
            return []
        return _welcome(dispatcher, tracker, summary)
