"""Slot values from one parsed message, by the domain's Rasa 3 slot mappings.

Supported mapping types: `from_entity`, `from_text`, `from_intent` (and `custom`, which only
actions or the engine fill), with `intent` / `not_intent` and `conditions` on the active form and
the slot it asks for, as Rasa's `action_extract_slots` reads them. One difference: `not_intent`
holds only when the NLU is fairly sure of the intent, so that a free-text answer ("do kredytu w
banku") is not taken for a request the model merely leans to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from bot.dialogue.domain import Domain
from bot.dialogue.state import DialogueState


def _names(value: Any) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


NOT_INTENT_CONFIDENCE = 0.6


def _applies(
    mapping: Mapping[str, Any], state: DialogueState, intent: str, confidence: float
) -> bool:
    if intent in _names(mapping.get("not_intent")) and confidence >= NOT_INTENT_CONFIDENCE:
        return False
    wanted = _names(mapping.get("intent"))
    if wanted and intent not in wanted:
        return False
    conditions = mapping.get("conditions")
    if not conditions:
        return True
    return any(
        condition.get("active_loop") == state.active_loop_name
        and (
            "requested_slot" not in condition or condition["requested_slot"] == state.requested_slot
        )
        for condition in conditions
    )


def _value(mapping: Mapping[str, Any], parse: Mapping[str, Any]) -> Any:
    kind = mapping.get("type")
    if kind == "from_entity":
        return next(
            (
                found.get("value")
                for found in parse.get("entities", [])
                if found.get("entity") == mapping.get("entity")
            ),
            None,
        )
    if kind == "from_text":
        return parse.get("text") or None
    if kind == "from_intent":
        return mapping.get("value")
    return None


def extract_slots(
    domain: Domain,
    state: DialogueState,
    parse: Mapping[str, Any],
    only: Collection[str] | None = None,
) -> dict[str, Any]:
    """Each slot's value from the first of its mappings that applies and finds one."""
    intent = str(parse.get("intent", {}).get("name") or "")
    confidence = float(parse.get("intent", {}).get("confidence") or 0.0)
    found: dict[str, Any] = {}
    for slot, spec in domain.slots.items():
        if only is not None and slot not in only:
            continue
        for mapping in spec.get("mappings", []):
            if not _applies(mapping, state, intent, confidence):
                continue
            value = _value(mapping, parse)
            if value is not None:
                found[slot] = value
                break
    return found
