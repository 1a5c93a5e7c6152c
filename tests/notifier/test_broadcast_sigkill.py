"""A broadcast to 10,000 chats survives SIGKILL: once in the middle of its fan-out
(`gmina broadcast send`), once in the middle of its delivery (`gmina outbox send`), each
restarted. Nothing is lost; nothing is queued twice; a chat gets the announcement twice only if
its message was in flight when the dispatcher died (a claim whose lease then ran out). The
figures go to var/test-artifacts/broadcast-sigkill-<engine>.json."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from storage.broadcasts import approve_broadcast, create_broadcast
from storage.models import Contact, Taxpayer
from storage.outbox_models import OutboxMessage
from tests.conftest import Store
from tests.notifier.broadcast_city import add_team
from tests.notifier.conftest import TOKEN, TelegramLine

CHATS = 10_000
FIRST_CHAT = 5_000_000
GMINA = str(Path(sys.executable).with_name("gmina"))
TEXT = "Komunikat: jutro przerwa w dostawie wody."
# The figures of each run, for the record (ignored by git).
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


async def _city(store: Store) -> int:
    now = datetime.now(UTC)
    async with store.sessions() as session:
        await session.execute(
            sa.insert(Taxpayer),
            [
                {"id": n, "ref": f"K-{n}", "last_name": f"K {n}", "row_hash": "t"}
                for n in range(1, CHATS + 1)
            ],
        )
        await session.execute(
            sa.insert(Contact),
            [
                {
                    "taxpayer_id": n,
                    "kind": "telegram",
                    "value": str(FIRST_CHAT + n),
                    "source": "chat",
                    "notify_consent": True,
                    "created_at": now,
                }
                for n in range(1, CHATS + 1)
            ],
        )
        await add_team(session)
        made = await create_broadcast(session, "all", "pl", TEXT, staff="kasia", now=now)
        await approve_broadcast(session, made.id, staff="anna", now=now)
        await session.commit()
    return made.id


async def _count(store: Store, *where: sa.ColumnElement[bool]) -> int:
    async with store.sessions() as session:
        found = await session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(*where)
        )
    return int(found or 0)


async def _kill_when(
    args: list[str], env: dict[str, str], ready: Callable[[], Awaitable[bool]]
) -> bool:
    """Run `gmina ARGS`, SIGKILL it once `ready()`; False when it ended first."""
    process = await asyncio.create_subprocess_exec(
        GMINA, *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    while process.returncode is None:
        if await ready():
            process.send_signal(signal.SIGKILL)
            assert await process.wait() == -signal.SIGKILL
            return True
        await asyncio.sleep(0.02)
    stderr = await process.stderr.read() if process.stderr else b""
    raise AssertionError(f"gmina {args} ended ({process.returncode}) first: {stderr!r}")


async def _run(args: list[str], env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        GMINA, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, (out, err)


async def test_sigkill_in_the_fan_out_and_in_the_delivery_loses_nothing(
    store: Store, telegram: TelegramLine
) -> None:
    broadcast_id = await _city(store)
    env = {
        **os.environ,
        "GMINA__DATABASE__URL": store.url,
        "GMINA__LOGGING__LEVEL": "WARNING",
        "GMINA__REMINDERS__QUIET_HOURS": "",
        "GMINA__TELEGRAM__TOKEN": TOKEN,
        "GMINA__TELEGRAM__API_BASE_URL": telegram.base_url,
        "GMINA__TELEGRAM__RATE_PER_SECOND": "100000",
        # A send times out at half the lease, and one timed out may still have reached the chat:
        # a lease long enough that only the killed process's claims go twice, even on a busy
        # machine; the restart waits it out.
        "GMINA__OUTBOX__LEASE_SECONDS": "10",
    }

    # 1. Killed in the middle of the fan-out, then sent again.
    send = ["broadcast", "send", str(broadcast_id), "--batch-size", "50"]

    async def some_queued() -> bool:
        return await _count(store) >= 1_000

    await _kill_when(send, env, some_queued)
    queued_at_kill = await _count(store)
    assert 1_000 <= queued_at_kill < CHATS
    await _run(send, env)
    assert await _count(store) == CHATS
    async with store.sessions() as session:
        keys = await session.scalar(sa.select(sa.func.count(sa.distinct(OutboxMessage.recipient))))
    assert keys == CHATS

    # 2. Killed in the middle of the delivery, then delivered again.
    async def some_delivered() -> bool:
        return len(telegram.peer.sent) >= 3_000

    await _kill_when(["outbox", "send", "--until-empty"], env, some_delivered)
    # Claimed and not recorded when it died: these may have reached the chat already.
    in_flight = await _count(store, OutboxMessage.status == "sending")
    delivered_at_kill = len(telegram.peer.sent)
    await _run(["outbox", "send", "--until-empty"], env)

    per_chat = Counter(message.chat_id for message in telegram.peer.sent)
    lost = CHATS - len(per_chat)
    duplicates = sum(count - 1 for count in per_chat.values())
    figures = {
        "engine": store.engine_name,
        "chats": CHATS,
        "queued_when_the_fan_out_was_killed": queued_at_kill,
        "delivered_when_the_dispatcher_was_killed": delivered_at_kill,
        "in_flight_when_the_dispatcher_was_killed": in_flight,
        "lost": lost,
        "duplicates": duplicates,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / f"broadcast-sigkill-{store.engine_name}.json"
    report.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    assert lost == 0
    assert duplicates <= in_flight
    assert await _count(store, OutboxMessage.status == "sent") == CHATS
