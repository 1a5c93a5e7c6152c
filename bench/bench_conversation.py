"""Verified balance turns through the REST webhook on the 150,000-taxpayer city, many at once.

For each engine (the city from `bench.city.ensure_city`, built on first use): `gmina run` serves
the app in a child process on a free loopback port, so that client and server do not share an event
loop; then `gmina run --workers 2..N` (the best of these child-process runs is the headline); then
the same app is served in this process with `web.AppRunner`. Each
of N conversations (random taxpayers among those who owe something today) sends `/start TOKEN`,
a few warm-up turns, then, all together, T turns of "ile mam do zapłaty?", each sent when the
previous answer has arrived. Every answer must carry an amount in złoty (the verified path, not
the offer to verify).

Beside it, in this process: the NLU parse alone, the balance the action reads alone (taxpayer and
`taxpayer_balance`, in a session of its own as the action opens it), and whole turns through
`DialogueEngine.handle` one at a time without HTTP, timed part by part. When the goal is missed,
the server is run once more under cProfile and its top functions go into the results.
Goal (issue 3): ≥ 400 turns/s with p99 ≤ 150 ms; Rasa 3.6 with an action server: 8 turns/s at
p99 7.6 s.

    python -m bench.bench_conversation [--engines sqlite,postgresql] [--conversations 50]
        [--turns 40] [--warmup 5] [--taxpayers 150000] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import pstats
import random
import re
import signal
import socket
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import sqlalchemy as sa
from aiohttp import web

import actions.balance
import bot.dialogue.engine
from actions import services
from bench.city import DATA, GMINA, ensure_city, store_env
from bench.common import RESULTS, latency_summary_ms, write_results
from bot.channels.conversation import understanding
from bot.channels.rest import WEBHOOK_PATH
from bot.dialogue import DialogueEngine, InboundMessage
from bot.web import init_app
from intents import NLU
from kernel.clock import SystemClock, today_in_warsaw
from kernel.settings import Settings, load_settings
from storage.balances import load_rate_tables, taxpayer_balance
from storage.bindings import create_link_token
from storage.conversation_state import load_conversation
from storage.db import create_engine, make_sessionmaker
from storage.ledger import LedgerPolicy
from storage.taxpayers import taxpayer_summary

ROOT = Path(__file__).resolve().parent.parent
TURN_TEXT = "ile mam do zapłaty?"
# A Polish amount as the catalogue formats it: "1 234,56 zł".
AMOUNT = re.compile(r"\d,\d\d\u00a0?\s?zł")
GOAL_TURNS_PER_S = 400.0
GOAL_P99_MS = 150.0
RASA_REFERENCE = {"server": "Rasa 3.6 with an action server", "turns_per_s": 8, "p99_ms": 7600}
SERVER_START_LIMIT_S = 120.0
RUN_LIMIT_S = 600.0
REQUEST_LIMIT_S = 60.0
COMPONENT_SAMPLES = 2000
HANDLE_TURNS = 400
PROFILE_TURNS = 10
PROFILE_WARMUP = 25  # turns enough to fill the saved state (bot.dialogue.state.MAX_EVENTS)
PROFILE_TOP = 25
STORE_PACKAGES = ("sqlalchemy", "psycopg", "greenlet", "aiosqlite", "sqlite3", "storage")
LOOP_PACKAGES = ("asyncio", "selectors", "contextvars", "socket", "aiohttp", "multidict", "yarl")
SERVER_LOG = DATA / "conversation-server.log"


@dataclass(frozen=True)
class Server:
    base_url: str
    process: asyncio.subprocess.Process | None = None  # None: served by this process


@dataclass
class Chat:
    """One resident's conversation: who, the token, and what the measured turns gave."""

    ref: str
    token: str
    sender: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex}")
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    first_sent: float = 0.0
    last_answered: float = 0.0


# --- the city's residents ------------------------------------------------------------------------


async def debtor_refs(url: str, count: int, seed: int) -> list[str]:
    """Random taxpayers among those with something to pay today: every answer must show amounts."""
    settings = settings_for(url)
    policy = LedgerPolicy.from_settings(settings.ledger)
    today = today_in_warsaw(SystemClock())
    engine = create_engine(url)
    chosen: list[str] = []
    async with make_sessionmaker(engine)() as session:
        refs = list(
            (await session.execute(sa.text("SELECT ref FROM taxpayers ORDER BY ref"))).scalars()
        )
        random.Random(seed).shuffle(refs)
        rates = await load_rate_tables(session)
        for ref in refs:
            balance = await taxpayer_balance(session, ref, today, policy, rates=rates)
            if balance is not None and balance.total > 0:
                chosen.append(ref)
            if len(chosen) == count:
                break
    await engine.dispose()
    return chosen


