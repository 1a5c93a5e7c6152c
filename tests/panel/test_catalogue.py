"""The panel's words: every one has its Polish, with the same placeholders as the English."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from kernel.i18n import catalog_path

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def test_every_panel_message_is_translated_into_polish() -> None:
    with catalog_path("pl", "panel").open("rb") as po_file:
        catalogue = read_po(po_file, locale="pl", domain="panel")
    messages = [message for message in catalogue if message.id]
    assert messages
    for message in messages:
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else [*message.string]
        assert all(strings), f"not translated: {ids[0]!r}"
        assert "fuzzy" not in message.flags, f"fuzzy: {ids[0]!r}"
        wanted = set(_PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(_PLACEHOLDER.findall(text)) <= wanted | {"num"}, text
            assert wanted - {"num"} <= set(_PLACEHOLDER.findall(text)), text
