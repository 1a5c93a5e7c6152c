"""Refusals of the panel (issue 11): throttled logins, expired and ended sessions, roles. Each
refusal is checked to leave nothing behind: no session, no audit row, no changed account."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from storage.panel_models import PanelLoginFailure
from storage.staff import Role, disable_staff, set_password
from tests.conftest import Store
from tests.panel.conftest import ClientMaker, Panel, open_panel
from tests.panel_helpers import PASSWORD

WRONG = "not the password at all"


async def _try_login(panel: Panel, name: str, password: str, **headers: str) -> tuple[int, str]:
    browser = await panel.browser()
    token = await panel.login_form_token(browser)
    response = await browser.post(
        "/panel/login",
        data={"username": name, "password": password, "csrf_token": token},
        headers=headers,
        allow_redirects=False,
    )
    home = await browser.get("/panel/", allow_redirects=False)
    return response.status, (await response.text()) if home.status != 200 else "SIGNED-IN"


async def _failures(panel: Panel) -> int:
    async with panel.store.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(PanelLoginFailure))
    return int(count or 0)


async def test_five_wrong_passwords_pause_the_account_even_for_the_right_one(
    panel: Panel,
) -> None:
    await panel.add_staff("olek", Role.CLERK)
    for _ in range(5):
        assert (await _try_login(panel, "olek", WRONG))[0] == 401
    status, page = await _try_login(panel, "olek", PASSWORD)
    assert status == 429
    assert "Zbyt wiele nieudanych prób" in page
    assert "15 min" in page
    # The refused attempt was not even counted, and nobody signed in.
    assert await _failures(panel) == 5
    assert await panel.audit_rows(action="panel.login") == []
    panel.clock.advance(timedelta(minutes=15))
    assert (await _try_login(panel, "olek", PASSWORD))[0] == 303
    # A good login forgets the account's failures.
    assert await _failures(panel) == 0


async def test_four_wrong_passwords_do_not_pause(panel: Panel) -> None:
    await panel.add_staff("olek", Role.CLERK)
    for _ in range(4):
        assert (await _try_login(panel, "olek", WRONG))[0] == 401
    assert await _try_login(panel, "olek", PASSWORD) == (303, "SIGNED-IN")


async def test_an_address_guessing_many_names_is_paused(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    panel = await open_panel(store, aiohttp_client, panel={"address_failures": 3})
    await panel.add_staff("olek", Role.CLERK)
    for name in ("anna", "beata", "cezary"):
        assert (await _try_login(panel, name, WRONG))[0] == 401
    assert (await _try_login(panel, "olek", PASSWORD))[0] == 429


async def test_an_idle_session_expires(panel: Panel) -> None:
    clerk = await panel.login("olek", Role.CLERK)
    panel.clock.advance(timedelta(minutes=29))
    assert (await clerk.get("/panel/", allow_redirects=False)).status == 200
    panel.clock.advance(timedelta(minutes=29))  # 29 minutes since the last request: still on
    assert (await clerk.get("/panel/", allow_redirects=False)).status == 200
    panel.clock.advance(timedelta(minutes=30))
    expired = await clerk.get("/panel/", allow_redirects=False)
    assert expired.status == 303
    assert expired.headers["Location"] == "/panel/login?reason=expired"
    assert (await clerk.get("/panel/", allow_redirects=False)).status == 303


async def test_a_busy_session_still_ends_at_its_absolute_expiry(panel: Panel) -> None:
    clerk = await panel.login("olek", Role.CLERK)
    for _ in range(23):  # 23 × 25 minutes = 575 minutes, each within the idle limit
        panel.clock.advance(timedelta(minutes=25))
        assert (await clerk.get("/panel/", allow_redirects=False)).status == 200
    panel.clock.advance(timedelta(minutes=25))  # 600 minutes since the login
    ended = await clerk.get("/panel/", allow_redirects=False)
    assert ended.status == 303
    assert ended.headers["Location"] == "/panel/login?reason=expired"


async def test_disabling_an_account_ends_its_live_session_and_its_logins(panel: Panel) -> None:
    clerk = await panel.login("olek", Role.CLERK)
    async with panel.store.sessions() as session:
        await disable_staff(session, "olek", actor="staff:cli", now=panel.clock.now())
        await session.commit()
    ended = await clerk.get("/panel/", allow_redirects=False)
    assert ended.status == 303
    assert ended.headers["Location"] == "/panel/login?reason=ended"
    assert (await _try_login(panel, "olek", PASSWORD))[0] == 401
    assert [row.actor for row in await panel.audit_rows(action="panel.login")] == ["staff:olek"]


async def test_a_new_password_ends_the_sessions_begun_before_it(panel: Panel) -> None:
    clerk = await panel.login("olek", Role.CLERK)
    panel.clock.advance(timedelta(minutes=1))
    async with panel.store.sessions() as session:
        await set_password(
            session, "olek", "A brand new password 2", actor="staff:cli", now=panel.clock.now()
        )
        await session.commit()
    assert (await clerk.get("/panel/", allow_redirects=False)).status == 303
    again = await panel.login("olek", Role.CLERK, password="A brand new password 2")
    assert (await again.get("/panel/", allow_redirects=False)).status == 200


async def test_after_logout_a_copy_of_the_cookie_no_longer_works(panel: Panel) -> None:
    clerk = await panel.login("olek", Role.CLERK)
    copy = await panel.browser()
    copy.session.cookie_jar.update_cookies(
        {c.key: c.value for c in clerk.client.session.cookie_jar}, clerk.client.make_url("/panel/")
    )
    assert (await copy.get("/panel/", allow_redirects=False)).status == 200
    assert (await clerk.post("/panel/logout", allow_redirects=False)).status == 303
    assert (await copy.get("/panel/", allow_redirects=False)).status == 303


async def test_a_forged_or_altered_cookie_is_no_session(panel: Panel) -> None:
    clerk = await panel.login("olek", Role.CLERK)
    value = next(c.value for c in clerk.client.session.cookie_jar if c.key == "gmina_panel")
    forged = await panel.browser()
    forged.session.cookie_jar.update_cookies(
        {"gmina_panel": value[:-3] + "AAA"}, forged.make_url("/panel/")
    )
    assert (await forged.get("/panel/", allow_redirects=False)).status == 303