async def issue_tokens(url: str, refs: list[str]) -> list[str]:
    """A link token per taxpayer, as `gmina residents link-token` makes them."""
    engine = create_engine(url)
    async with make_sessionmaker(engine)() as session:
        now = datetime.now(UTC)
        tokens = [(await create_link_token(session, ref, now)).token for ref in refs]
        await session.commit()
    await engine.dispose()
    return tokens


def settings_for(url: str) -> Settings:
    """The configuration `gmina run` reads, on the city's store."""
    return load_settings(environ=store_env(url))


# --- serving -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def wait_healthy(base_url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + SERVER_START_LIMIT_S
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise SystemExit(f"the server exited with {process.returncode}; see {SERVER_LOG}")
            try:
                async with client.get(f"{base_url}/health") as response:
                    if response.status == 200 and (await response.json())["database"] == "ok":
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the server did not come up in {SERVER_START_LIMIT_S:.0f} s")


@asynccontextmanager
async def child_server(
    url: str, profile: Path | None = None, workers: int = 1
) -> AsyncIterator[Server]:
    """`gmina run --workers N` in a child process; with `profile`, one under cProfile."""
    port = free_port()
    args = ["run", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command = [*GMINA, *args]
    if profile is not None:
        command = [sys.executable, "-m", "bench.profiled_server", str(profile), *args]
    with SERVER_LOG.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *command, env=store_env(url), stdout=log, stderr=log
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(base_url, process)
        yield Server(base_url, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()


@asynccontextmanager
async def same_process_server(url: str) -> AsyncIterator[Server]:
    """`init_app` on this process's event loop, port 0."""
    runner = web.AppRunner(init_app(settings_for(url)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Server(f"http://{host}:{port}")
    finally:
        await runner.cleanup()


# --- the conversations ---------------------------------------------------------------------------


async def say(client: aiohttp.ClientSession, url: str, sender: str, text: str) -> list[Any]:
    async with client.post(url, json={"sender": sender, "message": text}) as response:
        response.raise_for_status()
        replies: list[Any] = await response.json()
    return replies


def is_balance(replies: list[Any]) -> bool:
    return bool(replies) and AMOUNT.search(replies[0].get("text", "")) is not None


async def converse(
    client: aiohttp.ClientSession,
    url: str,
    chat: Chat,
    warmup: int,
    turns: int,
    barrier: asyncio.Barrier,
    on_start: Callable[[], None] | None,
) -> None:
    await say(client, url, chat.sender, f"/start {chat.token}")
    for _ in range(warmup):
        await say(client, url, chat.sender, TURN_TEXT)
    if await barrier.wait() == 0 and on_start is not None:
        on_start()
    chat.first_sent = time.perf_counter()
    for _ in range(turns):
        started = time.perf_counter()
        try:
            replies = await say(client, url, chat.sender, TURN_TEXT)
        except (aiohttp.ClientError, TimeoutError):
            chat.failures += 1
            continue
        chat.latencies.append(time.perf_counter() - started)
        chat.failures += not is_balance(replies)
    chat.last_answered = time.perf_counter()


async def drive(
    server: Server,
    chats: list[Chat],
    warmup: int,
    turns: int,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """All conversations at once; throughput over the measured window and latency per turn.

    `on_start` is called once, when the warm-up is over and the measured turns begin."""
    url = f"{server.base_url}{WEBHOOK_PATH}"
    barrier = asyncio.Barrier(len(chats))
    connector = aiohttp.TCPConnector(limit=len(chats))
    timeout = aiohttp.ClientTimeout(total=REQUEST_LIMIT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        async with asyncio.timeout(RUN_LIMIT_S):
            await asyncio.gather(
                *(converse(client, url, chat, warmup, turns, barrier, on_start) for chat in chats)
            )
    window = max(c.last_answered for c in chats) - min(c.first_sent for c in chats)
    latencies = [s for chat in chats for s in chat.latencies]
    failures = sum(chat.failures for chat in chats)
    measured = len(chats) * turns
    latency = latency_summary_ms(latencies)
    throughput = measured / window
    return {
        "turns": measured,
        "failures": failures,
        "window_seconds": round(window, 3),
        "turns_per_second": round(throughput, 1),
        "latency": latency,
        "goal_met": failures == 0
        and throughput >= GOAL_TURNS_PER_S
        and latency["p99_ms"] <= GOAL_P99_MS,
    }


def fresh_chats(refs: list[str], tokens: list[str]) -> list[Chat]:
    return [Chat(ref, token) for ref, token in zip(refs, tokens, strict=True)]


# --- the parts of a turn, in this process --------------------------------------------------------


def measure_nlu() -> dict[str, float]:
    nlu = NLU.default()
    for _ in range(200):
        nlu.parse(TURN_TEXT, language_hint="pl")
    samples = []
    for _ in range(COMPONENT_SAMPLES):
        started = time.perf_counter()
        nlu.parse(TURN_TEXT, language_hint="pl")
        samples.append(time.perf_counter() - started)
    return latency_summary_ms(samples)


async def measure_balance(url: str, refs: list[str]) -> dict[str, float]:
    """What `action_check_balance` reads: the taxpayer, then `taxpayer_balance` without rates."""
    settings = settings_for(url)
    engine = create_engine(url, pool_size=settings.database.pool_size)
    sessions = make_sessionmaker(engine)
    policy = LedgerPolicy.from_settings(settings.ledger)
    today = today_in_warsaw(SystemClock())
    lookup = sa.text("SELECT id FROM taxpayers WHERE ref = :ref")
    async with sessions() as session:
        ids = [(await session.execute(lookup, {"ref": ref})).scalar_one() for ref in refs]
    samples = []
    for index in range(COMPONENT_SAMPLES // 4):
        taxpayer_id = ids[index % len(ids)]
        started = time.perf_counter()
        async with sessions() as session:
            summary = await taxpayer_summary(session, taxpayer_id)
            balance = summary and await taxpayer_balance(session, summary.ref, today, policy)
        elapsed = time.perf_counter() - started
        if balance is None:
            raise SystemExit(f"no balance for taxpayer {taxpayer_id}")
        if index >= len(refs):  # one round to warm the pool and the caches
            samples.append(elapsed)
    await engine.dispose()
    return latency_summary_ms(samples)


class PartTimer:
    """Wraps named functions so that each call adds its wall time to a bucket; `undo` restores."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attribute: str, bucket: str) -> None:
        original = getattr(owner, attribute)
        seconds = self.seconds
        if asyncio.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    seconds[bucket] += time.perf_counter() - started

            replacement: Callable[..., Any] = timed_async
        else:

            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    seconds[bucket] += time.perf_counter() - started

            replacement = timed
        setattr(owner, attribute, replacement)
        self._undo.append(lambda: setattr(owner, attribute, original))

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


async def measure_handle(url: str, chats: list[Chat]) -> dict[str, Any]:
    """Whole turns through `DialogueEngine.handle`, one at a time, no HTTP; time per part.

    The chats are those of a run before: verified, their saved state as long as it gets."""
    settings = settings_for(url)
    engine = create_engine(url, pool_size=settings.database.pool_size)
    sessions = make_sessionmaker(engine)
    clock = SystemClock()
    services.configure(sessions, settings, clock)
    # The server's own NLU object, so that timing its `parse` leaves the shared model alone.
    dialogue = DialogueEngine(sessions, await understanding(clock), clock)
    counts: dict[str, int] = defaultdict(int)

    def count(name: str) -> Callable[..., None]:
        return lambda *_: counts.__setitem__(name, counts[name] + 1)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", count("statements"))
    sa.event.listen(engine.sync_engine, "checkout", count("connection_checkouts"))
    parts = PartTimer()
    module = bot.dialogue.engine
    parts.wrap(module, "claim_conversation", "claim_conversation")
    parts.wrap(module, "save_conversation", "save_conversation")
    parts.wrap(dialogue.nlu, "parse", "nlu_parse")
    parts.wrap(module, "action_call", "action_request_json")
    parts.wrap(dialogue.executor, "run", "action_run")
    parts.wrap(actions.balance, "bound_taxpayer_summary", "action_run.bound_taxpayer_summary")
    parts.wrap(actions.balance, "taxpayer_balance", "action_run.taxpayer_balance")
    parts.wrap(module, "render_message", "render_message")
    samples = []
    try:
        for index in range(HANDLE_TURNS):
            chat = chats[index % len(chats)]
            started = time.perf_counter()
            replies = await dialogue.handle(InboundMessage("rest", chat.sender, TURN_TEXT, {}))
            samples.append(time.perf_counter() - started)
            if not AMOUNT.search(replies[0].text if replies else ""):
                raise SystemExit(f"no amount in the in-process answer for {chat.ref}")
    finally:
        parts.undo()
    async with sessions() as session:
        saved = await load_conversation(session, "rest", chats[0].sender)
    await engine.dispose()
    total = sum(samples)
    per_turn = {
        name: round(s / HANDLE_TURNS * 1000, 3) for name, s in sorted(parts.seconds.items())
    }
    top_level = [name for name in per_turn if "." not in name]
    per_turn["other"] = round(total / HANDLE_TURNS * 1000 - sum(per_turn[n] for n in top_level), 3)
    return {
        "latency": latency_summary_ms(samples),
        "parts_ms_per_turn": per_turn,
        **{f"{name}_per_turn": round(n / HANDLE_TURNS, 2) for name, n in sorted(counts.items())},
        "saved_state_json_bytes": len(json.dumps(saved.state)),
        "pool_pre_ping": bool(getattr(engine.sync_engine.pool, "_pre_ping", False)),
    }


# --- profiling -----------------------------------------------------------------------------------


async def profile_server(url: str, refs: list[str], tokens: list[str]) -> dict[str, Any]:
    """The measured turns of a short run against `gmina run` under cProfile (its main thread),
    with the time its garbage collector took."""
    output = DATA / "conversation-server.prof"
    collections_file = output.with_suffix(".gc.json")
    output.unlink(missing_ok=True)
    collections_file.unlink(missing_ok=True)
    async with child_server(url, profile=output) as server:
        assert server.process is not None
        start = functools.partial(server.process.send_signal, signal.SIGUSR1)
        chats = fresh_chats(refs, tokens)
        run = await drive(server, chats, PROFILE_WARMUP, PROFILE_TURNS, start)
        # Its handler writes the files before the server's loop sees the SIGINT that follows.
        server.process.send_signal(signal.SIGUSR2)
    collections = json.loads(collections_file.read_text(encoding="utf-8"))
    entries: dict[tuple[str, int, str], Any] = pstats.Stats(str(output)).stats  # type: ignore[attr-defined]
    turns: int = run["turns"]

    def ms_per_turn(seconds: float) -> float:
        return round(seconds / turns * 1000, 3)

    # Waiting for sockets (epoll) is idle time; everything else is the loop's work.
    idle = sum(v[2] for (_, _, name), v in entries.items() if "select.epoll" in name)
    busy = sum(v[2] for v in entries.values()) - idle
    by_area: dict[str, float] = defaultdict(float)
    for (path, _, name), values in entries.items():
        by_area[_area(path, name)] += values[2]
    by_area.pop("select", None)
    top = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)
    top = [item for item in top if "select.epoll" not in item[0][2]][:PROFILE_TOP]
    return {
        "turns": turns,
        "profiled_turns_per_second": run["turns_per_second"],
        "main_thread_busy_ms_per_turn": ms_per_turn(busy),
        "main_thread_idle_share": round(idle / (idle + busy), 3),
        # Collections run inside whatever allocates, so their time is also in the functions'.
        "garbage_collection": {
            **collections,
            "share_of_busy": round(sum(collections["seconds_by_generation"]) / busy, 3),
            "oldest_generation_share_of_busy": round(
                collections["seconds_by_generation"][2] / busy, 3
            ),
        },
        "self_share_by_package": {
            area: round(seconds / busy, 3)
            for area, seconds in sorted(by_area.items(), key=lambda item: -item[1])[:PROFILE_TOP]
        },
        "top_self_ms_per_turn": {
            f"{_short(path)}:{line}({name})": ms_per_turn(values[2])
            for (path, line, name), values in top
        },
        "file": str(output.relative_to(ROOT)),
    }


# "<method 'send' of '_socket.socket' objects>", "<built-in method _json.scanstring>"
# "<method 'get' of 'dict' objects>", "<built-in method time.sleep>", "<orjson.loads>"
_C_FUNCTION = re.compile(r"of '([\w.]+)' objects|built-in method ([\w.]+)|^<([\w.]+)>$")


def _short(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    return path.removeprefix(f"{ROOT}/")


def _area(path: str, name: str) -> str:
    """The package a profiled function belongs to: a library, a stdlib module, a project folder."""
    if path == "~":
        match = _C_FUNCTION.search(name)
        qualified = next((g for g in match.groups() if g), "") if match else ""
        return qualified.split(".")[0].lstrip("_") if "." in qualified else "builtins"
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/")[0]
    if "/lib/python3" in path:
        return path.rsplit("/lib/python3", 1)[1].split("/")[1].removesuffix(".py")
    return _short(path).split("/")[0]


# --- the run -------------------------------------------------------------------------------------


def server_rss_mib(server: Server) -> float | None:
    """Resident memory of a child server: the process and its workers, added up."""
    if server.process is None:
        return None
    root = psutil.Process(server.process.pid)
    processes = [root, *root.children(recursive=True)]
    return round(sum(p.memory_info().rss for p in processes) / 2**20, 1)


async def bench_engine(
    engine_name: str, url: str, args: argparse.Namespace
) -> tuple[dict[str, Any], list[str]]:
    refs = await debtor_refs(url, args.conversations, seed=7)
    results: dict[str, Any] = {"store": engine_name}
    modes: dict[str, Callable[[str], AbstractAsyncContextManager[Server]]] = {
        "child_process": child_server,
        **{
            f"child_process_{workers}_workers": functools.partial(child_server, workers=workers)
            for workers in range(2, args.workers + 1)
        },
        "same_process": same_process_server,
    }
    for mode, serve in modes.items():
        chats = fresh_chats(refs, await issue_tokens(url, refs))
        async with serve(url) as server:
            started_rss = server_rss_mib(server)
            results[mode] = await drive(server, chats, args.warmup, args.turns)
            if started_rss is not None:
                results[mode]["rss_mib_after_start"] = started_rss
                results[mode]["rss_mib_after_load"] = server_rss_mib(server)
        run = results[mode]
        print(
            f"  {mode}: {run['turns_per_second']} turns/s, p50 {run['latency']['p50_ms']} ms, "
            f"p99 {run['latency']['p99_ms']} ms, {run['failures']} failures",
            flush=True,
        )
    # The headline is what a city would run on this machine: one worker per core.
    results["headline"] = max(
        (mode for mode in modes if mode.startswith("child_process")),
        key=lambda mode: results[mode]["turns_per_second"],
    )
    results["parts"] = {
        "nlu_parse": measure_nlu(),
        "balance_query": await measure_balance(url, refs),
        # On the last run's chats, whose saved state is as long as a chat's gets.
        "handle_in_process_one_at_a_time": await measure_handle(url, chats),
    }
    parts = results["parts"]
    print(
        f"  alone: NLU p50 {parts['nlu_parse']['p50_ms']} ms; balance p50 "
        f"{parts['balance_query']['p50_ms']} ms; whole turn without HTTP p50 "
        f"{parts['handle_in_process_one_at_a_time']['latency']['p50_ms']} ms",
        flush=True,
    )
    return results, refs


def bottleneck(results: dict[str, Any], profiled: str) -> str:
    """Where a turn's time goes, from the server's profile and the turn's parts in process."""
    throughput = results[profiled]["child_process"]["turns_per_second"]
    handle = results[profiled]["parts"]["handle_in_process_one_at_a_time"]
    profile = results["profile"]
    shares: dict[str, float] = profile["self_share_by_package"]

    def share(*areas: str) -> str:
        return f"{sum(shares.get(area, 0.0) for area in areas):.0%}"

    busy, idle = profile["main_thread_busy_ms_per_turn"], profile["main_thread_idle_share"]
    largest = max(profile["top_self_ms_per_turn"].values()) / busy
    packages = ", ".join(f"{area} {part:.0%}" for area, part in list(shares.items())[:8])
    pinged = ", each checkout pinged first (pool_pre_ping)" if handle["pool_pre_ping"] else ""
    collections = profile["garbage_collection"]
    return (
        f"{profiled}: CPU of the server's one event loop, idle {idle:.0%} of the time under load; "
        f"{1000 / throughput:.1f} ms of it per turn at {throughput} "
        f"turns/s, where {GOAL_TURNS_PER_S:.0f} turns/s needs {1000 / GOAL_TURNS_PER_S:.1f} ms. "
        f"It is spread thin, no function above {largest:.0%}: the store's ORM and driver "
        f"{share(*STORE_PACKAGES)} ({handle['statements_per_turn']:g} statements in "
        f"{handle['connection_checkouts_per_turn']:g} sessions per turn{pinged}), JSON "
        f"{share('json', 'orjson')} (the saved tracker is {handle['saved_state_json_bytes']} B, "
        f"encoded or decoded 4 times a turn), the event loop and HTTP {share(*LOOP_PACKAGES)}, "
        f"messages (babel, kernel) {share('babel', 'kernel')}, NLU {share('intents', 'numpy')}; "
        f"garbage collection, counted within those, {collections['share_of_busy']:.0%}, of which "
        f"{collections['oldest_generation_share_of_busy']:.0%} in passes of the oldest "
        f"generation over the {collections['tracked_objects_at_start']} objects alive. "
        f"Self time by package under cProfile: {packages}"
    )


async def run(args: argparse.Namespace) -> None:
    SERVER_LOG.unlink(missing_ok=True)
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.bench_conversation", *sys.argv[1:]]),
        "taxpayers": args.taxpayers,
        "conversations": args.conversations,
        "turns_per_conversation": args.turns,
        "warmup_turns_per_conversation": args.warmup,
        "message": TURN_TEXT,
        "goal": {"turns_per_second": GOAL_TURNS_PER_S, "p99_ms": GOAL_P99_MS},
        "reference": RASA_REFERENCE,
        "summary": {},  # per engine, the child-process figures beside the goal
    }
    missed: list[tuple[str, str, list[str]]] = []
    for engine_name in args.engines.split(","):
        print(f"engine {engine_name}", flush=True)
        url = await asyncio.to_thread(ensure_city, engine_name, args.taxpayers)
        results[engine_name], refs = await bench_engine(engine_name, url, args)
        headline = results[engine_name][results[engine_name]["headline"]]
        results["summary"][engine_name] = {
            "server": results[engine_name]["headline"],
            "turns_per_second": headline["turns_per_second"],
            "p50_ms": headline["latency"]["p50_ms"],
            "p99_ms": headline["latency"]["p99_ms"],
            "failures": headline["failures"],
            "goal_met": headline["goal_met"],
        }
        if not headline["goal_met"]:
            missed.append((engine_name, url, refs))
    if missed:
        # PostgreSQL's driver runs on the event loop, so the profile sees the whole turn there;
        # aiosqlite's work is in a thread of its own, which cProfile does not follow.
        engine_name, url, refs = next((m for m in missed if m[0] == "postgresql"), missed[0])
        print(f"profiling the {engine_name} server", flush=True)
        tokens = await issue_tokens(url, refs)
        results["profile"] = {"store": engine_name, **await profile_server(url, refs, tokens)}
        results["bottleneck"] = bottleneck(results, engine_name)
        print(f"  {results['bottleneck']}", flush=True)
    results["previous"] = previous_summary()
    write_results("conversation", results)


def previous_summary() -> dict[str, Any] | None:
    """The figures this run replaces (the committed results), kept beside the new ones."""
    path = RESULTS / "conversation.json"
    if not path.exists():
        return None
    earlier = json.loads(path.read_text(encoding="utf-8"))
    return {
        "measured_at": earlier.get("measured_at"),
        "git_revision": earlier.get("git_revision"),
        "load_avg_at_start": earlier.get("machine", {}).get("load_avg_at_start"),
        "summary": earlier.get("summary"),
        "turns_per_second_by_server": {
            engine: {
                mode: figures["turns_per_second"]
                for mode, figures in earlier.get(engine, {}).items()
                if isinstance(figures, dict) and "turns_per_second" in figures
            }
            for engine in earlier.get("summary") or {}
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=40, help="measured turns per conversation")
    parser.add_argument("--warmup", type=int, default=5, help="turns per conversation before")
    parser.add_argument("--taxpayers", type=int, default=150_000)
    parser.add_argument(
        "--workers", type=int, default=2, help="also measure `gmina run --workers 2..N`"
    )
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
