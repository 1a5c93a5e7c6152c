"""When to pay: a verified taxpayer's own instalments, or the dates the law and the council set."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.balance import Row, Statement, load_statement, total
from actions.common import (
    KIND_SLOT,
    DomainDict,
    Event,
    GminaAction,
    button,
    consumed,
    entity,
    intent_button,
    named_kind,
)
from kernel.settings import LedgerSettings
from storage.ledger import effective_due_date
from storage.models import ObligationKind as K

# A deadlines answer lists this many instalments of each part; a button shows them all.
LISTED = 5
# Carried by the "show all" button: `/list_deadlines{"page":"all"}`.
PAGE_ENTITY = "page"

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


def _lines(rows: list[Row], field: str) -> list[dict[str, Any]]:
    """One line per instalment: its date (and the statutory one when moved), levy and amount."""
    lines: list[dict[str, Any]] = []
    for row in rows:
        moved = row["effective_due_date"] != row["due_date"]
        lines.append(
            {
                "response": "utter_deadline_line_moved" if moved else "utter_deadline_line",
                "due_date": row["effective_due_date"],
                "statutory_date": row["due_date"],
                "kind": row["kind"],
                "amount": row[field],
            }
        )
    return lines


def _listed(rows: list[Row], limit: int | None) -> list[dict[str, Any]]:
    """The first `limit` instalments' lines, then how many more and what they come to (as the
    lines: without interest) when the list is cut."""
    lines = _lines(rows[:limit], "principal")
    if limit is not None and len(rows) > limit:
        rest = rows[limit:]
        lines.append(
            {
                "response": "utter_deadlines_more",
                "count": len(rest),
                "total_amount": total(rest, "principal"),
            }
        )
    return lines


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
            show_all = entity(tracker, PAGE_ENTITY) == "all"
            self._own(dispatcher, statement, kind, show_all)
        return events

    def _own(
        self,
        dispatcher: CollectingDispatcher,
        statement: Statement,
        kind: str | None,
        show_all: bool,
    ) -> None:
        """Upcoming instalments first, then what is past due apart, its interest apart; each list
        cut at LISTED lines with the count and total of the rest and a button to see them all."""
        rows = [row for row in statement.rows if kind is None or row["kind"] == kind]
        if not rows:
            dispatcher.utter_message(response="utter_deadlines_none")
            self._general(dispatcher, kind)
            return
        upcoming = [row for row in rows if not statement.is_overdue(row)]
        overdue = [row for row in rows if statement.is_overdue(row)]
        limit = None if show_all else LISTED
        if upcoming:
            dispatcher.utter_message(response="utter_deadlines", lines=_listed(upcoming, limit))
        else:
            dispatcher.utter_message(response="utter_deadlines_no_upcoming")
        if overdue:
            lines = _listed(overdue, limit)
            interest = total(overdue, "interest")
            if Decimal(interest) > 0:
                lines.append({"response": "utter_deadlines_interest", "interest_amount": interest})
            dispatcher.utter_message(
                response="utter_deadlines_overdue",
                count=len(overdue),
                date=statement.as_of.isoformat(),
                overdue_amount=total(overdue),
                lines=lines,
            )
        cut = limit is not None and max(len(upcoming), len(overdue)) > limit
        buttons = [intent_button("pay")]
        if cut:
            buttons.insert(0, button("label_show_all", "list_deadlines", page="all"))
        # The buttons go with the answer's last message, under everything it listed.
        dispatcher.messages[-1]["buttons"] = buttons

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
