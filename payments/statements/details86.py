"""Our reader of the `:86:` field of Polish MT940 statements.

The `mt-940` package reads the frame, but its `:86:` processor expects the German `?NN`
subfields. Polish banks write a 3-digit transaction code followed by subfields `<NN`, `^NN` or
`+NN` (one separator per bank; `~NN` is read too), the value running to the next separator:

    020<00PRZELEW PRZYCHODZACY<10...<20PODATEK OD NIER<21UCHOMOSCI RATA 1<27JAN KOWALSKI
    <28UL. DLUGA 1<29RUDA SLASKA<3010901014<310000000123456789<38PL61109010140000071219812874

Subfields: `00` the operation, `10` the bank's own number of the operation, `20`–`26` the
transfer title, `27`–`29` and `32`–`33` the counterparty's name and address, `30` + `31` the
counterparty's bank and account, `38` the IBAN of the account the money was paid to (the
taxpayer's individual account, where the bank runs individual accounts), `60`–`63` more
details. The bank breaks the field into lines of 65 characters anywhere, even inside a
subfield: the lines are joined before it is split. A `:86:` without the code and a separator
is free text, taken whole as the title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The code, then the separator the bank uses, known from the character right after the code.
_STRUCTURED = re.compile(r"(?P<code>\d{3})(?P<sep>[<^+~])(?=\d\d)")
_TITLE = ("20", "21", "22", "23", "24", "25", "26")
_COUNTERPARTY = ("27", "28", "29", "32", "33")


@dataclass(frozen=True)
class Details86:
    """What one `:86:` says; empty strings where a subfield is absent."""

    code: str = ""
    separator: str = ""
    subfields: dict[str, str] = field(default_factory=dict)
    title: str = ""
    counterparty: str = ""
    # The payer's account: `<38`'s counterpart `<30` + `<31` (bank code and account).
    counterparty_account: str = ""
    # `<38`: the account the money was paid to.
    credited_account: str = ""
    operation_ref: str = ""


def _joined(subfields: dict[str, str], keys: tuple[str, ...], glue: str) -> str:
    return " ".join(glue.join(subfields.get(key, "") for key in keys).split())


def read_details(text: str) -> Details86:
    """The subfields of a `:86:` value (its lines as the bank broke them)."""
    joined = "".join(line.rstrip("\r") for line in text.split("\n"))
    found = _STRUCTURED.match(joined)
    if found is None:
        return Details86(title=" ".join(joined.split()))
    separator = found["sep"]
    subfields: dict[str, str] = {}
    for chunk in joined[found.end() :].split(separator):
        key, value = chunk[:2], chunk[2:]
        if len(key) == 2 and key.isdigit():
            # A repeated key (a long title in some banks) continues the first.
            subfields[key] = subfields.get(key, "") + value
        elif subfields:
            # The separator character inside a value: put it back.
            last = next(reversed(subfields))
            subfields[last] += separator + chunk
    return Details86(
        code=found["code"],
        separator=separator,
        subfields=subfields,
        # The title's subfields are the lines of a 4 × 35 title, cut anywhere: glued as they are.
        title=_joined(subfields, _TITLE, ""),
        counterparty=_joined(subfields, _COUNTERPARTY, " "),
        counterparty_account=(subfields.get("30", "") + subfields.get("31", "")).replace(" ", ""),
        credited_account=subfields.get("38", "").replace(" ", ""),
        operation_ref=subfields.get("10", "").strip(),
    )
