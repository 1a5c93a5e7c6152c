"""The staff panel under test: the real app with the panel on, on both engines, a frozen clock.

    async def test_something(panel: Panel) -> None:
        clerk = await panel.login("olek", Role.CLERK)       # a StaffClient, signed in
        page = await clerk.get("/panel/")                    # follows redirects like a browser
        answer = await clerk.post("/panel/x", {"note": "…"}) # the CSRF token added
        assert len(await panel.audit_rows(action="panel.view.handoff")) == 1

`panel.login(name, role)` adds the account when it does not exist (password `PASSWORD`) and signs
in through the login form, passing the second factor for an approver or admin (enrolling it the
first time: `panel.authenticators` keeps each secret, `panel.recovery_codes` the codes shown);
each StaffClient is a browser of its own (its own cookies). `panel.browser()` is one with no
session yet. A second code in the same 30-second step moves `panel.clock` on by a step.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import ClientResponse, web
from aiohttp.test_utils import BaseTestServer, TestClient

from bot.panel.auth import SECOND_FACTOR_PATH
from bot.panel.second_factor import ENROL_PATH
from bot.web import init_app
from kernel.clock import FrozenClock
from storage.conversation_models import AuditEntry
from storage.staff import Role
from tests.conftest import Store
from tests.panel_helpers import (
    PASSWORD,
    Authenticators,
    ensure_staff,
    panel_settings,
    secret_on_enrol_page,
)

# Monday 10 May 2027, noon in Warsaw.
NOW = datetime(2027, 5, 10, 10, 0, tzinfo=UTC)
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
RECOVERY_CODE = re.compile(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>")

ClientMaker = Callable[..., Awaitable[TestClient[Any, Any]]]
FormData = Mapping[str, str] | list[tuple[str, str]]


def csrf_token_of(html: str) -> str:
    """The CSRF token a panel page carries in its `<meta name="csrf-token">`."""
    found = _CSRF_META.search(html)
    if found is None:
        raise AssertionError("the page carries no CSRF token")
    return found.group(1)


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    taxpayer_id: int | None
    details: dict[str, Any]


@dataclass
class StaffClient:
    """One browser of a staff member: its own cookies, the session's CSRF token."""

    client: TestClient[Any, Any]
    name: str
    role: Role
    csrf_token: str

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.client.get(path, **kwargs)

    async def post(self, path: str, data: FormData | None = None, **kwargs: Any) -> ClientResponse:
        """Post a form with the session's CSRF token added."""
        fields = list(data.items()) if isinstance(data, Mapping) else list(data or [])
        fields.append(("csrf_token", self.csrf_token))
        return await self.client.post(path, data=fields, **kwargs)

    async def refresh_token(self) -> str:
        """Read the token again (after a login, a second factor, or a new session)."""
        response = await self.client.get("/panel/login", allow_redirects=True)
        self.csrf_token = csrf_token_of(await response.text())
        return self.csrf_token


@dataclass
class Panel:
    store: Store
    app: web.Application
    clock: FrozenClock
    server: BaseTestServer
    make_client: ClientMaker
    authenticators: Authenticators = field(default_factory=Authenticators)
    recovery_codes: dict[str, list[str]] = field(default_factory=dict)

    async def browser(self) -> TestClient[Any, Any]:
        """A new browser with no cookies."""
        return await self.make_client(self.server)

    async def add_staff(self, name: str, role: Role, password: str = PASSWORD) -> None:
        await ensure_staff(self.store.sessions, name, role, self.clock.now(), password)

    async def login_form_token(self, client: TestClient[Any, Any]) -> str:
        response = await client.get("/panel/login")
        assert response.status == 200, response.status
        return csrf_token_of(await response.text())

    async def login(self, name: str, role: Role, password: str = PASSWORD) -> StaffClient:
        """Sign `name` in (adding the account first if needed) in a new browser."""
        await self.add_staff(name, role, password)
        client = await self.browser()
        token = await self.login_form_token(client)
        response = await client.post(
            "/panel/login",
            data={"username": name, "password": password, "csrf_token": token},
            allow_redirects=False,
        )
        assert response.status == 303, f"login of {name} answered {response.status}"
        if response.headers["Location"].startswith(SECOND_FACTOR_PATH):
            await self.pass_second_factor(client, name)
        signed_in = StaffClient(client, name, role, "")
        home = await client.get("/panel/")
        assert home.status == 200, f"{name} cannot open /panel/ after login: {home.status}"
        signed_in.csrf_token = csrf_token_of(await home.text())
        return signed_in

    async def pass_second_factor(self, client: TestClient[Any, Any], name: str) -> None:
        """Enrol (the first time) or type the app's current code, as the staff member would."""
        page = await client.get(SECOND_FACTOR_PATH)
        html = await page.text()
        token = csrf_token_of(html)
        if 'id="totp-secret"' in html:
            self.authenticators.secrets[name] = secret_on_enrol_page(html)
            code = self.authenticators.code(name, self.clock)
            enrolled = await client.post(
                ENROL_PATH, data={"code": code, "csrf_token": token}, allow_redirects=False
            )
            assert enrolled.status == 200, f"enrolment of {name} answered {enrolled.status}"
            self.recovery_codes[name] = RECOVERY_CODE.findall(await enrolled.text())
            return
        code = self.authenticators.code(name, self.clock)
        passed = await client.post(
            SECOND_FACTOR_PATH, data={"code": code, "csrf_token": token}, allow_redirects=False
        )
        assert passed.status == 303, f"the second factor of {name} answered {passed.status}"

    async def audit_rows(
        self,
        *,
        action: str | None = None,
        action_prefix: str | None = None,
        actor: str | None = None,
        taxpayer_id: int | None = None,
    ) -> list[AuditRow]:
        """The audit trail's rows matching every filter given, oldest first."""
        query = sa.select(AuditEntry).order_by(AuditEntry.id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if action_prefix is not None:
            query = query.where(AuditEntry.action.startswith(action_prefix))
        if actor is not None:
            query = query.where(AuditEntry.actor == actor)
        if taxpayer_id is not None:
            query = query.where(AuditEntry.taxpayer_id == taxpayer_id)
        async with self.store.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [
            AuditRow(row.at, row.actor, row.action, row.taxpayer_id, dict(row.details))
            for row in rows
        ]


async def open_panel(
    store: Store, aiohttp_client: ClientMaker, **sections: Mapping[str, Any]
) -> Panel:
    """The app with the panel on over `store`, with other settings (`panel_settings`)."""
    clock = FrozenClock(NOW)
    app = init_app(panel_settings(store.url, **sections), clock=clock)
    first = await aiohttp_client(app)
    return Panel(store, app, clock, first.server, aiohttp_client)


@pytest.fixture
async def panel(store: Store, aiohttp_client: ClientMaker) -> Panel:
    return await open_panel(store, aiohttp_client)
