"""The administrators' audit page: filters, keyset pages, read-only, and itself audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.audit import audit
from storage.staff import Role
from tests.panel.conftest import Panel
from tests.resident_helpers import add_taxpayer


async def _fill_trail(panel: Panel) -> int:
    """120 rows over three days: two actors, two actions, one taxpayer in every third row."""
    async with panel.store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, "T-0042")
        start = datetime(2027, 5, 7, 8, 0, tzinfo=UTC)
        for number in range(120):
            await audit(
                session,
                "staff:olek" if number % 2 else "chat:telegram",
                "panel.view.case" if number % 3 == 0 else "reply.pay",
                taxpayer_id if number % 3 == 0 else None,
                {"number": number},
                start + timedelta(minutes=36 * number),
            )
        await session.commit()
    return taxpayer_id


async def test_the_trail_pages_back_newest_first(panel: Panel) -> None:
    await _fill_trail(panel)
    admin = await panel.login("anna", Role.ADMIN)
    first = await (await admin.get("/panel/audit?action=reply.pay")).text()
    assert first.count("<code>reply.pay</code>") == 50
    assert "number: 119" in first  # newest first
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert "before=" in older
    second = await (await admin.get(older.replace("&amp;", "&"))).text()
    assert second.count("<code>reply.pay</code>") == 30
    assert "number: 119" not in second
    assert 'rel="next"' not in second


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("actor=staff:olek", 60),
        ("action=panel.view", 40),
        ("taxpayer=T-0042", 40),
        ("from=2027-05-08&to=2027-05-08", 40),
        ("actor=staff:olek&taxpayer=T-0042&from=2027-05-07&to=2027-05-07", 4),
    ],
)
async def test_the_filters(panel: Panel, query: str, rows: int) -> None:
    await _fill_trail(panel)
    admin = await panel.login("anna", Role.ADMIN)
    shown = 0
    path: str | None = f"/panel/audit?{query}"
    while path:
        page = await (await admin.get(path)).text()
        shown += page.count("<tr>") - 1
        path = None
        if 'rel="next"' in page:
            path = page.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
            path = path.replace("&amp;", "&")
    assert shown == rows


async def test_an_unknown_taxpayer_or_a_bad_day_shows_nothing(panel: Panel) -> None:
    admin = await panel.login("anna", Role.ADMIN)
    unknown = await admin.get("/panel/audit?taxpayer=NOPE")
    assert unknown.status == 200
    assert "<tbody>" not in await unknown.text()
    bad = await admin.get("/panel/audit?from=2027-13-40")
    assert bad.status == 400
    assert 'aria-invalid="true"' in await bad.text()


async def test_viewing_the_trail_is_itself_audited(panel: Panel) -> None:
    taxpayer_id = await _fill_trail(panel)
    admin = await panel.login("anna", Role.ADMIN)
    await admin.get("/panel/audit")
    await admin.get("/panel/audit?taxpayer=T-0042&action=panel")
    views = await panel.audit_rows(action="panel.view.audit")
    assert [(row.actor, row.taxpayer_id) for row in views] == [
        ("staff:anna", None),
        ("staff:anna", taxpayer_id),
    ]
    assert views[1].details == {"filters": {"taxpayer": "T-0042", "action": "panel"}}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_the_trail_cannot_be_changed_from_the_panel(panel: Panel, method: str) -> None:
    await _fill_trail(panel)
    admin = await panel.login("anna", Role.ADMIN)
    before = await panel.audit_rows()
    # Without the CSRF token: refused before any route; with it: no route takes the method.
    forged = await admin.client.request(method, "/panel/audit", allow_redirects=False)
    assert forged.status == 403
    with_token = await admin.client.request(
        method,
        "/panel/audit",
        headers={"X-CSRF-Token": admin.csrf_token},
        allow_redirects=False,
    )
    assert with_token.status == 405
    assert await panel.audit_rows() == before
