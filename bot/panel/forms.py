"""Reading posted forms: a field's text, or empty when it is missing or a file."""

from __future__ import annotations

from collections.abc import Mapping


def form_text(form: Mapping[str, object], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
