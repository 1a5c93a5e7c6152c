"""`gmina actions` is rasa-sdk's real action server.

A Rasa-shaped request carrying the server's token gets what our engine's in-process executor
produces for the same tracker; without the token it gets nothing, and a `taxpayer_id` slot naming
someone the sender is not bound to reveals nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from actions import services
from bot.cli import main
from bot.dialogue import action_call, build_executor
from bot.dialogue.domain import Domain
from bot.dialogue.state import DialogueState
from kernel.clock import SystemClock
from storage.bindings import bound_taxpayer, redeem_link_token
from tests.conftest import Store
from tests.conversation_helpers import NOW, add_resident, link_token, settings_for

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60
TOKEN = "action-server-test-secret"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}
SENDER_ID = "web-0123456789abcdef0123456789abcdef"


def _free_port() -> int:
    """A port the system just gave out for port 0, so no two runs pick the same one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def action_server(store: Store) -> AsyncIterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "GMINA__DATABASE__URL": store.url,
        "GMINA__LOGGING__LEVEL": "WARNING",
        "GMINA__ACTIONS__SERVER_TOKEN": TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from bot.cli import main; main()",
        "actions",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(STARTUP_SECONDS * 10):
                if process.returncode is not None:
                    assert process.stderr is not None
                    pytest.fail((await process.stderr.read()).decode())
                try:
                    async with http.get(f"{url}/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("gmina actions did not start")
        yield url
    finally:
        process.terminate()
        await process.wait()


def _request(action: str, text: str, intent: str, slots: dict[str, Any]) -> dict[str, Any]:
    """What a Rasa server sends to run `action` after the sender wrote `text`."""
    domain = Domain.load()
    state = DialogueState.restore({}, domain, "pl")
    state.slots.update(slots)
    state.latest_message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.96},
        "entities": [],
    }
    state.add({"event": "user", "text": text, "parse_data": state.latest_message})
    return action_call(domain, action, state, f"rest:{SENDER_ID}", "rest")


def _balance_question(taxpayer_id: int) -> dict[str, Any]:
    slots = {"taxpayer_id": taxpayer_id}
    return _request("action_check_balance", "ile mam do zapłaty?", "check_balance", slots)


async def _bind_sender(store: Store) -> int:
    await add_resident(store)
    token = await link_token(store)
    async with store.sessions() as session:
        taxpayer_id = await redeem_link_token(session, token, "rest", SENDER_ID, NOW)
        await session.commit()
    assert taxpayer_id is not None
    return taxpayer_id


async def test_the_action_server_answers_as_the_engine_does(
    store: Store, action_server: str
) -> None:
    taxpayer_id = await _bind_sender(store)
    call = _balance_question(taxpayer_id)
    async with aiohttp.ClientSession(headers=AUTHORIZED) as http:
        async with http.post(f"{action_server}/webhook", json=call) as response:
            assert response.status == 200
            served = await response.json()
        async with http.get(f"{action_server}/actions") as response:
            listed = {entry["name"] for entry in await response.json()}

    # The server runs on the system clock; so does this side.
    services.configure(store.sessions, settings_for(store), SystemClock())
    executor = build_executor()
    in_process = await executor.run(call)
    assert in_process is not None
    assert served == in_process.model_dump()
    assert [message["response"] for message in served["responses"]][0] == "utter_balance"
    assert listed == set(executor.actions)


async def test_the_action_server_refuses_a_request_without_its_token(
    store: Store, action_server: str
) -> None:
    call = _balance_question(await _bind_sender(store))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{action_server}/webhook", json=call) as response:
            assert response.status == 401
            assert "Anna" not in await response.text()
        wrong = {"Authorization": "Bearer not-the-token"}
        async with http.post(f"{action_server}/webhook", json=call, headers=wrong) as response:
            assert response.status == 401
        # As Rasa sends it: `token` in endpoints.yml becomes a query parameter.
        async with http.post(f"{action_server}/webhook?token={TOKEN}", json=call) as response:
            assert response.status == 200


async def test_a_taxpayer_slot_for_a_sender_not_bound_to_it_reveals_nothing(
    store: Store, action_server: str
) -> None:
    # The sender is nobody's; the slot names Anna Nowak's taxpayer id all the same.
    taxpayer_id = await add_resident(store)
    call = _balance_question(taxpayer_id)
    async with aiohttp.ClientSession(headers=AUTHORIZED) as http:
        async with http.post(f"{action_server}/webhook", json=call) as response:
            assert response.status == 200
            served = await response.json()
    assert [message["response"] for message in served["responses"]] == ["utter_verify_offer"]
    assert "T-1001" not in str(served)


def test_the_action_server_will_not_listen_beyond_loopback_without_a_token() -> None:
    result = CliRunner().invoke(main, ["actions", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "set actions.server_token" in result.output


async def test_a_rasa_city_binds_a_chat_with_start_token(store: Store, action_server: str) -> None:
    taxpayer_id = await add_resident(store)
    token = await link_token(store)
    call = _request("action_link_token", f"/start {token}", "link_account", {})
    async with aiohttp.ClientSession(headers=AUTHORIZED) as http:
        async with http.post(f"{action_server}/webhook", json=call) as response:
            assert response.status == 200
            served = await response.json()
    assert [(e["event"], e.get("name"), e.get("value")) for e in served["events"]] == [
        ("slot", "taxpayer_id", taxpayer_id),
        ("followup", "action_link_welcome", None),
    ]
    async with store.sessions() as session:
        assert await bound_taxpayer(session, "rest", SENDER_ID) == taxpayer_id
