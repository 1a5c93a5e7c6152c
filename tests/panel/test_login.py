"""Signing in and out of the panel, the session cookie, CSRF refusals (CONTRACT: /panel/login)."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from aiohttp import ClientResponse

from bot.web import init_app
from kernel.errors import ConfigurationError
from kernel.settings import Settings, load_settings
from storage.staff import Role
from tests.conftest import Store
from tests.panel.conftest import ClientMaker, Panel, csrf_token_of
from tests.panel_helpers import PASSWORD


def _session_cookie(response: ClientResponse) -> str:
    cookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie"):
        cookie.load(header)
    return cookie["gmina_panel"].OutputString().lower()


async def test_the_login_form_carries_the_fields_of_the_contract(panel: Panel) -> None:
    browser = await panel.browser()
    response = await browser.get("/panel/login")
    assert response.status == 200
    html = await response.text()
    for field in ('name="username"', 'name="password"', 'name="csrf_token"'):
        assert field in html
    assert '<label for="username">' in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_a_good_login_answers_303_with_a_strict_http_only_cookie(panel: Panel) -> None:
    await panel.add_staff("olek", Role.CLERK)
    browser = await panel.browser()
    token = await panel.login_form_token(browser)
    response = await browser.post(
        "/panel/login",
        data={"username": "olek", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/panel/"
    cookie = _session_cookie(response)
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/panel/" in cookie
    assert "secure" not in cookie  # web.public_base_url is http:// in tests
    home = await browser.get("/panel/")
    assert home.status == 200
    assert "olek" in await home.text()
    assert [row.actor for row in await panel.audit_rows(action="panel.login")] == ["staff:olek"]


@pytest.mark.parametrize("path", ["/panel/", "/panel/handoffs", "/panel/no-such-page"])
async def test_a_page_without_a_session_answers_303_to_the_login_page(
    panel: Panel, path: str
) -> None:
    browser = await panel.browser()
    response = await browser.get(path, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/panel/login")


async def test_after_login_the_browser_returns_to_the_page_it_asked_for(panel: Panel) -> None:
    await panel.add_staff("olek", Role.CLERK)
    browser = await panel.browser()
    first = await browser.get("/panel/no-such-page", allow_redirects=False)
    assert first.headers["Location"] == "/panel/login?next=/panel/no-such-page"
    token = await panel.login_form_token(browser)
    response = await browser.post(
        "/panel/login",
        data={
            "username": "olek",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/panel/no-such-page",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/panel/no-such-page"


@pytest.mark.parametrize(
    "next_path",
    ["//evil.example/panel/", "https://evil.example/", "/pay/x", "/panel/\r\nSet-Cookie: x=1"],
)
async def test_login_never_sends_the_browser_off_the_panel(panel: Panel, next_path: str) -> None:
    await panel.add_staff("olek", Role.CLERK)
    browser = await panel.browser()
    token = await panel.login_form_token(browser)
    response = await browser.post(
        "/panel/login",
        data={"username": "olek", "password": PASSWORD, "csrf_token": token, "next": next_path},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/panel/"


@pytest.mark.parametrize(
    ("username", "password"),
    [("olek", "a wrong password"), ("nobody", PASSWORD), ("", ""), ("olek", "x" * 2000)],
    ids=["wrong-password", "unknown-name", "empty", "too-long"],
)
async def test_a_bad_login_keeps_no_session(panel: Panel, username: str, password: str) -> None:
    await panel.add_staff("olek", Role.CLERK)
    browser = await panel.browser()
    token = await panel.login_form_token(browser)
    response = await browser.post(
        "/panel/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 401
    assert "Nazwa lub hasło są nieprawidłowe." in await response.text()
    home = await browser.get("/panel/", allow_redirects=False)
    assert home.status == 303
    assert await panel.audit_rows(action="panel.login") == []


@pytest.mark.parametrize("token", [None, "", "forged-token"], ids=["missing", "empty", "wrong"])
async def test_a_login_without_the_forms_token_is_refused(panel: Panel, token: str | None) -> None:
    await panel.add_staff("olek", Role.CLERK)
    browser = await panel.browser()
    await panel.login_form_token(browser)
    data = {"username": "olek", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = await browser.post("/panel/login", data=data, allow_redirects=False)
    assert response.status == 403
    assert (await browser.get("/panel/", allow_redirects=False)).status == 303
    assert await panel.audit_rows(action="panel.login") == []


async def test_a_signed_in_post_without_the_token_is_refused_and_changes_nothing(
    panel: Panel,
) -> None:
    clerk = await panel.login("olek", Role.CLERK)
    forged = await clerk.client.post("/panel/logout", data={}, allow_redirects=False)
    assert forged.status == 403
    wrong = await clerk.client.post(
        "/panel/logout", data={"csrf_token": "not-the-token"}, allow_redirects=False
    )
    assert wrong.status == 403
    header = await clerk.client.post(
        "/panel/logout", headers={"X-CSRF-Token": "nope"}, allow_redirects=False
    )
    assert header.status == 403
    # Still signed in: the refused logouts did nothing.
    assert (await clerk.get("/panel/", allow_redirects=False)).status == 200
    assert await panel.audit_rows(action="panel.logout") == []
    signed_out = await clerk.post("/panel/logout", allow_redirects=False)
    assert signed_out.status == 303
    assert (await clerk.get("/panel/", allow_redirects=False)).status == 303


async def test_the_language_switch_and_accept_language(panel: Panel) -> None:
    browser = await panel.browser()
    polish = await browser.get("/panel/login", headers={"Accept-Language": "de, pl;q=0.5"})
    assert '<html lang="pl">' in await polish.text()
    english = await browser.get("/panel/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    html = await english.text()
    assert '<html lang="en">' in html
    token = csrf_token_of(html)
    switched = await browser.post(
        "/panel/language",
        data={"language": "pl", "next": "/panel/login", "csrf_token": token},
        allow_redirects=False,
    )
    assert switched.status == 303
    again = await browser.get("/panel/login", headers={"Accept-Language": "en"})
    assert '<html lang="pl">' in await again.text()
    assert "Zaloguj się" in await again.text()


async def test_the_panel_is_off_unless_enabled(store: Store, aiohttp_client: ClientMaker) -> None:
    client = await aiohttp_client(
        init_app(Settings.model_validate({"database": {"url": store.url}}))
    )
    assert (await client.get("/panel/login")).status == 404
    assert (await client.get("/panel/")).status == 404


def test_an_enabled_panel_needs_its_session_secret() -> None:
    with pytest.raises(ConfigurationError, match=r"^panel: session_secret must be set"):
        load_settings(environ={"GMINA__PANEL__ENABLED": "true"})
    with pytest.raises(ConfigurationError, match=r"^panel.session_secret: .*32 characters"):
        load_settings(
            environ={"GMINA__PANEL__ENABLED": "true", "GMINA__PANEL__SESSION_SECRET": "short"}
        )
