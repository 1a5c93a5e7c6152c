"""The forms residents submit in the chat, on one small framework.

Each form is a Rasa form (`<form_type>_form` in domain.yml) whose required slots are its fields
and then `form_confirmed`: a `validate_<form>` action checks each answer,
`action_ask_form_confirmed` shows the summary with Yes/No, and once confirmed
`action_submit_form` files a case in the store and tells its reference. "No", "anuluj" or
"stop" cancel (the engine's form loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.balance import by_kind, load_statement
from actions.common import (
    KINDS,
    YES_NO,
    DomainDict,
    Event,
    GminaAction,
    GminaFormValidation,
    button,
    consumed,
    entity,
    offer_verification,
    sender,
    turn_key,
    verified_taxpayer,
)
from actions.matters import MATTER_ENTITY, MATTERS, tell_matter
from intents.answers import names_year, parse_count, parse_day
from storage.casework import create_case, same_case_since
from storage.ledger import effective_due_date

CONFIRM_SLOT = "form_confirmed"
FORM_TYPE_SLOT = "form_type"
# DOMAIN.md "Matters residents handle online": a certificate of no tax arrears costs 21 zł.
NO_ARREARS_STAMP_DUTY = "21.00"
# DOMAIN.md: a changed waste declaration is due by this day of the month after the change.
WASTE_DECLARATION_DAY = 10
MAX_RESIDENTS = 99
INSTALMENTS = range(2, 25)
# How far ahead a change may be declared ("od 1 stycznia" said late in November is ahead), and how
# far back it is still worth a declaration.
FUTURE_LIMIT = timedelta(days=92)
PAST_LIMIT = timedelta(days=5 * 366)
TEXT_LIMITS = range(3, 501)


def _said(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def _year_earlier(day: date) -> date:
    return day.replace(year=day.year - 1, day=28 if (day.month, day.day) == (2, 29) else day.day)


def declaration_deadline(change: date) -> date:
    """The 10th of the month after the change, or the next working day (OP art. 12 §5)."""
    first_of_next = (change.replace(day=1) + timedelta(days=32)).replace(day=1)
    return effective_due_date(first_of_next.replace(day=WASTE_DECLARATION_DAY))


def _text(value: Any) -> str | None:
    text = " ".join(str(value or "").split())
    return text if len(text) in TEXT_LIMITS else None


@dataclass(frozen=True)
class CaseForm:
    form_type: str
    # The slots asked, in order; the confirmation comes after them.
    fields: tuple[str, ...]
    # Values of `utter_summary_<form_type>` from the filled slots.
    summary: Callable[[Tracker], dict[str, Any]]
    # Slots a validator fills beside the fields, filed with the case too.
    derived: tuple[str, ...] = ()
    # A message said before the summary when the answers call for it (a deadline missed).
    warning: Callable[[Tracker, date], dict[str, Any] | None] | None = None

    @property
    def name(self) -> str:
        return f"{self.form_type}_form"

    @property
    def required_slots(self) -> tuple[str, ...]:
        return (*self.fields, CONFIRM_SLOT)

    def data(self, tracker: Tracker) -> dict[str, Any]:
        return {slot: tracker.get_slot(slot) for slot in (*self.fields, *self.derived)}


def _waste_summary(tracker: Tracker) -> dict[str, Any]:
    change = date.fromisoformat(str(tracker.get_slot("change_date")))
    return {
        "count": int(tracker.get_slot("residents_count")),
        "change_date": change.isoformat(),
        "deadline_date": declaration_deadline(change).isoformat(),
    }


def _waste_warning(tracker: Tracker, today: date) -> dict[str, Any] | None:
    """A change whose declaration is already late: said plainly, with what follows from it."""
    deadline = declaration_deadline(date.fromisoformat(str(tracker.get_slot("change_date"))))
    if deadline >= today:
        return None
    return {"response": "utter_declaration_late", "deadline_date": deadline.isoformat()}


def _certificate_summary(tracker: Tracker) -> dict[str, Any]:
    return {"purpose": tracker.get_slot("purpose"), "fee_amount": NO_ARREARS_STAMP_DUTY}


def _installments_summary(tracker: Tracker) -> dict[str, Any]:
    return {
        "count": int(tracker.get_slot("installments_count")),
        "kind": tracker.get_slot("installments_kind"),
        "reason": tracker.get_slot("installments_reason"),
    }


FORMS: dict[str, CaseForm] = {
    form.form_type: form
    for form in (
        CaseForm(
            "waste_declaration_change",
            ("residents_count", "change_date"),
            _waste_summary,
            warning=_waste_warning,
        ),
        CaseForm("no_arrears_certificate", ("purpose",), _certificate_summary),
        CaseForm(
            "installments",
            ("installments_obligation", "installments_count", "installments_reason"),
            _installments_summary,
            derived=("installments_kind",),
        ),
    )
}
FORMS_BY_NAME = {form.name: form for form in FORMS.values()}


def completed_form(tracker: Tracker) -> CaseForm | None:
    """The case form whose every slot is filled: the one just completed (a form's slots are reset
    when it is submitted or cancelled). Its slots say so however long the form took, where the
    event that started it may have left the saved conversation's window."""
    for form in FORMS.values():
        if all(tracker.get_slot(slot) is not None for slot in form.required_slots):
            return form
    return None


