"""Actions on hand-built trackers: the events they return and the messages they collect."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.balance import ActionCheckBalance, ActionPay, load_statement, rows_to_pay
from actions.cases import ActionCaseStatus
from actions.deadlines import ActionListDeadlines, upcoming_dates
from actions.forms import (
    ActionStartForm,
    ActionSubmitForm,
    ValidateWasteDeclarationChangeForm,
    declaration_deadline,
)
from actions.handoff import last_turns
from actions.services import Services
from actions.subscriptions import ActionSubscribe
from actions.verification import (
    ActionVerifyIdentity,
    parse_activation_code,
    parse_identifier,
)
from payments.titles import TITLE_LENGTH, transfer_titles
from storage.balances import balance_to_json, taxpayer_balance
from storage.bindings import bound_taxpayer, issue_activation_code, redeem_link_token
from storage.casework import list_cases
from storage.payment_links import open_payment_link
from storage.preferences import delivery_channels, preference_history, record_consent
from tests.actions.conftest import add_bound_resident, make_tracker
from tests.conftest import Store
from tests.conversation_helpers import NOW, TAXPAYER_REF, TODAY, add_resident, link_token
from tests.notifier.reminder_helpers import consent, plan
from tests.resident_helpers import OTHER_PESEL, PESEL

SENDER = "web-0123456789abcdef0123456789abcdef"
VERIFY_OFFER = {
    "response": "utter_verify_offer",
    "buttons": [{"title": "label_verify_now", "payload": "/link_account"}],
}


def _said(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    """The collected messages without rasa-sdk's empty fields."""
    return [
        {k: v for k, v in message.items() if v not in (None, [], {}) and k != "template"}
        for message in dispatcher.messages
    ]


@pytest.mark.parametrize(
    "action", [ActionCheckBalance(), ActionCaseStatus(), ActionStartForm()], ids=lambda a: a.name()
)
async def test_an_unverified_sender_gets_the_offer_to_verify_and_nothing_else(
    store: Store, configured: Services, domain: dict[str, Any], action: Any
) -> None:
    await add_resident(store)
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, make_tracker(), domain)
    assert _said(dispatcher) == [VERIFY_OFFER]
    assert events == []


async def test_the_balance_per_kind_adds_up_the_ledger_figures(
    store: Store, configured: Services, domain: dict[str, Any]
) -> None:
    taxpayer_id = await add_bound_resident(store)
    async with store.sessions() as session:
        balance = await taxpayer_balance(session, TAXPAYER_REF, TODAY, configured.ledger_policy)
    assert balance is not None
    figures = balance_to_json(balance)
    property_rows = [row for row in figures["obligations"] if row["kind"] == "property_tax"]
    dispatcher = CollectingDispatcher()
    events = await ActionCheckBalance().run(
        dispatcher, make_tracker({"taxpayer_id": taxpayer_id, "obligation_kind": None}), domain
    )
    assert events == []
    answer, overdue = _said(dispatcher)
    assert answer["response"] == "utter_balance"
    assert answer["total_amount"] == figures["total"]
    assert answer["date"] == TODAY.isoformat()
    first = answer["lines"][0]
    assert first["kind"] == "property_tax"
    assert first["count"] == len(property_rows)
    assert first["due_date"] == property_rows[0]["effective_due_date"]
    assert overdue == {"response": "utter_balance_overdue", "overdue_amount": figures["overdue"]}


async def test_a_kind_asked_for_is_answered_per_instalment_and_the_slot_reset(
    store: Store, configured: Services, domain: dict[str, Any]
) -> None:
    taxpayer_id = await add_bound_resident(store)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {"taxpayer_id": taxpayer_id, "obligation_kind": "dog_fee"},
        entities=[{"entity": "obligation_kind", "value": "dog_fee"}],
    )
    events = await ActionCheckBalance().run(dispatcher, tracker, domain)
    assert events == [SlotSet("obligation_kind", None)]
    answer, overdue = _said(dispatcher)
    assert answer["response"] == "utter_balance_kind"
    assert answer["kind"] == "dog_fee"
    assert answer["lines"] == [
        {"response": "utter_balance_instalment_line", "due_date": "2027-03-31", "amount": "30.00"}
    ]
    assert overdue["overdue_amount"] == "30.00"


async def test_pay_takes_what_is_due_or_the_next_instalments(
    store: Store, configured: Services
) -> None:
    taxpayer_id = await add_bound_resident(store)
    statement = await load_statement(make_tracker({"taxpayer_id": taxpayer_id}))
    assert statement is not None
    due = [row["obligation_ref"] for row in rows_to_pay(statement, None)]
    assert due == ["PT-2027-1", "DOG-2027"]
    # The waste fee has nothing due by today: its next instalment, 15 May moved to Monday 17 May.
    waste = rows_to_pay(statement, "waste_fee")
    assert [(row["obligation_ref"], row["effective_due_date"]) for row in waste] == [
        ("WF-2027-2", "2027-05-17")
    ]


