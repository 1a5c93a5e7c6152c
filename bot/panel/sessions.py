"""The panel's session: a signed cookie that the browser keeps and the server checks each time.

The cookie holds a `PanelSession`, signed with `panel.session_secret` (itsdangerous, HMAC-SHA256)
so that nobody can forge or alter one. Before login it carries only the CSRF token the login form
needs; a login replaces it with a new one (new token, new id) naming the staff member. Expiry is
judged on the app's clock: `idle_minutes` after the last request, `absolute_minutes` after the
login. The account itself is re-read at every request (`auth`), so disabling it, changing its
password or resetting its second factor ends its sessions at once.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from kernel.settings import PanelSettings

COOKIE = "gmina_panel"
COOKIE_PATH = "/panel/"
_SALT = "gmina.panel.session"


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class PanelSession:
    """One browser's session. `name` is None until a login; `second_factor` tells whether the
    login has passed the second factor (or the role needs none)."""

    csrf: str
    sid: str
    name: str | None = None
    begun: datetime | None = None
    seen: datetime | None = None
    # The account's credentials stamp at login (`SignedInState.credentials_stamp`): a new
    # password or a revocation since then ends the session.
    credentials: str | None = None
    second_factor: bool = False

    @classmethod
    def anonymous(cls) -> PanelSession:
        return cls(csrf=new_token(), sid=secrets.token_urlsafe(16))

    @classmethod
    def signed_in(
        cls, name: str, credentials: str, now: datetime, *, second_factor: bool
    ) -> PanelSession:
        """A fresh session for a login: a new id and CSRF token, so none seen before it lives on."""
        return cls(
            csrf=new_token(),
            sid=secrets.token_urlsafe(16),
            name=name,
            begun=now,
            seen=now,
            credentials=credentials,
            second_factor=second_factor,
        )

    def expired(self, now: datetime, settings: PanelSettings) -> bool:
        if self.begun is None or self.seen is None:
            return False
        idle = now - self.seen >= timedelta(minutes=settings.idle_minutes)
        too_old = now - self.begun >= timedelta(minutes=settings.absolute_minutes)
        return idle or too_old

    def expires_at(self, settings: PanelSettings) -> datetime | None:
        """When the session ends at the latest (its absolute expiry); None before login."""
        if self.begun is None:
            return None
        return self.begun + timedelta(minutes=settings.absolute_minutes)

    def touched(self, now: datetime) -> PanelSession:
        return dataclasses.replace(self, seen=now)

    def passed_second_factor(self) -> PanelSession:
        return dataclasses.replace(self, second_factor=True)


class SessionCodec:
    """Turns a `PanelSession` into cookie text and back; anything not signed by us is None."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT)

    def dumps(self, panel_session: PanelSession) -> str:
        data: dict[str, Any] = dataclasses.asdict(panel_session)
        for key in ("begun", "seen"):
            if data[key] is not None:
                data[key] = data[key].timestamp()
        return str(self._serializer.dumps(data))

    def loads(self, text: str) -> PanelSession | None:
        try:
            data = self._serializer.loads(text)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        try:
            for key in ("begun", "seen"):
                if data.get(key) is not None:
                    data[key] = datetime.fromtimestamp(float(data[key]), UTC)
            return PanelSession(**data)
        except (TypeError, ValueError, OverflowError):
            return None
