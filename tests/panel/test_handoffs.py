"""The panel's hand-offs: inbox, ticket page, take / answer / close, on both engines."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta

import sqlalchemy as sa

from kernel.i18n import format_money, render
from storage.handoffs import (
    INBOX_PAGE,
    add_resident_message,
    create_handoff_ticket,
    ticket,
    ticket_messages,
)
from storage.outbox_models import OutboxMessage
from storage.staff import Role
from tests.conversation_helpers import add_resident, gmina_balance_json
from tests.panel.conftest import NOW, Panel, StaffClient
from tests.resident_helpers import PESEL

ANSWER_KEY = re.compile(r'name="answer_key" value="([0-9a-f]{32})"')
NEWER = re.compile(r'<a href="(/panel/handoffs\?after=[^"]+)">')


async def _handoff(
    panel: Panel,
    sender: str,
    *,
    verified: bool = True,
    minutes_ago: int = 30,
    channel: str = "sms",
    language: str = "pl",
) -> tuple[str, int | None]:
    taxpayer_id = await add_resident(panel.store) if verified else None
    turns = [
        {"from": "resident", "text": f"Mój PESEL {PESEL}, kod ABCD-EFGH", "at": NOW.isoformat()},
        {"from": "assistant", "text": "Przekazałem rozmowę.", "at": NOW.isoformat()},
    ]
    async with panel.store.sessions() as session:
        ref = await create_handoff_ticket(
            session,
            channel,
            sender,
            taxpayer_id,
            turns,
            NOW - timedelta(minutes=minutes_ago),
            language=language,
        )
        await session.commit()
    return ref, taxpayer_id


async def _outbox(panel: Panel) -> list[tuple[str, str, str, str]]:
    async with panel.store.sessions() as session:
        rows = await session.execute(
            sa.select(
                OutboxMessage.key,
                OutboxMessage.recipient,
                OutboxMessage.category,
                OutboxMessage.content,
            ).order_by(OutboxMessage.id)
        )
        return [
            (key, recipient, category, content["text"])
            for key, recipient, category, content in rows
        ]


async def _page(clerk: StaffClient, path: str, status: int = 200) -> str:
    response = await clerk.get(path)
    body = await response.text()
    assert response.status == status, body
    return body


async def test_the_inbox_lists_open_tickets_oldest_first_masked_and_audited(panel: Panel) -> None:
    newer, taxpayer_id = await _handoff(panel, "+48600000001", minutes_ago=5)
    older, _ = await _handoff(
        panel, "tg-1", verified=False, minutes_ago=125, channel="telegram", language="uk"
    )
    clerk = await panel.login("olek", Role.CLERK)
    body = await _page(clerk, "/panel/handoffs")
    assert body.index(older) < body.index(newer)
    assert PESEL not in body
    assert "ABCD-EFGH" not in body
    assert "Mój PESEL ***, kod ***" in body
    assert "ukraiński" in body  # the language, in the panel's language
    assert "2 godziny" in body  # the older one's waiting time
    views = await panel.audit_rows(action="panel.view.handoff_inbox")
    # One row per taxpayer shown; the unverified chat is no taxpayer's.
    assert [(row.actor, row.taxpayer_id) for row in views] == [("staff:olek", taxpayer_id)]


async def test_the_inbox_pages_on_after_the_last_ticket_shown(panel: Panel) -> None:
    async with panel.store.sessions() as session:
        for number in range(INBOX_PAGE + 1):
            at = NOW - timedelta(minutes=INBOX_PAGE + 1 - number)
            await create_handoff_ticket(session, "sms", f"+4860000{number:04d}", None, [], at)
        await session.commit()
    clerk = await panel.login("olek", Role.CLERK)
    first = await _page(clerk, "/panel/handoffs")
    assert first.count('<th scope="row"><a href="/panel/handoffs/ZG-') == INBOX_PAGE
    newer = NEWER.search(first)
    assert newer is not None
    second = await _page(clerk, html.unescape(newer.group(1)))
    assert second.count('<th scope="row"><a href="/panel/handoffs/ZG-') == 1
    assert "ZG-2027-000051" in second
    assert NEWER.search(second) is None


async def test_a_clerk_takes_answers_and_closes_and_the_resident_gets_both_once(
    panel: Panel,
) -> None:
    ref, taxpayer_id = await _handoff(panel, "+48600000001")
    clerk = await panel.login("olek", Role.CLERK)
    page = await _page(clerk, f"/panel/handoffs/{ref}")
    # The balance as `gmina balance` computes it.
    total = (await gmina_balance_json(panel.store))["total"]
    assert format_money(total, "pl") in page
    assert "Anna Nowak" in page
    assert 'name="text"' not in page  # not taken yet: no answer form

    taken = await clerk.post(f"/panel/handoffs/{ref}/take")
    assert taken.status == 200
    page = await taken.text()
    key = ANSWER_KEY.search(page)
    assert key is not None
    form = {"text": "Dzień dobry, sprawdzę to.", "answer_key": key.group(1)}
    first, second = await asyncio.gather(
        clerk.post(f"/panel/handoffs/{ref}/answer", form),
        clerk.post(f"/panel/handoffs/{ref}/answer", form),
    )
    assert (first.status, second.status) == (200, 200)
    answer_text = render(
        "handoff_staff_answer", "pl", {"ticket_ref": ref, "text": "Dzień dobry, sprawdzę to."}
    )
    assert await _outbox(panel) == [
        (f"sms:staff:{ref}:1", "+48600000001", "handoff_reply", answer_text)
    ]

    async with panel.store.sessions() as session:
        await add_resident_message(session, "sms", "+48600000001", "Dziękuję!", "sms:SM1", NOW)
        await session.commit()
    page = await _page(clerk, f"/panel/handoffs/{ref}")
    assert page.index("Dzień dobry, sprawdzę to.") < page.index("Dziękuję!")

    closed = await clerk.post(f"/panel/handoffs/{ref}/close")
    assert closed.status == 200
    await clerk.post(f"/panel/handoffs/{ref}/close")
    notice = render("handoff_closed", "pl", {"ticket_ref": ref})
    assert (await _outbox(panel))[1:] == [
        (f"sms:staff:{ref}:closed", "+48600000001", "handoff_reply", notice)
    ]
    assert ref not in await _page(clerk, "/panel/handoffs")
    actions = [row.action for row in await panel.audit_rows(actor="staff:olek")]
    assert actions.count("handoff.taken") == 1
    assert actions.count("handoff.answered") == 1
    assert actions.count("handoff.closed") == 1
    # Every page that showed the ticket wrote a view of its taxpayer.
    views = await panel.audit_rows(action="panel.view.handoff", taxpayer_id=taxpayer_id)
    # Seven ticket pages were shown: the first, after the take, after each of the two answer
    # forms, the reload, and after each of the two closes.
    assert len(views) == 7
    assert all(row.details == {"ticket_ref": ref} for row in views)


async def test_a_second_clerk_is_refused_clearly_and_cannot_take_it_over(panel: Panel) -> None:
    ref, _ = await _handoff(panel, "+48600000001")
    olek = await panel.login("olek", Role.CLERK)
    ewa = await panel.login("ewa", Role.CLERK)
    assert (await olek.post(f"/panel/handoffs/{ref}/take")).status == 200
    refused = await ewa.post(f"/panel/handoffs/{ref}/take")
    assert refused.status == 409
    assert "Zgłoszenie prowadzi olek; o przekazanie poproś zatwierdzającego." in (
        await refused.text()
    )
    answer = await ewa.post(
        f"/panel/handoffs/{ref}/answer", {"text": "Ja odpowiem", "answer_key": "a" * 32}
    )
    assert answer.status == 409
    assert (await ewa.post(f"/panel/handoffs/{ref}/close")).status == 409
    # Taking it over is an approver's decision.
    assert (await ewa.post(f"/panel/handoffs/{ref}/take", {"reassign": "1"})).status == 403
    async with panel.store.sessions() as session:
        found = await ticket(session, ref)
        assert found is not None
        assert (found.taken_by, found.status) == ("olek", "open")
        assert await ticket_messages(session, found.id) == []
    assert await _outbox(panel) == []
    assert await panel.audit_rows(action="handoff.reassigned") == []


async def test_an_approver_takes_over_a_ticket_another_clerk_holds(panel: Panel) -> None:
    ref, _ = await _handoff(panel, "+48600000001")
    olek = await panel.login("olek", Role.CLERK)
    assert (await olek.post(f"/panel/handoffs/{ref}/take")).status == 200
    boss = await panel.login("kierownik", Role.APPROVER)
    page = await _page(boss, f"/panel/handoffs/{ref}")
    assert 'name="reassign" value="1"' in page
    assert (await boss.post(f"/panel/handoffs/{ref}/take", {"reassign": "1"})).status == 200
    async with panel.store.sessions() as session:
        found = await ticket(session, ref)
        assert found is not None
        assert found.taken_by == "kierownik"
    reassigned = await panel.audit_rows(action="handoff.reassigned")
    assert [(row.actor, row.details["from"]) for row in reassigned] == [
        ("staff:kierownik", "staff:olek")
    ]
    # The clerk who had it can no longer answer.
    refused = await olek.post(
        f"/panel/handoffs/{ref}/answer", {"text": "Jednak ja", "answer_key": "d" * 32}
    )
    assert refused.status == 409


async def test_bad_answers_are_refused_and_lose_nothing(panel: Panel) -> None:
    ref, _ = await _handoff(panel, "+48600000001")
    clerk = await panel.login("olek", Role.CLERK)
    await clerk.post(f"/panel/handoffs/{ref}/take")
    empty = await clerk.post(
        f"/panel/handoffs/{ref}/answer", {"text": "  ", "answer_key": "b" * 32}
    )
    assert empty.status == 409
    no_key = await clerk.post(f"/panel/handoffs/{ref}/answer", {"text": "Dzień dobry"})
    assert no_key.status == 400
    unknown = await clerk.post(
        "/panel/handoffs/ZG-2027-999999/answer", {"text": "x", "answer_key": "c" * 32}
    )
    assert unknown.status == 404
    assert (await clerk.get("/panel/handoffs/ZG-2027-999999")).status == 404
    assert (await clerk.get("/panel/handoffs?after=nonsense")).status == 400
    # A forged form (no CSRF token) changes nothing.
    forged = await clerk.client.post(f"/panel/handoffs/{ref}/close")
    assert forged.status == 403
    async with panel.store.sessions() as session:
        found = await ticket(session, ref)
        assert found is not None
        assert found.status == "open"
    assert await _outbox(panel) == []


async def test_an_english_clerk_and_a_ukrainian_resident_each_read_their_language(
    panel: Panel,
) -> None:
    ref, _ = await _handoff(panel, "+48600000001", language="uk")
    clerk = await panel.login("olek", Role.CLERK)
    english = {"Accept-Language": "en"}
    body = await (await clerk.get("/panel/handoffs", headers=english)).text()
    assert "<h1>Hand-offs</h1>" in body
    assert "Ukrainian" in body
    page = await (await clerk.get(f"/panel/handoffs/{ref}", headers=english)).text()
    assert "Take the ticket" in page
    await clerk.post(f"/panel/handoffs/{ref}/take")
    key = ANSWER_KEY.search(await (await clerk.get(f"/panel/handoffs/{ref}")).text())
    assert key is not None
    await clerk.post(
        f"/panel/handoffs/{ref}/answer", {"text": "Добрий день!", "answer_key": key.group(1)}
    )
    await clerk.post(f"/panel/handoffs/{ref}/close")
    assert [text for *_, text in await _outbox(panel)] == [
        render("handoff_staff_answer", "uk", {"ticket_ref": ref, "text": "Добрий день!"}),
        render("handoff_closed", "uk", {"ticket_ref": ref}),
    ]
