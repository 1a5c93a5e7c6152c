"""Telegram webhook turns beside REST turns, 50 chats at once, closed loop, on PostgreSQL.

    python -m bench.bench_telegram_turns [--chats 50] [--turns 20] [--warmup 3]
        [--taxpayers 2000] [--limited-turns 5]

A store of its own (the PostgreSQL database `gmina_telegram_turns`, filled by `gmina demo-data`),
and `gmina run` in a child process with the Telegram channel on in webhook mode, pointed at the
Telegram peer (tests/peers/telegram.py), which runs in this process and plays the residents.

1. REST, for comparison in the same run and server: `bench.bench_conversation.drive`, the same
   number of conversations saying "ile mam do zapłaty?" over `/webhooks/rest/webhook`.
2. Telegram: each chat sends `/start TOKEN` and warm-up turns, then, all chats together, T turns
   of the same question, each posted to `/webhooks/telegram` as Telegram posts it (secret header,
   an update JSON), the next one when the peer has received the turn's last reply (sendMessage):
   a closed loop through the engine, the outbox and the dispatcher. Latency from posting the
   update to the webhook's answer, to the peer receiving the first reply, and the last one.
   The outbox's Telegram limits are off here, as in bench_dispatch.
3. The same with Telegram's own limits (30 messages/s overall, 1/s to one chat), for what a city
   gets from Telegram itself: a two-message answer then takes at least a second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bench.bench_conversation import (
    AMOUNT,
    TURN_TEXT,
    Server,
    child_server,
    debtor_refs,
    drive,
    fresh_chats,
    issue_tokens,
)
from bench.city import DATA, fresh_store, gmina, store_env
from bench.common import latency_summary_ms, write_results
from storage.db import create_engine
from tests.peers.telegram import TelegramPeer

TOKEN = "7000001:bench-telegram-turns-token"
SECRET = "bench-webhook-secret"
CHAT_BASE = 20_000_000
STORE_NAME = "telegram_turns"
RUN_LIMIT_S = 600.0
START_LIMIT_S = 60.0
UNLIMITED = 100_000
PENDING = "SELECT count(*) FROM outbox WHERE channel = 'telegram' AND recipient = :chat AND "
PENDING += "status IN ('created', 'sending', 'temporary-failure')"


@dataclass
class TelegramChat:
    chat_id: int
    token: str
    replies_per_turn: int = 0
    webhook: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    failures: int = 0
    started: float = 0.0
    finished: float = 0.0


@asynccontextmanager
async def peer_server() -> AsyncIterator[tuple[TelegramPeer, str]]:
    peer = TelegramPeer(TOKEN)
    runner = web.AppRunner(peer.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield peer, f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def channel_environment(peer_url: str, rate: float, per_chat: float) -> dict[str, str]:
    """What `gmina run` reads (through `bench.city.store_env`, from this process's environment)."""
    return {
        "GMINA__TELEGRAM__TOKEN": TOKEN,
        "GMINA__TELEGRAM__API_BASE_URL": peer_url,
        "GMINA__TELEGRAM__MODE": "webhook",
        "GMINA__TELEGRAM__WEBHOOK_SECRET": SECRET,
        "GMINA__TELEGRAM__RATE_PER_SECOND": str(rate),
        "GMINA__TELEGRAM__RATE_PER_CHAT_PER_SECOND": str(per_chat),
    }


async def settle(url: str, chat: TelegramChat) -> None:
    """Until the outbox holds nothing pending for the chat (learning a turn's reply count)."""
    engine = create_engine(url)
    try:
        async with asyncio.timeout(START_LIMIT_S):
            while True:
                async with engine.connect() as connection:
                    pending = await connection.scalar(sa.text(PENDING), {"chat": str(chat.chat_id)})
                if not pending:
                    return
                await asyncio.sleep(0.02)
    finally:
        await engine.dispose()


async def turn(
    peer: TelegramPeer,
    server: Server,
    session: aiohttp.ClientSession,
    chat: TelegramChat,
    text: str,
    replies: int,
) -> tuple[float, float, float, bool]:
    """Post one update; seconds to the webhook's answer, the first and the last reply."""
    before = len(peer.messages_to(chat.chat_id))
    started = time.monotonic()
    status = await peer.deliver(peer.text_update(chat.chat_id, text), server.base_url, session)
    answered = time.monotonic()
    messages = await peer.wait_for_messages(chat.chat_id, before + replies)
    first, last = messages[before], messages[before + replies - 1]
    good = status == 200 and AMOUNT.search(first.text) is not None
    return answered - started, first.at - started, last.at - started, good


async def converse(
    peer: TelegramPeer,
    server: Server,
    session: aiohttp.ClientSession,
    chat: TelegramChat,
    args: argparse.Namespace,
    turns: int,
    barrier: asyncio.Barrier,
) -> None:
    await turn(peer, server, session, chat, f"/start {chat.token}", 1)
    await settle(args.url, chat)
    for _ in range(args.warmup):
        before = len(peer.messages_to(chat.chat_id))
        await turn(peer, server, session, chat, TURN_TEXT, 1)
        await settle(args.url, chat)
        chat.replies_per_turn = len(peer.messages_to(chat.chat_id)) - before
    await barrier.wait()
    chat.started = time.monotonic()
    for _ in range(turns):
        webhook, first, last, good = await turn(
            peer, server, session, chat, TURN_TEXT, chat.replies_per_turn
        )
        chat.webhook.append(webhook)
        chat.first.append(first)
        chat.last.append(last)
        chat.failures += not good
    chat.finished = time.monotonic()


async def drive_telegram(
    peer: TelegramPeer, server: Server, args: argparse.Namespace, turns: int, first_chat: int
) -> dict[str, Any]:
    refs = await debtor_refs(args.url, args.chats, seed=11)
    tokens = await issue_tokens(args.url, refs)
    chats = [TelegramChat(first_chat + n, token) for n, token in enumerate(tokens)]
    barrier = asyncio.Barrier(len(chats))
    connector = aiohttp.TCPConnector(limit=len(chats))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        asyncio.timeout(RUN_LIMIT_S),
    ):
        await asyncio.gather(
            *(converse(peer, server, session, chat, args, turns, barrier) for chat in chats)
        )
    window = max(c.finished for c in chats) - min(c.started for c in chats)
    measured = len(chats) * turns
    return {
        "turns": measured,
        "failures": sum(c.failures for c in chats),
        "replies_per_turn": sorted({c.replies_per_turn for c in chats}),
        "window_seconds": round(window, 3),
        "turns_per_second": round(measured / window, 1),
        "latency_to_webhook_answer": latency_summary_ms([s for c in chats for s in c.webhook]),
        "latency_to_first_send_message": latency_summary_ms([s for c in chats for s in c.first]),
        "latency_to_last_send_message": latency_summary_ms([s for c in chats for s in c.last]),
    }