async def test_pay_answers_the_reminder_with_what_it_listed(
    store: Store, configured: Services, domain: dict[str, Any]
) -> None:
    taxpayer_id = await add_bound_resident(store)
    await consent(store, taxpayer_id, NOW)
    # A reminder three days after the March instalment's due date (15 March 2027 is a Monday).
    await plan(store, date(2027, 3, 18), NOW)
    dispatcher = CollectingDispatcher()
    await ActionPay().run(dispatcher, make_tracker({"taxpayer_id": taxpayer_id}), domain)
    details, link, note = _said(dispatcher)
    assert details == {
        "response": "utter_pay_details",
        "recipient": "Urząd Miasta Ruda Śląska",
        "account": "22105012141000000012345678",
        "title": "T-1001 PT-2027-1",
        "amount": dispatcher.messages[0]["amount"],
    }
    assert note == {"response": "utter_pay_overdue_note", "date": "2027-05-10"}
    # The payment link to that obligation, on the public base URL, for payments.link_ttl_days.
    base = configured.settings.web.public_base_url
    token = link["url"].removeprefix(f"{base}/pay/")
    assert link == {"response": "utter_pay_link", "url": link["url"], "until_date": "2027-05-24"}
    async with store.sessions() as session:
        opened = await open_payment_link(session, token, NOW)
    assert opened is not None
    assert opened.obligation_refs == ("PT-2027-1",)


async def test_unverified_deadlines_are_the_statutory_dates(
    configured: Services, domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(entities=[{"entity": "obligation_kind", "value": "vehicle_tax"}])
    await ActionListDeadlines().run(dispatcher, tracker, domain)
    assert _said(dispatcher) == [
        {
            "response": "utter_deadlines_general",
            "lines": [
                {
                    "response": "utter_deadline_rule_line",
                    "kind": "vehicle_tax",
                    "dates": ["2027-09-15", "2028-02-15"],
                }
            ],
        }
    ]


def test_upcoming_dates_move_off_days_off() -> None:
    land = ("03-15", "05-15", "09-15", "11-15")
    # 15 Mar 2026 is a Sunday; 15 May 2027 a Saturday (DOMAIN.md).
    assert upcoming_dates(land, date(2026, 3, 1))[0] == date(2026, 3, 16)
    assert upcoming_dates(land, TODAY) == [
        date(2027, 5, 17),
        date(2027, 9, 15),
        date(2027, 11, 15),
        date(2028, 3, 15),
    ]


def test_a_changed_waste_declaration_is_due_by_the_10th_of_the_next_month() -> None:
    assert declaration_deadline(date(2027, 5, 1)) == date(2027, 6, 10)
    assert declaration_deadline(date(2027, 12, 31)) == date(2028, 1, 10)
    # 10 April 2027 is a Saturday: the next working day.
    assert declaration_deadline(date(2027, 3, 3)) == date(2027, 4, 12)


async def test_a_date_without_a_year_means_the_last_one_not_the_next(
    configured: Services, domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    validator = ValidateWasteDeclarationChangeForm()
    # The NLU resolves "1 kwietnia" to the next 1 April; said on 10 May it is the one just past.
    tracker = make_tracker(text="od 1 kwietnia")
    result = validator.validate_change_date("2028-04-01", dispatcher, tracker, domain)
    assert result == {"change_date": "2027-04-01"}
    tracker = make_tracker(text="od 1.04.2028")
    result = validator.validate_change_date("2028-04-01", dispatcher, tracker, domain)
    assert result == {"change_date": None}
    assert _said(dispatcher) == [{"response": "utter_change_date_invalid"}]


def test_identifiers_and_codes_are_read_from_what_residents_type() -> None:
    assert parse_identifier(f"mój pesel to {PESEL}") == PESEL
    assert parse_identifier("NIP 526-025-02-74") == "5260250274"
    assert parse_identifier("12345678901") is None
    assert parse_activation_code("abcd-efgh") == "ABCDEFGH"
    assert parse_activation_code("kod: ABCD EFGH") == "ABCDEFGH"
    assert parse_activation_code("ABC") is None


async def test_verification_rejects_alike_and_binds_on_the_right_code(
    store: Store, configured: Services, domain: dict[str, Any]
) -> None:
    taxpayer_id = await add_resident(store)
    async with store.sessions() as session:
        code = await issue_activation_code(session, TAXPAYER_REF, NOW)
        await session.commit()
    forget = [SlotSet("identifier", None), SlotSet("activation_code", None)]
    answers = []
    for identifier, given in ((PESEL, "ZZZZZZZZ"), (OTHER_PESEL, code)):
        dispatcher = CollectingDispatcher()
        slots = {"identifier": identifier, "activation_code": given}
        events = await ActionVerifyIdentity().run(dispatcher, make_tracker(slots), domain)
        assert events == forget
        answers.append(_said(dispatcher))
    assert answers[0] == answers[1] == [{"response": "utter_verify_rejected"}]

    dispatcher = CollectingDispatcher()
    slots = {"identifier": PESEL, "activation_code": code.replace("-", "")}
    events = await ActionVerifyIdentity().run(dispatcher, make_tracker(slots), domain)
    assert events == [*forget, SlotSet("taxpayer_id", taxpayer_id), SlotSet("language", "pl")]
    assert _said(dispatcher) == [{"response": "utter_verified", "name": "Anna Nowak"}]
    async with store.sessions() as session:
        assert await bound_taxpayer(session, "rest", SENDER) == taxpayer_id


async def test_start_form_asks_which_form_or_starts_it(
    store: Store, configured: Services, domain: dict[str, Any]
) -> None:
    taxpayer_id = await add_bound_resident(store)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"taxpayer_id": taxpayer_id, "form_type": "installments"})
    events = await ActionStartForm().run(dispatcher, tracker, domain)
    assert events == [SlotSet("form_type", None), FollowupAction("installments_form")]
    dispatcher = CollectingDispatcher()
    await ActionStartForm().run(dispatcher, make_tracker({"taxpayer_id": taxpayer_id}), domain)
    (question,) = _said(dispatcher)
    assert question["response"] == "utter_ask_form_type"
    assert [b["payload"] for b in question["buttons"]] == [
        '/start_form{"form_type":"waste_declaration_change"}',
        '/start_form{"form_type":"no_arrears_certificate"}',
        '/start_form{"form_type":"installments"}',
    ]


