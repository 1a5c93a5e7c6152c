"""Paying online, on both engines: through the demo gateway and through the Przelewy24 peer the
payment is booked once on the operator's date, the balance drops to zero and a receipt is
queued; forged, changed, unknown, repeated and unconfirmed notifications book nothing more."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.i18n import render
from payments.gateways.signing import NOTIFICATION_FIELDS, sign
from storage.models import Payment
from storage.outbox_models import OutboxMessage
from storage.payment_models import GatewayTransaction
from tests.conftest import Store
from tests.conversation_helpers import TODAY, gmina_balance_json
from tests.payments.conftest import REF, Server, add_payer, running
from tests.peers.przelewy24 import API_KEY, CRC, MERCHANT_ID, Przelewy24Peer

SENDER = "web-" + "7" * 32


async def _start(server: Server) -> tuple[str, str]:
    """Ask for a link in the chat and press "pay online": (where the gateway sent us, link)."""
    link = await server.pay_link(SENDER)
    async with server.http.post(f"{link}/online", allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        return response.headers["Location"], link


async def _payments(store: Store) -> list[tuple[str, date, Decimal]]:
    async with store.sessions() as session:
        rows = await session.execute(
            sa.select(Payment.source, Payment.paid_on, Payment.amount).order_by(Payment.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def _receipts(store: Store) -> list[dict[str, Any]]:
    async with store.sessions() as session:
        rows = await session.execute(
            sa.select(
                OutboxMessage.channel,
                OutboxMessage.recipient,
                OutboxMessage.category,
                OutboxMessage.content,
            ).where(OutboxMessage.category == "receipt")
        )
        return [row._asdict() for row in rows.all()]


async def _statuses(store: Store) -> list[str]:
    async with store.sessions() as session:
        return list((await session.execute(sa.select(GatewayTransaction.status))).scalars())


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _receipt_text(amount: Decimal, paid_on: date) -> str:
    values = {"amount": str(amount), "paid_date": paid_on.isoformat()}
    return render("utter_payment_receipt", "pl", values)


async def _paid_in_full(store: Store, paid_on: date, source: str) -> None:
    before = await gmina_balance_json(store, REF)
    assert before["total"] == "0.00"
    assert before["obligations"] == []
    ((booked_by, day, amount),) = await _payments(store)
    assert (booked_by, day) == (source, paid_on)
    (receipt,) = await _receipts(store)
    assert (receipt["channel"], receipt["recipient"]) == ("rest", SENDER)
    assert receipt["content"]["text"] == _receipt_text(amount, paid_on)
    assert await _statuses(store) == ["paid"]


# --- the demo gateway -------------------------------------------------------------------------


async def test_paying_through_the_demo_gateway_books_the_payment(demo_server: Server) -> None:
    owed = (await gmina_balance_json(demo_server.store, REF))["total"]
    gateway_page, _ = await _start(demo_server)
    assert gateway_page.startswith(f"{demo_server.url}/pay/demo/")
    async with demo_server.http.get(gateway_page) as response:
        assert response.status == 200
        page = await response.text()
    assert render("demo_gateway_approve", "pl") in page
    assert "1\u00a0" in page  # the amount, as money
    async with demo_server.http.post(
        gateway_page, data={"decision": "approve"}, allow_redirects=False
    ) as response:
        assert response.status == 303
        back = response.headers["Location"]
    assert back.startswith(f"{demo_server.url}/pay/return/")
    await _paid_in_full(demo_server.store, TODAY, "demo")
    ((_, _, amount),) = await _payments(demo_server.store)
    assert amount == Decimal(owed)
    async with demo_server.http.get(back) as response:
        assert render("paypage_returned_title", "pl") in await response.text()


async def test_a_declined_demo_payment_changes_nothing(demo_server: Server) -> None:
    before = await gmina_balance_json(demo_server.store, REF)
    gateway_page, _ = await _start(demo_server)
    async with demo_server.http.post(
        gateway_page, data={"decision": "decline"}, allow_redirects=False
    ) as response:
        assert response.status == 303
    assert await gmina_balance_json(demo_server.store, REF) == before
    assert await _payments(demo_server.store) == []
    assert await _receipts(demo_server.store) == []
    assert await _statuses(demo_server.store) == ["registered"]


# --- Przelewy24 -------------------------------------------------------------------------------


async def _pay_at_peer(server: Server, peer_url: str) -> None:
    """The resident pays on the operator's page; the operator notifies us meanwhile."""
    async with server.http.get(peer_url, allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"].startswith(f"{server.url}/pay/return/")


async def test_paying_through_przelewy24_books_on_the_operators_date(
    p24_server: tuple[Server, Przelewy24Peer],
) -> None:
    server, peer = p24_server
    owed = (await gmina_balance_json(server.store, REF))["total"]
    at_peer, _ = await _start(server)
    assert "/trnRequest/TOKEN-" in at_peer
    ((registered),) = peer.registered.values()
    assert registered.body["amount"] == int(Decimal(owed) * 100)
    assert registered.body["urlStatus"] == f"{server.url}/pay/notify/przelewy24"
    assert registered.body["description"] == "T-2001 PT-2027-1 DOG-2027"
    await _pay_at_peer(server, at_peer)
    assert peer.notified == [(200, {"status": "booked"})]
    # transaction/verify was called, signed, before the payment counted.
    assert [body["orderId"] for body in peer.verified] == [registered.order_id]
    assert peer.refused == []
    # The peer reports 2027-05-10 12:34:56 as the day of the transaction.
    await _paid_in_full(server.store, date(2027, 5, 10), "przelewy24")


async def test_a_repeated_notification_books_once(
    p24_server: tuple[Server, Przelewy24Peer],
) -> None:
    server, peer = p24_server
    peer.repeat = True
    at_peer, _ = await _start(server)
    await _pay_at_peer(server, at_peer)
    assert peer.notified == [(200, {"status": "booked"}), (200, {"status": "repeated"})]
    await _paid_in_full(server.store, date(2027, 5, 10), "przelewy24")


@pytest.mark.parametrize(
    ("switch", "status", "answer"),
    [
        ("wrong_sign", 403, {"error": "forbidden"}),
        ("changed_amount", 400, {"status": "mismatch"}),
    ],
)
async def test_a_forged_or_changed_notification_books_nothing(
    p24_server: tuple[Server, Przelewy24Peer],
    switch: str,
    status: int,
    answer: dict[str, str],
) -> None:
    server, peer = p24_server
    setattr(peer, switch, 1 if switch == "changed_amount" else True)
    before = await gmina_balance_json(server.store, REF)
    at_peer, link = await _start(server)
    # `gmina balance` (run above) sets up the root logger afresh: listen on ours directly.
    records = _Records()
    logger = logging.getLogger("payments")
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    try:
        await _pay_at_peer(server, at_peer)
    finally:
        logger.removeHandler(records)
        logger.setLevel(logging.NOTSET)
    assert peer.notified == [(status, answer)]
    assert peer.verified == []
    assert await _payments(server.store) == []
    assert await _receipts(server.store) == []
    assert await gmina_balance_json(server.store, REF) == before
    warnings = [record for record in records.records if record.levelno >= logging.WARNING]
    assert warnings, "the refusal is logged"
    # No token, session id, amount or name in what is logged.
    ((registered),) = peer.registered.values()
    logged = " ".join(record.getMessage() for record in records.records)
    for secret in (link.rsplit("/", 1)[1], registered.body["sessionId"], before["total"], "Ewa"):
        assert secret not in logged


async def test_a_notification_of_an_unknown_session_books_nothing(
    p24_server: tuple[Server, Przelewy24Peer],
) -> None:
    server, _ = p24_server
    body: dict[str, Any] = {
        "merchantId": MERCHANT_ID,
        "posId": MERCHANT_ID,
        "sessionId": "f" * 32,
        "amount": 153000,
        "originAmount": 153000,
        "currency": "PLN",
        "orderId": 1,
        "methodId": 25,
        "statement": "x",
    }
    body["sign"] = sign(NOTIFICATION_FIELDS, body, CRC)
    async with server.http.post(f"{server.url}/pay/notify/przelewy24", json=body) as response:
        assert response.status == 404
        assert await response.json() == {"status": "unknown_session"}
    # A body that is no notification at all: 400 naming the field, never 500.
    async with server.http.post(
        f"{server.url}/pay/notify/przelewy24", json={"sessionId": "x"}
    ) as response:
        assert response.status == 400
        assert (await response.json())["detail"] == "merchantId: missing"
    async with server.http.post(f"{server.url}/pay/notify/przelewy24", data=b"{") as response:
        assert response.status == 400
    assert await _payments(server.store) == []


async def test_an_operator_that_does_not_confirm_in_time_books_nothing(
    store: Store, p24_peer: tuple[Przelewy24Peer, str]
) -> None:
    peer, peer_url = p24_peer
    peer.hang = True
    await add_payer(store)
    keys = {
        "merchant_id": MERCHANT_ID,
        "api_key": API_KEY,
        "crc": CRC,
        "api_base_url": peer_url,
        "timeout_seconds": 0.5,
    }
    async with running(store, gateway="przelewy24", przelewy24=keys) as server:
        at_peer, _ = await _start(server)
        await _pay_at_peer(server, at_peer)
        # 503: the operator sends the notification again later, and it is taken then.
        assert peer.notified == [(503, {"error": "try_again"})]
        assert await _payments(store) == []
        assert await _statuses(store) == ["registered"]