async def _same_case_lately(tracker: Tracker, form: CaseForm) -> str | None:
    """A case with these very answers filed within city.repeat_application_minutes, if any: the
    confirmation then asks whether to file it again."""
    taxpayer_id = await verified_taxpayer(tracker)
    current = services.current()
    window = timedelta(minutes=current.settings.city.repeat_application_minutes)
    if taxpayer_id is None or not window:
        return None
    async with services.session() as session:
        return await same_case_since(
            session, taxpayer_id, form.form_type, form.data(tracker), current.now() - window
        )


class ActionStartForm(GminaAction):
    def name(self) -> str:
        return "action_start_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        events = consumed(tracker, FORM_TYPE_SLOT)
        matter = MATTERS.get(str(entity(tracker, MATTER_ENTITY)))
        if matter is not None:
            # A matter the chat cannot file: what the city offers, never another form.
            tell_matter(dispatcher, matter)
            return events
        if await verified_taxpayer(tracker) is None:
            offer_verification(dispatcher)
            return events
        form = FORMS.get(str(tracker.get_slot(FORM_TYPE_SLOT)))
        if form is None:
            dispatcher.utter_message(
                response="utter_ask_form_type",
                buttons=[
                    button(f"label_form_type_{form_type}", "start_form", form_type=form_type)
                    for form_type in FORMS
                ],
            )
            return events
        return [*events, FollowupAction(form.name)]


class CaseFormValidation(GminaFormValidation):
    def validate_form_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {CONFIRM_SLOT: True if value is True else None}


