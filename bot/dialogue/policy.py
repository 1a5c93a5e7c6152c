"""Which action answers what: rules per intent, forms' submissions, cancelling, clarifying."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from actions.forms import CONFIRM_SLOT, FORM_TYPE_SLOT
from actions.matters import MATTER_ENTITY
from actions.small_talk import TOPIC_ENTITY
from actions.verification import CODE_SLOT, IDENTIFIER_SLOT, LINK_FORM, parse_identifier
from intents.answers import is_cancel_word, parse_count, words
from storage.bindings import looks_like_activation_code

RULES: dict[str, str] = {
    "greet": "action_greet",
    "goodbye": "utter_goodbye",
    "thanks": "utter_thanks",
    "help": "action_help",
    "check_balance": "action_check_balance",
    "list_deadlines": "action_list_deadlines",
    "pay": "action_pay",
    "start_form": "action_start_form",
    "case_status": "action_case_status",
    "link_account": "action_link_account",
    "subscribe_reminders": "action_subscribe",
    "unsubscribe": "action_unsubscribe",
    "human_handoff": "action_human_handoff",
    "change_language": "action_change_language",
    "affirm": "utter_anything_else",
    "deny": "utter_anything_else",
    "out_of_scope": "utter_out_of_scope",
}
# Replies rather than requests: never offered in "Did you mean…?", never interrupt a form.
REPLIES = frozenset({"affirm", "deny", "out_of_scope"})

# The action that completes a form; every other form files a case.
_SUBMIT = {LINK_FORM: "action_verify_identity"}
# Slots whose text is a secret: their answers are not kept in the conversation's events.
SENSITIVE_SLOTS = frozenset({IDENTIFIER_SLOT, CODE_SLOT})
# The intents offered by "Did you mean…?", the first of them taken on "yes".
CLARIFY_SLOT = "clarify_intents"

# Below the NLU's threshold (it then says out_of_scope) but at least this sure of the top intent,
# the resident is asked which of the top two they meant.
CLARIFY_FLOOR = 0.2
CLARIFY_CHOICES = 2
# A code as the city prints it (ABCD-EFGH) or with a digit: "dziekuje" has eight letters too.
_CODE_WRITTEN = re.compile(r"-|\d")


def is_request(intent: str) -> bool:
    """Whether the intent asks for something rather than replies."""
    return intent in RULES and intent not in REPLIES


def is_correction(intent: str) -> bool:
    """Whether a message that answers an earlier question of the form, not the one asked, is a
    correction of it: so when it asks for nothing else, or for a form (our buttons that answer a
    form's choice carry "start a form")."""
    return intent == "start_form" or not is_request(intent)


def submit_action(form: str) -> str:
    return _SUBMIT.get(form, "action_submit_form")


def intent_name(parse: Mapping[str, Any]) -> str:
    """The intent, where what a message names decides over the classifier's guess: a matter of
    the catalogue (a dog to register) asks to file it; a question about a word we use ("what is
    an activation code?") asks for help; paying "in instalments" asks for the form; and a message
    written as an activation code is a start of verification, never a "bye" the model saw in it."""
    intent = str(parse.get("intent", {}).get("name") or "out_of_scope")
    named = {found.get("entity") for found in parse.get("entities", [])}
    if MATTER_ENTITY in named:
        return "start_form"
    if TOPIC_ENTITY in named:
        return "help"
    if intent == "pay" and FORM_TYPE_SLOT in named:
        return "start_form"
    text = str(parse.get("text", "")).strip()
    if _CODE_WRITTEN.search(text) and looks_like_activation_code(text):
        return "link_account"
    return intent


def shaped_answer(parse: Mapping[str, Any], requested_slot: str | None) -> str | None:
    """The message, when it has the shape of the secret asked for: then it is the answer, whatever
    intent the classifier saw in it (a random code may look like "help" or "no" to it)."""
    text = str(parse.get("text", "")).strip()
    if requested_slot == CODE_SLOT and looks_like_activation_code(text):
        return text
    if requested_slot == IDENTIFIER_SLOT and parse_identifier(text) is not None:
        return text
    return None


def is_cancel(parse: Mapping[str, Any], requested_slot: str | None) -> bool:
    """ "anuluj" or "stop" alone; "no" at the confirmation, or "no" in two words or fewer.

    Before the confirmation, a message with a number (in digits or words) or shaped as the secret
    asked for is an answer, never a "no", whatever the classifier made of it: "N27E-95Y2" is a
    code and "dwie osoby" a count, not "nie".
    """
    text = str(parse.get("text", ""))
    if is_cancel_word(text):
        return True
    if intent_name(parse) != "deny":
        return False
    if requested_slot == CONFIRM_SLOT:
        return True
    answer_like = parse_count(text) is not None or shaped_answer(parse, requested_slot)
    return len(words(text)) <= 2 and not answer_like


def clarification(parse: Mapping[str, Any]) -> list[str]:
    """The intents to offer when the NLU fell back to out_of_scope but had a fair guess."""
    if intent_name(parse) != "out_of_scope":
        return []
    ranking = [
        entry
        for entry in parse.get("intent_ranking", [])
        if entry.get("name") in RULES and entry.get("name") not in REPLIES
    ]
    if not ranking or float(ranking[0].get("confidence", 0)) < CLARIFY_FLOOR:
        return []
    return [str(entry["name"]) for entry in ranking[:CLARIFY_CHOICES]]
