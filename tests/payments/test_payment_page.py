"""The payment page, on both engines: what a link pays, the same figures as `gmina balance`,
transfer details with the ZBP QR code, refusals that show a plain page."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import Engine

from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.i18n import format_money, render
from kernel.money import to_grosze_count
from kernel.settings import LedgerSettings, Settings
from payments.qr import NotForQrCode, QrTransfer, zbp_payload
from payments.titles import QR_TITLE_LENGTH, Transfer, plan_transfers, qr_title
from storage.bookings import Booking, book_payment
from storage.ledger import LedgerPolicy
from storage.payment_links import create_payment_link
from storage.taxpayers import taxpayer_id_by_ref
from tests.conftest import Store
from tests.conversation_helpers import NOW, gmina_balance_json, link_token
from tests.payments.conftest import ACCOUNT, PAY_URL, REF, Server, add_payer, running

ClientMaker = Callable[..., Awaitable[TestClient[Any, Any]]]

RECIPIENT_NIP = "6411005545"  # config.yml's city.recipient_nip


def _attribute(page: str, name: str) -> list[str]:
    return [unescape(value) for value in re.findall(rf'{name}="([^"]*)"', page)]


async def _get(server: Server, url: str) -> tuple[int, str, dict[str, str]]:
    async with server.http.get(url, allow_redirects=False) as response:
        return response.status, await response.text(), dict(response.headers)


async def test_the_chat_link_opens_a_page_with_the_balance_and_the_qr_code(
    demo_server: Server,
) -> None:
    link = await demo_server.pay_link()
    status, page, headers = await _get(demo_server, link)
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    figures = await gmina_balance_json(demo_server.store, REF)
    # Everything outstanding is late, so the link covers it all: the total of `gmina balance`.
    assert _attribute(page, "data-total") == [figures["total"]]
    assert _attribute(page, "data-obligation-ref") == [
        row["obligation_ref"] for row in figures["obligations"]
    ]
    for row in figures["obligations"]:
        for field in ("principal", "interest", "total"):
            assert format_money(row[field], "pl") in page
    assert '<html lang="pl">' in page
    # No name beyond initials.
    assert "E. W." in page
    assert "Ewa" not in page
    assert "Wiśniewska" not in page
    # The exact ZBP field string: NIP|PL|account|grosze|name (20)|title (32)|||.
    grosze = to_grosze_count(Decimal(figures["total"]))
    title = "T-2001 PT-2027-1 DOG-2027"
    expected = f"{RECIPIENT_NIP}|PL|{ACCOUNT}|{grosze:06d}|Urząd Miasta Ruda Śl|{title}|||"
    assert _attribute(page, "data-qr-payload") == [expected]
    assert "<svg" in page
    assert f'Tytuł</dt><dd class="title">{title}</dd>' in page
    assert 'action="/pay/' in page
    assert "/online" in page


async def test_a_transfer_of_10000_zloty_or_more_has_no_qr_code_and_says_why(
    store: Store,
) -> None:
    await add_payer(store, amount="12000.00")
    async with running(store) as server:
        status, page, _ = await _get(server, await server.pay_link())
    assert status == 200
    assert _attribute(page, "data-qr-payload") == []
    assert "<svg" not in page
    reason = render("paypage_qr_too_much", "pl", {"limit_amount": "10000"})
    assert reason in unescape(page)


async def test_an_unknown_or_expired_link_gets_a_plain_page(
    demo_server: Server, store: Store
) -> None:
    async with store.sessions() as session:
        taxpayer_id = await taxpayer_id_by_ref(session, REF)
        expired = await create_payment_link(
            session, taxpayer_id, ["PT-2027-1"], NOW - timedelta(days=15), timedelta(days=14),
            language="pl", source="chat",
        )  # fmt: skip
        await session.commit()
    for path in (f"/pay/{expired.token}", "/pay/" + "A" * 43, "/pay/x", "/pay/%3Cscript%3E"):
        status, page, headers = await _get(demo_server, demo_server.url + path)
        assert status == 404
        assert render("paypage_not_found_text", "pl") in unescape(page)
        assert "Traceback" not in page
        assert headers["Cache-Control"] == "no-store"
    # In the language the browser asks for.
    async with demo_server.http.get(
        demo_server.url + "/pay/x", headers={"Accept-Language": "uk-UA,uk;q=0.9"}
    ) as response:
        assert render("paypage_not_found_text", "uk") in unescape(await response.text())
    # An expired link cannot start a payment either.
    async with demo_server.http.post(
        f"{demo_server.url}/pay/{expired.token}/online", allow_redirects=False
    ) as response:
        assert response.status == 404


def test_one_title_rule_for_the_chat_the_page_and_the_qr_code() -> None:
    rows = [
        {"obligation_ref": f"PT-2027-{n:06d}-0{n}", "kind": "property_tax", "total": "100.00"}
        for n in range(1, 8)
    ] + [{"obligation_ref": "DOG-2027", "kind": "dog_fee", "total": "30.00"}]
    transfers = plan_transfers(REF, rows)
    # Eight references do not fit in 140 characters: one transfer per levy, each title whole.
    assert [transfer.obligation_refs[-1] for transfer in transfers] == [
        "PT-2027-000007-07",
        "DOG-2027",
    ]
    assert all(len(transfer.title) <= 140 for transfer in transfers)
    assert transfers[1] == Transfer("T-2001 DOG-2027", ("DOG-2027",), Decimal("30.00"))
    assert sum(transfer.amount for transfer in transfers) == Decimal("730.00")
    # The QR code's title is the transfer's own when it fits, else the taxpayer's reference.
    assert qr_title(transfers[1], REF) == "T-2001 DOG-2027"
    assert len(transfers[0].title) > QR_TITLE_LENGTH
    assert qr_title(transfers[0], REF) == REF


async def test_the_page_is_in_the_language_the_resident_talks_in(store: Store) -> None:
    await add_payer(store)
    async with running(store) as server:
        sender = "web-" + "e" * 32
        await server.chat(sender, f"/start {await link_token(store, REF)}")
        await server.chat(sender, '/change_language{"language": "uk"}')
        replies = await server.chat(sender, "сплатити")
        (link,) = [m.group(0) for r in replies if (m := PAY_URL.search(r["text"]))]
        status, page, _ = await _get(server, link)
    assert status == 200
    assert '<html lang="uk">' in page
    assert render("paypage_total_to_pay", "uk") in page
    assert render("label_kind_dog_fee", "uk") in page


async def test_the_page_is_limited_per_address(store: Store, aiohttp_client: ClientMaker) -> None:
    limits = {"exempt": [], "payment_page": {"per_minute": 1, "burst": 2}}
    settings = Settings.model_validate(
        {"database": {"url": store.url}, "web": {"rate_limit": limits}}
    )
    client = await aiohttp_client(init_app(settings, clock=FrozenClock(NOW)))
    statuses = [(await client.get("/pay/" + "B" * 43)).status for _ in range(3)]
    assert statuses == [404, 404, 429]
    refused = await client.post("/pay/" + "B" * 43 + "/online")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1


def test_the_qr_payload_keeps_its_frame() -> None:
    transfer = QrTransfer(
        nip=RECIPIENT_NIP,
        account=ACCOUNT,
        amount=Decimal("9999.99"),
        recipient="Urząd | Miasta\nRuda 😀 Śląska",
        title="T-1|PT-2027-1 <b>żółć</b>",
    )
    assert zbp_payload(transfer) == (
        f"{RECIPIENT_NIP}|PL|{ACCOUNT}|999999|Urząd Miasta Ruda Śl|T-1PT-2027-1 bżółć/b|||"
    )
    # Six digits of grosze end below 10 000 zł; a number that is not an NRB or NIP is refused.
    for wrong in (
        replace(transfer, amount=Decimal("10000.00")),
        replace(transfer, amount=Decimal("0.00")),
        replace(transfer, account="PL" + ACCOUNT),
        replace(transfer, nip="123"),
    ):
        with pytest.raises(NotForQrCode):
            zbp_payload(wrong)


async def test_a_view_takes_two_queries_and_shows_a_booking_at_once(demo_server: Server) -> None:
    """The link with its obligations, then the taxpayer's ledger: two queries once the rate
    tables are cached, and nothing else is kept between views, so money booked meanwhile (here
    by the one booking command, as a statement or another worker would) shows on the next."""
    link = await demo_server.pay_link()
    status, page, _ = await _get(demo_server, link)
    assert status == 200
    before = Decimal(_attribute(page, "data-total")[0])
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(Engine, "before_cursor_execute", record)
    try:
        status, page, _ = await _get(demo_server, link)
    finally:
        sa.event.remove(Engine, "before_cursor_execute", record)
    assert status == 200
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2
    async with demo_server.store.sessions() as session:
        taxpayer_id = await taxpayer_id_by_ref(session, REF)
        await book_payment(
            session,
            Booking(taxpayer_id, "bank", "PAGE-1", NOW.date(), Decimal("100.00")),
            LedgerPolicy.from_settings(LedgerSettings()),
        )
        await session.commit()
    status, page, _ = await _get(demo_server, link)
    assert Decimal(_attribute(page, "data-total")[0]) == before - Decimal("100.00")
