"""`gmina actions` is rasa-sdk's real action server: a Rasa-shaped request gets what our engine's
in-process executor produces for the same tracker."""

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

from actions import services
from bot.dialogue import action_call, build_executor
from bot.dialogue.domain import Domain
from bot.dialogue.state import DialogueState
from kernel.clock import SystemClock
from tests.conftest import Store
from tests.conversation_helpers import add_resident, settings_for

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60


def _free_port() -> int:
    """A port the system just gave out for port 0, so no two runs pick the same one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def action_server(store: Store) -> AsyncIterator[str]:
    port = _free_port()
    env = {**os.environ, "GMINA__DATABASE__URL": store.url, "GMINA__LOGGING__LEVEL": "WARNING"}
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


def _balance_question(taxpayer_id: int) -> dict[str, Any]:
    domain = Domain.load()
    state = DialogueState.restore({}, domain, "pl")
    state.slots["taxpayer_id"] = taxpayer_id
    state.latest_message = {
        "text": "ile mam do zapłaty?",
        "intent": {"name": "check_balance", "confidence": 0.96},
        "entities": [],
    }
    state.add({"event": "user", "text": "ile mam do zapłaty?", "parse_data": state.latest_message})
    sender = "rest:web-0123456789abcdef0123456789abcdef"
    return action_call(domain, "action_check_balance", state, sender, "rest")


async def test_the_action_server_answers_as_the_engine_does(
    store: Store, action_server: str
) -> None:
    taxpayer_id = await add_resident(store)
    call = _balance_question(taxpayer_id)
    async with aiohttp.ClientSession() as http:
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