class ValidateWasteDeclarationChangeForm(CaseFormValidation):
    def name(self) -> str:
        return "validate_waste_declaration_change_form"

    def validate_residents_count(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        count = parse_count(value)
        if count is None or count > MAX_RESIDENTS:
            dispatcher.utter_message(response="utter_residents_count_invalid")
            return {"residents_count": None}
        return {"residents_count": count}

    def validate_change_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        today = services.current().today()
        day = parse_day(value, today)
        if day is not None and day > today + FUTURE_LIMIT and not names_year(_said(tracker)):
            # "od 1 maja" said in June: the NLU reads the next 1 May, the resident meant the last.
            day = _year_earlier(day)
        if day is None or not today - PAST_LIMIT <= day <= today + FUTURE_LIMIT:
            dispatcher.utter_message(response="utter_change_date_invalid")
            return {"change_date": None}
        return {"change_date": day.isoformat()}


class ValidateNoArrearsCertificateForm(CaseFormValidation):
    def name(self) -> str:
        return "validate_no_arrears_certificate_form"

    def validate_purpose(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        purpose = _text(value)
        if purpose is None:
            dispatcher.utter_message(response="utter_purpose_invalid")
        return {"purpose": purpose}


class ValidateInstallmentsForm(CaseFormValidation):
    def name(self) -> str:
        return "validate_installments_form"

    async def validate_installments_obligation(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A kind with something outstanding, or the reference of an outstanding obligation.

        A levy named but not owed is said so; any other answer ("na 5 rat", "tak") is not a levy
        at all, and the question comes again with the resident's own levies as buttons."""
        statement = await load_statement(tracker)
        rows = statement.rows if statement is not None else []
        wanted = str(value or "").strip()
        for row in rows:
            if wanted in KINDS and row["kind"] == wanted:
                return {"installments_obligation": wanted, "installments_kind": wanted}
            if wanted.upper() == str(row["obligation_ref"]).upper():
                return {
                    "installments_obligation": row["obligation_ref"],
                    "installments_kind": row["kind"],
                }
        if wanted in KINDS:
            dispatcher.utter_message(response="utter_installments_kind_not_owed", kind=wanted)
        else:
            dispatcher.utter_message(response="utter_installments_obligation_invalid")
        return {"installments_obligation": None, "installments_kind": None}

    def validate_installments_count(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        count = parse_count(value)
        if count not in INSTALMENTS:
            dispatcher.utter_message(response="utter_installments_count_invalid")
            return {"installments_count": None}
        return {"installments_count": count}

    def validate_installments_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        reason = _text(value)
        if reason is None:
            dispatcher.utter_message(response="utter_installments_reason_invalid")
        return {"installments_reason": reason}


class ActionAskInstallmentsObligation(GminaAction):
    """Asks which levy to spread, offering the resident's own outstanding levies as buttons."""

    def name(self) -> str:
        return "action_ask_installments_obligation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        statement = await load_statement(tracker)
        kinds = by_kind(statement.rows) if statement is not None else {}
        dispatcher.utter_message(
            response="utter_ask_installments_obligation",
            buttons=[
                button(f"label_kind_{kind}", "start_form", obligation_kind=kind) for kind in kinds
            ],
        )
        return []


class ActionAskFormConfirmed(GminaAction):
    """Asks for `form_confirmed`: the form's summary, with Yes and No."""

    def name(self) -> str:
        return f"action_ask_{CONFIRM_SLOT}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        form = FORMS_BY_NAME.get(tracker.active_loop_name or "")
        if form is not None:
            warning = form.warning(tracker, services.current().today()) if form.warning else None
            if warning is not None:
                dispatcher.utter_message(**warning)
            repeated = await _same_case_lately(tracker, form)
            if repeated is not None:
                dispatcher.utter_message(response="utter_form_repeated", case_ref=repeated)
            dispatcher.utter_message(
                response=f"utter_summary_{form.form_type}", buttons=YES_NO, **form.summary(tracker)
            )
        return []


class ActionSubmitForm(GminaAction):
    def name(self) -> str:
        return "action_submit_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        form = completed_form(tracker)
        if form is None:
            dispatcher.utter_message(response="utter_form_not_submitted")
            return []
        reset = [SlotSet(slot, None) for slot in (*form.required_slots, *form.derived)]
        taxpayer_id = await verified_taxpayer(tracker)
        if taxpayer_id is None:
            offer_verification(dispatcher)
            return reset
        if tracker.get_slot(CONFIRM_SLOT) is not True:
            dispatcher.utter_message(response="utter_form_cancelled")
            return reset
        channel, sender_id = sender(tracker)
        async with services.session() as session:
            case_ref = await create_case(
                session,
                taxpayer_id,
                form.form_type,
                form.data(tracker),
                channel,
                services.current().now(),
                turn_key=turn_key(tracker),
                sender_id=sender_id,
            )
            await session.commit()
        dispatcher.utter_message(response="utter_form_submitted", case_ref=case_ref)
        return reset
