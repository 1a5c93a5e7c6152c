"""Identifiers as people write them, normalised: Polish account numbers (NRB) and phone numbers.

Shared by the finance-system import, and by what comes next: the SMS channel (a sender's number)
and bank statements (the account a credit was paid to). Each raises ValueError with a reason.
"""

from __future__ import annotations

import phonenumbers
from schwifty import IBAN
from schwifty.exceptions import InvalidBBANChecksum, InvalidChecksumDigits, SchwiftyException


def normalise_nrb(value: str) -> str:
    """A Polish account number (NRB) as 26 digits; spaces and a leading "PL" are accepted.

    Raises ValueError with the reason: the check digits (mod 97) or the bank branch code's own
    check digit are wrong.
    """
    compact = value.replace(" ", "").replace("-", "").upper().removeprefix("PL")
    if len(compact) != 26 or not (compact.isascii() and compact.isdigit()):
        raise ValueError("expected 26 digits")
    try:
        IBAN("PL" + compact, validate_bban=True)
    except InvalidChecksumDigits:
        raise ValueError("wrong check digits") from None
    except InvalidBBANChecksum:
        raise ValueError(f"no such bank branch code {compact[2:10]}") from None
    except SchwiftyException as exc:
        raise ValueError(str(exc)) from None
    return compact


def normalise_phone(value: str) -> str:
    """E.164 (`+48601234567`) from E.164 or a Polish national number; ValueError if neither."""
    try:
        number = phonenumbers.parse(value, "PL")
    except phonenumbers.NumberParseException:
        raise ValueError(value) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(value)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
