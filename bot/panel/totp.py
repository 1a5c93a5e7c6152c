"""The second factor's pieces: TOTP codes (RFC 6238, pyotp), secrets sealed at rest, recovery
codes, and the enrolment QR code.

A secret is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from
`panel.session_secret`, with the staff name as associated data, so a sealed secret copied to
another account does not open. Changing `panel.session_secret` therefore makes every enrolled
second factor unreadable: each approver and admin is then reset (`gmina staff reset-totp`).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
from datetime import datetime

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

STEP_SECONDS = 30
# A code from the step before or after also passes: phones' clocks drift a little.
DRIFT_STEPS = 1
RECOVERY_CODES = 10
# No 0/o, 1/l/i: a code written on paper reads back one way.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_SEALED_PREFIX = "v1:"
_HKDF_INFO = b"gmina-assistant panel: TOTP secrets at rest"
_SIX_DIGITS = re.compile(r"^[0-9]{6}$")


class SecretBox:
    """Seals and opens TOTP secrets with the key derived from the panel's session secret."""

    def __init__(self, session_secret: str) -> None:
        key = HKDF(algorithm=SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            session_secret.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, name: str, secret: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), name.encode())
        return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, name: str, sealed: str) -> str | None:
        """The secret, or None when it was not sealed for `name` under this key."""
        if not sealed.startswith(_SEALED_PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(_SEALED_PREFIX))
            return self._aead.decrypt(raw[:12], raw[12:], name.encode()).decode()
        except (InvalidTag, ValueError):
            return None


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps take them."""
    return pyotp.random_base32()


def grouped(secret: str) -> str:
    """`ABCD EFGH …`: easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, name: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code for an authenticator app's camera."""
    return str(segno.make_qr(uri, error="m").svg_inline(scale=4, omitsize=True))


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * STEP_SECONDS)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code `code` is (now, or one step either side), else None."""
    code = "".join(code.split())
    if not _SIX_DIGITS.match(code):
        return None
    current = step_of(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten one-time codes like `k7m2q-x9rtd` (about 49 bits each)."""
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]


def normalise_recovery_code(text: str) -> str:
    """As typed (`K7M2Q X9RTD`, `k7m2qx9rtd`) to the stored form `k7m2q-x9rtd`."""
    letters = "".join(ch for ch in text.lower() if ch.isalnum())
    return f"{letters[:5]}-{letters[5:]}" if len(letters) == 10 else letters
