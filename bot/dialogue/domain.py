"""The Rasa domain (`actions/domain.yml`) as the engine reads it: slots, mappings and forms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

import actions

DOMAIN_PATH = Path(actions.__file__).with_name("domain.yml")
# Rasa adds this slot to every domain with forms; it names the question a form is asking.
REQUESTED_SLOT = "requested_slot"


@dataclass(frozen=True)
class Domain:
    data: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path = DOMAIN_PATH) -> Domain:
        with path.open(encoding="utf-8") as domain_file:
            return cls(yaml.safe_load(domain_file))

    @cached_property
    def intents(self) -> frozenset[str]:
        return frozenset(self.data.get("intents", []))

    @cached_property
    def entities(self) -> frozenset[str]:
        return frozenset(self.data.get("entities", []))

    @cached_property
    def slots(self) -> Mapping[str, Mapping[str, Any]]:
        slots: Mapping[str, Mapping[str, Any]] = self.data.get("slots", {})
        return slots

    @cached_property
    def forms(self) -> Mapping[str, tuple[str, ...]]:
        return {
            name: tuple(spec.get("required_slots", []))
            for name, spec in (self.data.get("forms") or {}).items()
        }

    def initial_slots(self) -> dict[str, Any]:
        initial = {name: spec.get("initial_value") for name, spec in self.slots.items()}
        initial[REQUESTED_SLOT] = None
        return initial

    def is_form(self, name: str) -> bool:
        return name in self.forms

    def required_slots(self, form: str) -> tuple[str, ...]:
        return self.forms[form]
