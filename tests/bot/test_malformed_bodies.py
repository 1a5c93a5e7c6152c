"""Every malformed body on the webhook is a 400 with a reason, never a 500 (the portal API's
are in test_portal.py); a request its client abandons is not a 500 either."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Store
from tests.conversation_helpers import ClientMaker, new_app, new_sender

WEBHOOK = "/webhooks/rest/webhook"
DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (DEEP.encode(), "the body must be JSON"),
        (f'{{"sender": "a", "message": "hej", "metadata": {{"x": {DEEP}}}}}'.encode(),
         "the body must be JSON"),
        (b'{"sender": "\\ud800", "message": "hej"}', "the body must be JSON"),
        (b'{"sender": "a", "message": "hej \\udfff"}', "the body must be JSON"),
        (b'{"sender": "a", "message": "\xed\xa0\x80"}', "the body must be JSON"),
        (b'{"sender": "a\\u0000b", "message": "hej"}',
         "sender: control characters are not allowed"),
        (b'{"sender": "a", "message": "he\\u0000j"}',
         "message: control characters other than tab and line breaks are not allowed"),
    ],
    ids=["deep-body", "deep-metadata", "surrogate-sender", "surrogate-message",
         "surrogate-utf8", "nul-sender", "nul-message"],
)  # fmt: skip
async def test_the_webhook_answers_a_malformed_body_with_400(
    store: Store, aiohttp_client: ClientMaker, body: bytes, error: str
) -> None:
    client = await aiohttp_client(new_app(store))
    response = await client.post(WEBHOOK, data=body)
    assert response.status == 400
    assert await response.json() == {"error": error}


async def test_a_tab_and_line_breaks_in_a_message_are_fine(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await aiohttp_client(new_app(store))
    response = await client.post(WEBHOOK, json={"sender": new_sender(), "message": "po\tmoc\r\n"})
    assert response.status == 200


@pytest.mark.parametrize(
    "payload",
    [
        '/check_balance{"a":' + DEEP + "}",
        '/check_balance{"obligation_kind":' + DEEP + "}",
    ],
    ids=["deep-unknown-entity", "deep-known-entity"],
)
async def test_a_deep_button_payload_is_read_without_its_entities(
    store: Store, aiohttp_client: ClientMaker, payload: str
) -> None:
    client = await aiohttp_client(new_app(store))
    sender = new_sender()
    response = await client.post(WEBHOOK, json={"sender": sender, "message": payload})
    assert response.status == 200
    replies = await response.json()
    # An unverified sender asking for the balance is told how to verify: the intent was read.
    plain = await client.post(WEBHOOK, json={"sender": new_sender(), "message": "/check_balance"})
    assert [r["text"] for r in replies] == [r["text"] for r in await plain.json()]


async def _requests_counted(client: TestClient[Any, Any], route: str) -> dict[str, float]:
    text = await (await client.get("/metrics")).text()
    prefix = f'gmina_http_requests_total{{route="{route}",status="'
    return {
        line[len(prefix) :].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


async def test_a_request_the_client_aborts_half_sent_is_not_a_500(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    client = await aiohttp_client(new_app(store))
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        b'{"sender": "a", "mess'
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    deadline = time.monotonic() + 10
    while not (counted := await _requests_counted(client, WEBHOOK)):
        assert time.monotonic() < deadline, "the aborted request was never counted"
        await asyncio.sleep(0.05)
    assert counted == {"499": 1.0}
    assert reader.at_eof() or not await reader.read()