async def test_a_confirmed_form_is_filed_as_a_case_of_the_taxpayer(
    store: Store, configured: Services, domain: dict[str, Any]
) -> None:
    taxpayer_id = await add_bound_resident(store)
    slots = {"taxpayer_id": taxpayer_id, "purpose": "kredyt", "form_confirmed": True}
    events_so_far = [{"event": "active_loop", "name": "no_arrears_certificate_form"}]
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitForm().run(
        dispatcher, make_tracker(slots, events=events_so_far), domain
    )
    assert events == [SlotSet("purpose", None), SlotSet("form_confirmed", None)]
    async with store.sessions() as session:
        (case,) = await list_cases(session, taxpayer_id)
    assert case.form_type == "no_arrears_certificate"
    assert case.data == {"purpose": "kredyt"}
    assert case.channel == "rest"
    assert _said(dispatcher) == [{"response": "utter_form_submitted", "case_ref": case.ref}]


def test_the_hand_off_takes_the_last_turns_both_ways() -> None:
    events: list[dict[str, Any]] = [
        {"event": "user", "text": "ile mam do zapłaty", "timestamp": NOW.timestamp()},
        {"event": "action", "name": "action_check_balance"},
        {"event": "bot", "text": "Najpierw muszę potwierdzić…", "timestamp": NOW.timestamp()},
        {"event": "user", "text": "chcę rozmawiać z człowiekiem", "timestamp": None},
    ]
    assert last_turns(make_tracker(events=events)) == [
        {"from": "resident", "text": "ile mam do zapłaty", "at": NOW.isoformat()},
        {"from": "assistant", "text": "Najpierw muszę potwierdzić…", "at": NOW.isoformat()},
        {"from": "resident", "text": "chcę rozmawiać z człowiekiem", "at": None},
    ]


def test_transfer_titles_fit_and_never_cut_a_reference() -> None:
    refs = [f"PN-2026-000001-{number:02d}" for number in range(1, 20)]
    titles = transfer_titles("T000001", refs)
    assert all(len(title) <= TITLE_LENGTH for title, _ in titles)
    assert [ref for _, group in titles for ref in group] == refs
    for title, group in titles:
        assert title == " ".join(["T000001", *group])
    assert transfer_titles("T-1001", ["WF-2027-2"]) == [("T-1001 WF-2027-2", ["WF-2027-2"])]


async def test_remind_me_on_telegram_binds_the_consent_to_that_chat(
    store: Store, configured: Services, domain: dict[str, Any]
) -> None:
    taxpayer_id = await add_resident(store)
    token = await link_token(store)
    async with store.sessions() as session:
        await record_consent(session, taxpayer_id, "sms", "+48601234567", "import", NOW)
        await redeem_link_token(session, token, "telegram", "700100", NOW)
        await session.commit()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        text="przypominaj mi na Telegramie",
        intent="subscribe_reminders",
        sender_id="telegram:700100",
    )
    await ActionSubscribe().run(dispatcher, tracker, domain)
    assert _said(dispatcher) == [
        {"response": "utter_subscribed", "category": "reminders", "channel": "telegram"}
    ]
    async with store.sessions() as session:
        found = await delivery_channels(session, [taxpayer_id], "reminders")
        history = await preference_history(session, taxpayer_id)
    assert found[taxpayer_id] == [("telegram", "700100"), ("sms", "+48601234567")]
    assert (history[-1].change, history[-1].source) == ("order", "chat")
    consents = [(c.channel, c.address, c.source) for c in history if c.change == "consent"]
    assert consents == [
        ("sms", "+48601234567", "import"),
        ("telegram", "700100", "chat"),
    ]
