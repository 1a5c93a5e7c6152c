"""Rasa response dicts (what `CollectingDispatcher` collects) → text in the conversation's language.

The last guard of tax secrecy sits here: a response that would show a name, an amount, an account
or a case to a sender who is not verified is replaced by the offer to verify, and logged as the bug
it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.dialogue.messages import Button
from kernel.i18n import is_message, render

log = logging.getLogger(__name__)

# The keys of a dispatcher message that are not values of the response.
RASA_FIELDS = frozenset(
    {"text", "buttons", "elements", "custom", "template", "response", "image", "attachment"}
)
_SECRET_VALUES = frozenset({"name", "case_ref", "account"})
# Amounts set by law for everyone (a stamp duty), not a taxpayer's figures.
_PUBLIC_AMOUNTS = frozenset({"fee_amount"})


def reveals(values: Mapping[str, Any]) -> bool:
    """Whether the values carry anything covered by tax secrecy."""
    for name, value in values.items():
        if name in _PUBLIC_AMOUNTS:
            continue
        if name in _SECRET_VALUES or name == "amount" or name.endswith("_amount"):
            return True
        if name == "lines" and any(reveals(line) for line in value):
            return True
    return False


def response_values(message: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in RASA_FIELDS and v is not None}


def render_message(
    message: Mapping[str, Any], language: str, verified: bool
) -> tuple[str, tuple[Button, ...], str | None, str | None]:
    """`(text, buttons, image, response key)` of one dispatcher message."""
    key = message.get("response") or message.get("template")
    values = response_values(message)
    buttons = message.get("buttons") or []
    if key and not verified and reveals(values):
        log.error("response %s would show a taxpayer's data to an unverified sender", key)
        key, values, buttons = "utter_verify_offer", {}, []
    text = render(key, language, values) if key else str(message.get("text") or "")
    return (
        text,
        tuple(
            Button(
                title=_title(str(button.get("title", "")), language),
                payload=str(button.get("payload", "")),
            )
            for button in buttons
        ),
        message.get("image") or None,
        key,
    )


def _title(title: str, language: str) -> str:
    return render(title, language) if is_message(title) else title
