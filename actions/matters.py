"""Matters the chat cannot file: what the city offers for them (the catalogue in matters.yml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions import services

MATTERS_PATH = Path(__file__).with_name("matters.yml")
MATTER_ENTITY = "matter"


@dataclass(frozen=True)
class Matter:
    name: str
    # A fee set by law (złoty), public knowledge and shown to anyone.
    fee: str | None

    @property
    def response(self) -> str:
        return f"utter_matter_{self.name}"


def load_matters(path: Path = MATTERS_PATH) -> dict[str, Matter]:
    with path.open(encoding="utf-8") as catalogue:
        entries = yaml.safe_load(catalogue)
    return {
        name: Matter(name, None if spec.get("fee") is None else str(spec["fee"]))
        for name, spec in entries.items()
    }


MATTERS = load_matters()


def tell_office_contact(dispatcher: CollectingDispatcher) -> None:
    city = services.current().settings.city
    dispatcher.utter_message(
        response="utter_office_contact",
        office=city.office_name,
        address=city.recipient_address,
        office_hours=city.office_hours,
        office_phone=city.office_phone,
    )


def tell_matter(dispatcher: CollectingDispatcher, matter: Matter) -> None:
    """Where and how the city takes the matter, by when, at what fee; then the office's contact."""
    dispatcher.utter_message(response=matter.response, fee_amount=matter.fee)
    tell_office_contact(dispatcher)
