"""When to pay: a verified taxpayer's own instalments, or the dates the law and the council set."""

from __future__ import annotations

from datetime import date
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.balance import Statement, load_statement
from actions.common import (
    KIND_SLOT,
    DomainDict,
    Event,
    GminaAction,
    consumed,
    intent_button,
    named_kind,
)
from kernel.settings import LedgerSettings
from storage.ledger import effective_due_date
from storage.models import ObligationKind as K

# The statutory dates ("MM-DD") of DOMAIN.md "Levies and their due dates" (natural persons); the
# council sets the waste and dog fees' dates (settings.ledger); "other fees" have none in general.
_LAND = ("03-15", "05-15", "09-15", "11-15")
_STATUTORY: dict[str, tuple[str, ...]] = {
    K.PROPERTY_TAX: _LAND,
    K.AGRICULTURAL_TAX: _LAND,
    K.FOREST_TAX: _LAND,
    K.VEHICLE_TAX: ("02-15", "09-15"),
    K.PERPETUAL_USUFRUCT: ("03-31",),  # in advance, ugn art. 71 ust. 4
}


def due_dates_by_kind(ledger: LedgerSettings) -> dict[str, tuple[str, ...]]:
    return {
        **_STATUTORY,
        K.WASTE_FEE: tuple(ledger.waste_fee_due_dates),
        K.DOG_FEE: (ledger.dog_fee_due_date,),
    }


def upcoming_dates(month_days: tuple[str, ...], today: date) -> list[date]:
    """The next occurrence of each date within a year from today, moved off days off."""
    found: list[date] = []
    for year in (today.year, today.year + 1):
        for month_day in month_days:
            month, day = (int(part) for part in month_day.split("-"))
            due = effective_due_date(date(year, month, day))
            if today <= due and len(found) < len(month_days):
                found.append(due)
    return found


class ActionListDeadlines(GminaAction):
    def name(self) -> str:
        return "action_list_deadlines"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        events = consumed(tracker, KIND_SLOT)
        kind = named_kind(tracker)
        statement = await load_statement(tracker)
        if statement is None:
            self._general(dispatcher, kind)
        else:
            self._own(dispatcher, statement, kind)
        return events

    def _own(
        self, dispatcher: CollectingDispatcher, statement: Statement, kind: str | None
    ) -> None:
        rows = [row for row in statement.rows if kind is None or row["kind"] == kind]
        if not rows:
            dispatcher.utter_message(response="utter_deadlines_none")
            return
        lines: list[dict[str, Any]] = []
        for row in rows:
            response = "utter_deadline_line"
            if statement.is_overdue(row):
                response = "utter_deadline_line_overdue"
            elif row["effective_due_date"] != row["due_date"]:
                response = "utter_deadline_line_moved"
            lines.append(
                {
                    "response": response,
                    "due_date": row["effective_due_date"],
                    "statutory_date": row["due_date"],
                    "kind": row["kind"],
                    "amount": row["total"],
                }
            )
        dispatcher.utter_message(
            response="utter_deadlines", lines=lines, buttons=[intent_button("pay")]
        )

    def _general(self, dispatcher: CollectingDispatcher, kind: str | None) -> None:
        current = services.current()
        today = current.today()
        schedule = due_dates_by_kind(current.settings.ledger)
        kinds = [kind] if kind in schedule else list(schedule)
        lines = [
            {
                "response": "utter_deadline_rule_line",
                "kind": name,
                "dates": [day.isoformat() for day in upcoming_dates(schedule[name], today)],
            }
            for name in kinds
        ]
        dispatcher.utter_message(response="utter_deadlines_general", lines=lines)
