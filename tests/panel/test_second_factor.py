"""The second factor of approvers and admins: enrolment, codes once only, recovery codes, the
throttle, the sealed secret, `gmina staff reset-totp`, and what a clerk may not open."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from bot.cli import main
from bot.panel.auth import SECOND_FACTOR_PATH
from bot.panel.totp import SecretBox, code_at, step_of
from storage.staff import Role
from storage.staff_models import StaffMember
from tests.panel.conftest import Panel, csrf_token_of
from tests.panel_helpers import PASSWORD, SESSION_SECRET


async def _password_step(panel: Panel, name: str, role: Role) -> TestClient[Any, Any]:
    """A browser past the password, at the second factor."""
    await panel.add_staff(name, role)
    browser = await panel.browser()
    token = await panel.login_form_token(browser)
    response = await browser.post(
        "/panel/login",
        data={"username": name, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == f"{SECOND_FACTOR_PATH}?next=/panel/"
    return browser


async def _send_code(browser: TestClient[Any, Any], code: str) -> int:
    page = await browser.get(SECOND_FACTOR_PATH)
    token = csrf_token_of(await page.text())
    answer = await browser.post(
        SECOND_FACTOR_PATH, data={"code": code, "csrf_token": token}, allow_redirects=False
    )
    return answer.status


async def _staff_row(panel: Panel, name: str) -> StaffMember:
    async with panel.store.sessions() as session:
        row = await session.scalar(sa.select(StaffMember).where(StaffMember.name == name))
    assert row is not None
    return row


async def test_an_admin_enrols_at_the_first_login_and_keeps_the_secret_sealed(
    panel: Panel,
) -> None:
    browser = await _password_step(panel, "anna", Role.ADMIN)
    # Before the second factor nothing of the panel opens.
    blocked = await browser.get("/panel/", allow_redirects=False)
    assert blocked.status == 303
    assert blocked.headers["Location"] == SECOND_FACTOR_PATH
    page = await (await browser.get(SECOND_FACTOR_PATH)).text()
    assert "otpauth://totp/" in page
    assert "<svg" in page

    admin = await panel.login("anna", Role.ADMIN)
    assert (await admin.get("/panel/audit", allow_redirects=False)).status == 200
    codes = panel.recovery_codes["anna"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    row = await _staff_row(panel, "anna")
    secret = panel.authenticators.secrets["anna"]
    assert row.totp_confirmed_at is not None
    assert row.totp_secret is not None
    assert secret not in row.totp_secret
    assert SecretBox(SESSION_SECRET).open("anna", row.totp_secret) == secret
    assert SecretBox(SESSION_SECRET).open("olek", row.totp_secret) is None  # bound to the name
    assert row.recovery_code_hashes is not None
    assert all(h.startswith("$argon2id$") for h in row.recovery_code_hashes)
    assert not any(code in str(row.recovery_code_hashes) for code in codes)
    assert [r.details for r in await panel.audit_rows(action="staff.totp_enrol")] == [
        {"staff": "anna"}
    ]


async def test_every_later_login_needs_a_code_and_a_code_works_once(panel: Panel) -> None:
    await panel.login("anna", Role.APPROVER)  # enrols
    secret = panel.authenticators.secrets["anna"]
    panel.clock.advance(timedelta(seconds=30))
    code = code_at(secret, step_of(panel.clock.now()))
    first = await _password_step(panel, "anna", Role.APPROVER)
    assert await _send_code(first, code) == 303
    assert (await first.get("/panel/", allow_redirects=False)).status == 200
    replay = await _password_step(panel, "anna", Role.APPROVER)
    assert await _send_code(replay, code) == 401
    assert (await replay.get("/panel/", allow_redirects=False)).status == 303


async def test_a_wrong_code_is_refused_and_five_pause_the_account(panel: Panel) -> None:
    await panel.login("anna", Role.ADMIN)
    browser = await _password_step(panel, "anna", Role.ADMIN)
    for wrong in ("000000", "12345", "abcdef", "999999", "111111"):
        assert await _send_code(browser, wrong) == 401
    panel.clock.advance(timedelta(seconds=30))
    right = code_at(panel.authenticators.secrets["anna"], step_of(panel.clock.now()))
    assert await _send_code(browser, right) == 429
    assert (await browser.get("/panel/", allow_redirects=False)).status == 303
    assert len(await panel.audit_rows(action="panel.second_factor")) == 0


async def test_a_recovery_code_works_once(panel: Panel) -> None:
    await panel.login("anna", Role.ADMIN)
    code = panel.recovery_codes["anna"][3]
    browser = await _password_step(panel, "anna", Role.ADMIN)
    assert await _send_code(browser, code.upper().replace("-", " ")) == 303
    assert (await browser.get("/panel/", allow_redirects=False)).status == 200
    again = await _password_step(panel, "anna", Role.ADMIN)
    assert await _send_code(again, code) == 401
    row = await _staff_row(panel, "anna")
    assert row.recovery_code_hashes is not None
    assert len(row.recovery_code_hashes) == 9
    used = await panel.audit_rows(action="staff.recovery_code_used")
    assert [r.details for r in used] == [{"staff": "anna", "left": 9}]


async def test_a_clerk_needs_no_second_factor_and_may_not_open_an_admin_page(
    panel: Panel,
) -> None:
    clerk = await panel.login("olek", Role.CLERK)
    before = len(await panel.audit_rows())
    refused = await clerk.get("/panel/audit", allow_redirects=False)
    assert refused.status == 403
    assert "Brak dostępu" in await refused.text()
    assert len(await panel.audit_rows()) == before  # the refusal wrote nothing
    approver = await panel.login("beata", Role.APPROVER)
    assert (await approver.get("/panel/audit", allow_redirects=False)).status == 403
    assert "/panel/audit" not in await (await clerk.get("/panel/")).text()


async def test_reset_totp_from_the_command_line_ends_sessions_and_enrols_again(
    panel: Panel,
) -> None:
    admin = await panel.login("anna", Role.ADMIN)
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["staff", "reset-totp", "anna"],
        env={"GMINA__DATABASE__URL": panel.store.url},
    )
    assert result.exit_code == 0, result.output
    assert "anna" in result.output
    assert (await admin.get("/panel/", allow_redirects=False)).status == 303
    row = await _staff_row(panel, "anna")
    assert (row.totp_secret, row.totp_confirmed_at, row.recovery_code_hashes) == (None, None, None)
    assert [(r.actor, r.details) for r in await panel.audit_rows(action="staff.reset_totp")] == [
        ("staff:cli", {"staff": "anna"})
    ]
    browser = await _password_step(panel, "anna", Role.ADMIN)
    assert 'id="totp-secret"' in await (await browser.get(SECOND_FACTOR_PATH)).text()


async def test_reset_totp_of_nobody_is_one_line(panel: Panel) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["staff", "reset-totp", "nobody"],
        env={"GMINA__DATABASE__URL": panel.store.url},
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no staff member named 'nobody'"