@asynccontextmanager
async def one_server(
    peer: TelegramPeer, peer_url: str, url: str, rate: float, per_chat: float
) -> AsyncIterator[Server]:
    """`gmina run` with the channel on, once it has set its webhook at the peer."""
    os.environ.update(channel_environment(peer_url, rate, per_chat))
    peer.webhook = None
    async with child_server(url) as server:
        async with asyncio.timeout(START_LIMIT_S):
            await peer.wait_for_webhook()
        yield server


async def run(args: argparse.Namespace) -> None:
    print(f"building a {args.taxpayers}-taxpayer city on postgresql", flush=True)
    DATA.mkdir(parents=True, exist_ok=True)  # where the server's log goes
    url = fresh_store("postgresql", STORE_NAME)
    args.url = url
    gmina(["db", "upgrade"], store_env(url))
    gmina(["demo-data", "--taxpayers", str(args.taxpayers), "--seed", "1"], store_env(url))
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.bench_telegram_turns", *sys.argv[1:]]),
        "store": "postgresql",
        "taxpayers": args.taxpayers,
        "chats": args.chats,
        "turns_per_chat": args.turns,
        "warmup_turns_per_chat": args.warmup,
        "message": TURN_TEXT,
        "server": "gmina run, one worker, in a child process; the peer in the driver's process",
    }
    async with peer_server() as (peer, peer_url):
        async with one_server(peer, peer_url, url, UNLIMITED, UNLIMITED) as server:
            refs = await debtor_refs(url, args.chats, seed=7)
            chats = fresh_chats(refs, await issue_tokens(url, refs))
            results["rest"] = await drive(server, chats, args.warmup, args.turns)
            report("rest", results["rest"]["turns_per_second"], results["rest"]["latency"])
            results["telegram"] = await drive_telegram(peer, server, args, args.turns, CHAT_BASE)
            report_telegram("telegram", results["telegram"])
        async with one_server(peer, peer_url, url, 30, 1) as server:
            limited = await drive_telegram(
                peer, server, args, args.limited_turns, CHAT_BASE + args.chats
            )
            results["telegram_with_telegram_limits"] = limited
            report_telegram("telegram at 30/s and 1/s per chat", limited)
    write_results("telegram_turns", results)


def report(name: str, throughput: float, latency: dict[str, float]) -> None:
    print(
        f"  {name}: {throughput} turns/s, p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms",
        flush=True,
    )


def report_telegram(name: str, figures: dict[str, Any]) -> None:
    report(f"{name} (to the last sendMessage)", figures["turns_per_second"],
           figures["latency_to_last_send_message"])  # fmt: skip
    if figures["failures"]:
        print(f"  {name}: {figures['failures']} failures", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--turns", type=int, default=20, help="measured turns per chat")
    parser.add_argument("--warmup", type=int, default=3, help="turns per chat before")
    parser.add_argument("--taxpayers", type=int, default=2000)
    parser.add_argument(
        "--limited-turns", type=int, default=5, help="turns per chat under Telegram's limits"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
