"""actions/domain.yml agrees with the actions, the forms and the message catalogue."""

from __future__ import annotations

from typing import Any

import yaml

from actions.forms import FORMS
from actions.matters import MATTER_ENTITY, MATTERS
from bot.dialogue import build_executor
from intents import INTENTS
from intents.entities import LEXICON_PATH
from kernel.messages import MESSAGES, Plural


def test_every_action_in_the_domain_is_served_and_every_served_one_listed(
    domain: dict[str, Any],
) -> None:
    assert set(build_executor().actions) == set(domain["actions"])


def test_the_intents_are_the_contracts(domain: dict[str, Any]) -> None:
    assert domain["intents"] == list(INTENTS)


def test_case_forms_ask_their_fields_then_the_confirmation(domain: dict[str, Any]) -> None:
    for form in FORMS.values():
        assert domain["forms"][form.name]["required_slots"] == list(form.required_slots)


def test_every_form_slot_has_a_question(domain: dict[str, Any]) -> None:
    for spec in domain["forms"].values():
        for slot in spec["required_slots"]:
            assert f"action_ask_{slot}" in domain["actions"] or f"utter_ask_{slot}" in MESSAGES


def test_the_domain_responses_are_the_english_source(domain: dict[str, Any]) -> None:
    expected = {
        key: [{"text": source.plural if isinstance(source, Plural) else source}]
        for key, source in MESSAGES.items()
        if key.startswith("utter_")
    }
    assert domain["responses"] == expected


def test_every_matter_of_the_catalogue_has_its_answer_and_its_words() -> None:
    lexicon = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    assert set(lexicon[MATTER_ENTITY]) == set(MATTERS)
    for matter in MATTERS.values():
        source = MESSAGES[matter.response]
        assert isinstance(source, str)
        assert ("{fee_amount}" in source) == (matter.fee is not None), matter.name
