"""Bank transfer titles the finance system can match a payment by.

A Polish transfer title holds 140 characters (4 lines of 35 in Elixir). A title is the taxpayer's
reference and the references of the obligations paid; a reference is never cut. What does not fit
in one title goes to another transfer: a resident paying many instalments makes one transfer per
levy, or several for one levy, each title whole.
"""

from __future__ import annotations

from collections.abc import Iterable

TITLE_LENGTH = 140


def transfer_titles(
    taxpayer_ref: str, obligation_refs: Iterable[str]
) -> list[tuple[str, list[str]]]:
    """`(title, the obligation references it names)` per transfer, references in the order given;
    each title is the taxpayer's reference followed by whole obligation references."""
    groups: list[list[str]] = []
    length = TITLE_LENGTH
    for ref in obligation_refs:
        if len(taxpayer_ref) + 1 + len(ref) > TITLE_LENGTH:
            raise ValueError(f"obligation reference {ref!r} cannot fit in a transfer title")
        if length + 1 + len(ref) > TITLE_LENGTH:
            groups.append([])
            length = len(taxpayer_ref)
        groups[-1].append(ref)
        length += 1 + len(ref)
    return [(" ".join([taxpayer_ref, *group]), group) for group in groups]
