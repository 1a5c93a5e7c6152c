"""The bank QR code of a transfer (ZBP "Standard 2D" recommendation), as an SVG made by segno.

The payload is nine fields joined by `|`: the recipient's NIP (10 digits) | `PL` | the account
(26 digits) | the amount in grosze (6 digits, zero-padded) | the recipient's name (at most 20
characters) | the title (at most 32) | three reserved, empty fields; 160 characters at most. Text
fields keep letters (Polish ones included), digits, spaces and basic punctuation; anything else is
dropped, so no field can break the frame. Six digits of grosze end at 9 999,99 zł: a larger
transfer has no QR code, and the page says why.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from decimal import Decimal

import segno

from kernel.errors import InputError
from kernel.money import to_grosze_count

NAME_LENGTH = 20
TITLE_LENGTH = 32
PAYLOAD_LENGTH = 160
AMOUNT_DIGITS = 6
# The first amount six digits of grosze cannot carry.
AMOUNT_LIMIT = Decimal(10) ** AMOUNT_DIGITS / 100
_NOT_ALLOWED = re.compile(r"[^0-9A-Za-zĄĆĘŁŃÓŚŹŻąćęłńóśźż .,\-/()]")


class NotForQrCode(InputError):
    """A transfer the ZBP QR code cannot carry (an amount from 10 000 zł, a malformed number)."""


def _text(value: str, length: int) -> str:
    """Whitespace (a line break too) as one space, characters outside the set dropped, cut."""
    kept = _NOT_ALLOWED.sub("", " ".join(value.split()))
    return " ".join(kept.split())[:length].rstrip()


@dataclass(frozen=True)
class QrTransfer:
    nip: str
    account: str
    amount: Decimal
    recipient: str
    title: str


def fits_qr(amount: Decimal) -> bool:
    return Decimal(0) < amount < AMOUNT_LIMIT


def zbp_payload(transfer: QrTransfer) -> str:
    """The exact field string the QR code carries; `NotForQrCode` when it cannot."""
    if not re.fullmatch(r"\d{10}", transfer.nip):
        raise NotForQrCode("the recipient's NIP must be 10 digits")
    if not re.fullmatch(r"\d{26}", transfer.account):
        raise NotForQrCode("the account must be a 26-digit NRB")
    if not fits_qr(transfer.amount):
        raise NotForQrCode(f"the amount must be above 0 and below {AMOUNT_LIMIT} zł")
    fields = [
        transfer.nip,
        "PL",
        transfer.account,
        f"{to_grosze_count(transfer.amount):0{AMOUNT_DIGITS}d}",
        _text(transfer.recipient, NAME_LENGTH),
        _text(transfer.title, TITLE_LENGTH),
        "",
        "",
        "",
    ]
    payload = "|".join(fields)
    if len(payload) > PAYLOAD_LENGTH:  # 9 + 2 + 26 + 6 + 20 + 32 + 8 separators: never
        raise NotForQrCode("the payload is longer than 160 characters")
    return payload


# Drawing a code takes tens of milliseconds of CPU (segno tries all eight masks): a resident who
# opens their page again, or a link opened by several people, draws it once per process.
@functools.lru_cache(maxsize=1024)
def qr_svg(payload: str) -> str:
    """An inline SVG of the payload (error correction M, as banks' apps read it best)."""
    code = segno.make_qr(payload, error="m", boost_error=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True, omitsize=True)
    return out.getvalue().decode("utf-8")
