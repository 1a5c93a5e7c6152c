"""The staff panel in a real browser: signing in, the first page, keyboard use, both viewports."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from storage.staff import Role
from tests.browser.conftest import LiveServer, Screenshot, Viewport, panel_login

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_a_clerk_signs_in_and_out(
    page: Page, panel_server: LiveServer, screenshot: Screenshot
) -> None:
    await page.goto(f"{panel_server.url}/panel/", wait_until="load")
    await expect(page).to_have_url(f"{panel_server.url}/panel/login")
    await expect(page.get_by_role("heading", name="Zaloguj się")).to_be_visible()
    await screenshot(page, "panel-login")
    await panel_login(page, panel_server, "olek.clerk", Role.CLERK)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("olek.clerk")
    await expect(page.get_by_role("main")).to_be_visible()
    await expect(page.get_by_role("banner")).to_contain_text("urzędnik")
    await screenshot(page, "panel-home-clerk")
    await page.get_by_role("button", name="Wyloguj").click()
    await expect(page).to_have_url(f"{panel_server.url}/panel/login?reason=signed_out")
    await expect(page.get_by_role("status")).to_have_text("Wylogowano.")


async def test_the_skip_link_is_the_first_stop_of_the_keyboard(
    page: Page, panel_server: LiveServer
) -> None:
    await panel_login(page, panel_server, "olek.clerk", Role.CLERK)
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Przejdź do treści")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()


async def test_english_is_one_press_away(page: Page, panel_server: LiveServer) -> None:
    await page.goto(f"{panel_server.url}/panel/login", wait_until="load")
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.get_by_role("button", name="Polski").click()
    await expect(page.get_by_role("heading", name="Zaloguj się")).to_be_visible()


async def test_an_admin_enrols_the_second_factor_and_opens_the_audit_trail(
    page: Page, panel_server: LiveServer, screenshot: Screenshot, viewport: Viewport
) -> None:
    name = f"anna.admin.{viewport.name}"
    shots = iter(["panel-enrol", "panel-recovery-codes"])

    async def look(enrol_page: Page) -> None:
        await expect(enrol_page.locator("h1")).to_be_visible()
        await screenshot(enrol_page, next(shots))

    await panel_login(page, panel_server, name, Role.ADMIN, on_enrol=look)
    await expect(page.get_by_role("banner")).to_contain_text("administrator")
    await (
        page.get_by_role("navigation", name="Działy panelu")
        .get_by_role("link", name="Dziennik zdarzeń")
        .click()
    )
    await expect(page.get_by_role("heading", name="Dziennik zdarzeń")).to_be_visible()
    await page.get_by_label("Kto").fill(f"staff:{name}")
    await page.get_by_role("button", name="Pokaż").click()
    await expect(page.get_by_role("table")).to_contain_text("staff.totp_enrol")
    await screenshot(page, "panel-audit")
    # The next login asks for a code, not for enrolment.
    await page.get_by_role("button", name="Wyloguj").click()
    await panel_login(page, panel_server, name, Role.ADMIN)
    await expect(page.get_by_role("heading", level=1)).to_contain_text(name)


async def test_a_clerk_sees_no_audit_trail(page: Page, panel_server: LiveServer) -> None:
    await panel_login(page, panel_server, "olek.clerk", Role.CLERK)
    # The page itself answers 403 (tests/panel/test_second_factor.py); here: no way to it.
    await expect(page.get_by_role("link", name="Dziennik zdarzeń")).to_have_count(0)
