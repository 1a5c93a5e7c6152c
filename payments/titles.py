"""Bank transfer titles the finance system can match a payment by.

A Polish transfer title holds 140 characters (4 lines of 35 in Elixir). A title is the taxpayer's
reference and the references of the obligations paid; a reference is never cut. What does not fit
in one title goes to another transfer: a resident paying many instalments makes one transfer per
levy, or several for one levy, each title whole. `plan_transfers` is the one rule that the chat,
the payment page, its QR code and the e-mail take their transfers from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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


# The ZBP bank QR code carries a title of at most 32 characters.
QR_TITLE_LENGTH = 32


@dataclass(frozen=True)
class Transfer:
    """One bank transfer: its title, what it pays and how much."""

    title: str
    obligation_refs: tuple[str, ...]
    amount: Decimal


def plan_transfers(taxpayer_ref: str, rows: Sequence[Mapping[str, Any]]) -> list[Transfer]:
    """The transfers that pay these rows (`gmina balance --json` obligations: `obligation_ref`,
    `kind`, `total`): one when every reference fits in its title; else one per levy, or more
    when a levy's references do not fit in one title. The chat, the payment page, the QR code
    and the e-mail all take their titles from here."""
    refs = [str(row["obligation_ref"]) for row in rows]
    groups: list[list[Mapping[str, Any]]] = [list(rows)]
    if len(transfer_titles(taxpayer_ref, refs)) > 1:
        by_kind: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            by_kind.setdefault(str(row["kind"]), []).append(row)
        groups = list(by_kind.values())
    transfers: list[Transfer] = []
    for group in groups:
        by_ref = {str(row["obligation_ref"]): row for row in group}
        for title, named in transfer_titles(taxpayer_ref, by_ref):
            amount = sum((Decimal(by_ref[ref]["total"]) for ref in named), Decimal(0))
            transfers.append(Transfer(title, tuple(named), amount))
    return transfers


def qr_title(transfer: Transfer, taxpayer_ref: str) -> str:
    """The title a QR code carries: the transfer's own when it fits in 32 characters, else the
    taxpayer's reference alone (the individual account names the payer, and the ledger pays
    what is due first, OP art. 62 §1, which is what a link to pay now names)."""
    return transfer.title if len(transfer.title) <= QR_TITLE_LENGTH else taxpayer_ref
