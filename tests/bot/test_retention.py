"""The retention purge runs inside the server and as `gmina retention purge`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from bot.cli import main
from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.settings import Settings
from tests.conftest import Store
from tests.conversation_helpers import NOW, ClientMaker, new_sender
from tests.storage.test_retention import _conversation, _senders

KEEP = timedelta(days=30)


async def _two_conversations(store: Store) -> None:
    async with store.sessions() as session:
        await _conversation(session, "stale", KEEP + timedelta(days=1))
        await _conversation(session, "fresh", timedelta(days=1))
        await session.commit()


async def _purge_cli(store: Store, *args: str) -> str:
    env = {"GMINA__DATABASE__URL": store.url, "GMINA__RETENTION__ANONYMOUS_DAYS": "30"}
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["retention", "purge", *args], env=env
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


async def test_the_cli_counts_then_deletes(store: Store) -> None:
    # The CLI's clock is the system's: a conversation last written in 2020 is idle.
    async with store.sessions() as session:
        await _conversation(session, "stale", idle=NOW - datetime(2020, 1, 1, tzinfo=UTC))
        await session.commit()
    dry = await _purge_cli(store, "--dry-run")
    assert dry == "would delete 1 conversations of anonymous senders idle over 30 days"
    async with store.sessions() as session:
        assert await _senders(session) == {"stale"}
    assert await _purge_cli(store) == (
        "deleted 1 conversations of anonymous senders idle over 30 days"
    )
    async with store.sessions() as session:
        assert await _senders(session) == set()


async def test_the_server_purges_at_start_and_keeps_serving(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await _two_conversations(store)
    settings = Settings.model_validate(
        {"database": {"url": store.url}, "retention": {"anonymous_days": 30}}
    )
    client = await aiohttp_client(init_app(settings, clock=FrozenClock(NOW)))
    deadline = time.monotonic() + 10
    while True:
        async with store.sessions() as session:
            senders = await _senders(session)
        if senders == {"fresh"}:
            break
        assert time.monotonic() < deadline, f"still there: {senders}"
        await asyncio.sleep(0.05)
    reply = await client.post(
        "/webhooks/rest/webhook", json={"sender": new_sender(), "message": "pomoc"}
    )
    assert reply.status == 200
