"""The receipt of a payment made through a web-chat link reaches that chat: the resident asks to
pay in the web chat, pays through the demo gateway, and the page, asking for what waits for its
sender (`POST /webhooks/rest/waiting`), gets the receipt once."""

from __future__ import annotations

from typing import Any

from kernel.i18n import render
from tests.conversation_helpers import TODAY, gmina_balance_json
from tests.payments.conftest import REF, Server

SENDER = "web-" + "8" * 32


async def _waiting(server: Server) -> list[dict[str, Any]]:
    async with server.http.post(
        f"{server.url}/webhooks/rest/waiting", json={"sender": SENDER}
    ) as response:
        assert response.status == 200, await response.text()
        answers: list[dict[str, Any]] = await response.json()
        return answers


async def test_the_web_chat_collects_the_receipt_once(demo_server: Server) -> None:
    owed = (await gmina_balance_json(demo_server.store, REF))["total"]
    link = await demo_server.pay_link(SENDER)
    assert await _waiting(demo_server) == []
    async with demo_server.http.post(f"{link}/online", allow_redirects=False) as response:
        gateway_page = response.headers["Location"]
    async with demo_server.http.post(
        gateway_page, data={"decision": "approve"}, allow_redirects=False
    ) as response:
        assert response.status == 303
    receipt = render(
        "utter_payment_receipt", "pl", {"amount": owed, "paid_date": TODAY.isoformat()}
    )
    assert await _waiting(demo_server) == [
        {"recipient_id": SENDER, "text": receipt, "metadata": {"language": "pl"}}
    ]
    assert await _waiting(demo_server) == []
