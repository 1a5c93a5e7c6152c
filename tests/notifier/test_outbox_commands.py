"""`gmina outbox send|status`, and the dispatcher that `gmina run` keeps going."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from click.testing import CliRunner, Result

from bot.cli import main
from bot.outbox import DISPATCHER
from bot.web import init_app
from kernel.clock import SystemClock
from kernel.settings import load_settings
from storage.outbox import Category, NewMessage, enqueue
from tests.conftest import Store
from tests.notifier.conftest import TOKEN, TelegramLine


async def _queue(store: Store, key: str, chat: int, text: str) -> None:
    async with store.sessions() as session:
        message = NewMessage(key, "telegram", str(chat), Category.REMINDER, text)
        await enqueue(session, [message], SystemClock().now())
        await session.commit()


def _env(store: Store, telegram: TelegramLine | None) -> dict[str, str]:
    env = {"GMINA__DATABASE__URL": store.url, "GMINA__TELEGRAM__TOKEN": ""}
    if telegram is not None:
        env |= {
            "GMINA__TELEGRAM__TOKEN": TOKEN,
            "GMINA__TELEGRAM__API_BASE_URL": telegram.base_url,
            "GMINA__TELEGRAM__WEBHOOK_SECRET": "outbox-tests",
        }
    return env


async def _gmina(env: dict[str, str], *args: str) -> Result:
    # The command runs its own event loop, so it gets a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def test_send_delivers_the_queue_and_status_counts_it(
    store: Store, telegram: TelegramLine
) -> None:
    await _queue(store, "a", 41, "pierwsza")
    await _queue(store, "b", 42, "druga")
    before = await _gmina(_env(store, None), "outbox", "status")
    assert before.exit_code == 0, before.output
    assert before.stdout.splitlines() == ["telegram\tcreated\t2"]

    sent = await _gmina(_env(store, telegram), "outbox", "send", "--until-empty")
    assert sent.exit_code == 0, sent.output
    assert "handled 2 messages" in sent.stdout
    assert telegram.peer.texts_to(41) == ["pierwsza"]
    assert telegram.peer.texts_to(42) == ["druga"]

    after = await _gmina(_env(store, None), "outbox", "status")
    assert after.stdout.splitlines() == ["telegram\tsent\t2"]


async def test_send_without_a_configured_channel_says_so(store: Store) -> None:
    result = await _gmina(_env(store, None), "outbox", "send")
    assert result.exit_code == 1
    assert "no channel is configured" in result.stderr


async def test_the_server_dispatches_what_is_queued_as_soon_as_it_is_woken(
    store: Store, telegram: TelegramLine, aiohttp_client: object
) -> None:
    settings = load_settings(
        environ=_env(store, telegram) | {"GMINA__OUTBOX__IDLE_POLL_SECONDS": "60"}
    )
    client: TestClient = await aiohttp_client(init_app(settings))  # type: ignore[operator]
    await asyncio.sleep(0.1)
    await _queue(store, "w", 43, "z serwera")
    client.app[DISPATCHER].wake()
    for _ in range(200):
        if telegram.peer.sent:
            break
        await asyncio.sleep(0.02)
    assert telegram.peer.texts_to(43) == ["z serwera"]
