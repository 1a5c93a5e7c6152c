"""The status of a verified taxpayer's own cases; another's case is as unknown as a missing one."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.common import (
    DomainDict,
    Event,
    GminaAction,
    button_payload,
    consumed,
    offer_verification,
    verified_taxpayer,
)
from kernel.clock import WARSAW
from storage.casework import CaseRecord, get_case, list_cases

CASE_REF_SLOT = "case_ref"
# A chat message lists the newest cases only, and offers the newest few as buttons.
LISTED_CASES = 10
CASE_BUTTONS = 5


def case_values(case: CaseRecord) -> dict[str, Any]:
    return {
        "case_ref": case.ref,
        "form_type": case.form_type,
        "created_date": case.created_at.astimezone(WARSAW).date().isoformat(),
        "status": case.status.value,
    }


class ActionCaseStatus(GminaAction):
    def name(self) -> str:
        return "action_case_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        events = consumed(tracker, CASE_REF_SLOT)
        taxpayer_id = await verified_taxpayer(tracker)
        if taxpayer_id is None:
            offer_verification(dispatcher)
            return events
        case_ref = tracker.get_slot(CASE_REF_SLOT)
        async with services.session() as session:
            if case_ref:
                case = await get_case(session, taxpayer_id, str(case_ref))
                cases = [] if case is None else [case]
            else:
                cases = await list_cases(session, taxpayer_id)
        if case_ref and not cases:
            dispatcher.utter_message(response="utter_case_not_found", case_ref=str(case_ref))
        elif case_ref and cases[0].note:
            dispatcher.utter_message(
                response="utter_case_status_note", note=cases[0].note, **case_values(cases[0])
            )
        elif case_ref:
            dispatcher.utter_message(response="utter_case_status", **case_values(cases[0]))
        elif not cases:
            dispatcher.utter_message(response="utter_cases_none")
        else:
            lines = [
                {"response": "utter_case_line", **case_values(case)}
                for case in cases[:LISTED_CASES]
            ]
            # The newest cases as buttons: a tap asks for one's status.
            buttons = [
                {"title": case.ref, "payload": button_payload("case_status", case_ref=case.ref)}
                for case in cases[:CASE_BUTTONS]
            ]
            dispatcher.utter_message(
                response="utter_cases", count=len(cases), lines=lines, buttons=buttons
            )
        return events
