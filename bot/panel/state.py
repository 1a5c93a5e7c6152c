"""What a panel request carries: the room's shared parts, the session, the staff member.

Kept apart from `auth` so that `render` can read them without importing the guards that use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.panel.sessions import PanelSession, SessionCodec
from bot.panel.totp import SecretBox
from kernel.settings import Settings
from storage.staff import Role, Staff

ROLE_RANK = {Role.CLERK: 0, Role.APPROVER: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class NavItem:
    """A feature's entry in the panel's navigation: its page, its label (an English msgid marked
    with `render.N_`, translated when shown) and the least role that may open it."""

    path: str
    label: str
    role: Role = Role.CLERK


@dataclass(frozen=True)
class PanelRoom:
    """What the panel's routes share: the settings, the cookie codec, the key that seals TOTP
    secrets, the features' navigation."""

    settings: Settings
    codec: SessionCodec
    secrets: SecretBox
    nav: tuple[NavItem, ...] = ()

    def visible_nav(self, staff: Staff) -> list[NavItem]:
        return [item for item in self.nav if may(staff, item.role)]

    @property
    def secure_cookie(self) -> bool:
        return self.settings.web.public_base_url.startswith("https://")


PANEL = web.AppKey("panel", PanelRoom)
SESSION = web.RequestKey("panel_session", PanelSession)
STAFF = web.RequestKey("panel_staff", Staff)


def signed_in_staff(request: web.Request) -> Staff | None:
    """The staff member of this request, or None on a public page before login."""
    staff: Staff | None = request.get(STAFF)
    return staff


def may(staff: Staff, role: Role) -> bool:
    """Whether `staff` holds `role` or a higher one (clerk < approver < admin)."""
    return ROLE_RANK[staff.role] >= ROLE_RANK[role]
