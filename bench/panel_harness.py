"""What the panel's benchmarks share: a served app with the panel on, a signed-in client, and
`measure` for page times.

    async with served_panel(url) as served:                  # init_app on 127.0.0.1, port 0
        async with signed_in(served, "bench.clerk", Role.CLERK) as client:
            result = await measure(client, ["/panel/handoffs"], requests=500)
    # {"n", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms", "rps", "concurrency"}

The server runs in this process's event loop (as `bench_conversation.same_process_server`), so a
profile of the benchmark shows the server's work too. Every answer must be 200: anything else
stops the benchmark, since a fast refusal measures nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bench.city import store_env
from bench.common import latency_summary_ms
from bot.panel.auth import SECOND_FACTOR_PATH
from bot.panel.second_factor import ENROL_PATH
from bot.panel.state import PANEL
from bot.panel.totp import code_at, step_of
from bot.web import init_app
from kernel.clock import Clock, SystemClock
from kernel.settings import Settings, load_settings
from kernel.webkeys import SESSIONS
from storage.second_factor import second_factor
from storage.staff import Role, add_staff, list_staff

SESSION_SECRET = "bench-panel-session-secret-0123456789abcdef"
PASSWORD = "Bench panel password 1"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_SECRET_ON_PAGE = re.compile(r'id="totp-secret">([A-Z2-7 ]+)</code>')


def panel_bench_settings(url: str) -> Settings:
    """What `gmina run` would read on the store at `url`, with the panel on."""
    env = {
        **store_env(url),
        "GMINA__PANEL__ENABLED": "true",
        "GMINA__PANEL__SESSION_SECRET": SESSION_SECRET,
    }
    return load_settings(environ=env)


@dataclass(frozen=True)
class ServedPanel:
    base_url: str
    app: web.Application


@asynccontextmanager
async def served_panel(url: str, clock: Clock | None = None) -> AsyncIterator[ServedPanel]:
    """The whole app with the panel on, over the store at `url`, on a free port."""
    app = init_app(panel_bench_settings(url), clock=clock or SystemClock())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield ServedPanel(f"http://{host}:{port}", app)
    finally:
        await runner.cleanup()


async def _ensure_account(served: ServedPanel, name: str, role: Role) -> None:
    async with served.app[SESSIONS]() as session:
        if name not in {member.name for member in await list_staff(session)}:
            now = SystemClock().now()
            await add_staff(session, name, role, PASSWORD, actor="staff:bench", now=now)
            await session.commit()


@asynccontextmanager
async def signed_in(
    served: ServedPanel, name: str = "bench.clerk", role: Role = Role.CLERK
) -> AsyncIterator[aiohttp.ClientSession]:
    """A client signed in to the panel as `name` (the account added if need be)."""
    await _ensure_account(served, name, role)
    # unsafe: the cookie jar keeps cookies of an IP address (127.0.0.1).
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=served.base_url, cookie_jar=jar) as client:
        async with client.get("/panel/login") as form:
            found = _CSRF_META.search(await form.text())
        if found is None:
            raise SystemExit("the login page carries no CSRF token: is the panel on?")
        fields = {"username": name, "password": PASSWORD, "csrf_token": found.group(1)}
        async with client.post("/panel/login", data=fields, allow_redirects=False) as answer:
            if answer.status != 303:
                raise SystemExit(f"login of {name} answered {answer.status}")
            if answer.headers["Location"].startswith(SECOND_FACTOR_PATH):
                await _pass_second_factor(client, served, name)
        yield client


async def _pass_second_factor(
    client: aiohttp.ClientSession, served: ServedPanel, name: str
) -> None:
    """An approver or admin: enrol (a new account) or type the current code. The secret is read
    back from the store (the harness holds the panel's key), so any bench account works."""
    async with served.app[SESSIONS]() as session:
        stored = await second_factor(session, name)
    async with client.get(SECOND_FACTOR_PATH) as page:
        html = await page.text()
    found = _CSRF_META.search(html)
    shown = _SECRET_ON_PAGE.search(html)
    if found is None:
        raise SystemExit("the second-factor page carries no CSRF token")
    secret = shown.group(1).replace(" ", "") if shown else None
    if secret is None and stored.encrypted_secret is not None:
        secret = served.app[PANEL].secrets.open(name, stored.encrypted_secret)
    if secret is None:
        raise SystemExit(f"the second factor of {name} cannot be read with this session secret")
    path = ENROL_PATH if shown else SECOND_FACTOR_PATH
    code = code_at(secret, step_of(SystemClock().now()))
    fields = {"code": code, "csrf_token": found.group(1)}
    async with client.post(path, data=fields, allow_redirects=False) as answer:
        if answer.status not in (200, 303):
            raise SystemExit(f"the second factor of {name} answered {answer.status}")


async def measure(
    client: aiohttp.ClientSession,
    paths: Sequence[str],
    requests: int,
    *,
    concurrency: int = 1,
) -> dict[str, Any]:
    """GET `paths` in turn, `requests` times over `concurrency` workers; the latency summary
    (ms) and requests a second. A non-200 answer stops the benchmark."""
    turns = itertools.islice(itertools.cycle(paths), requests)
    latencies: list[float] = []

    async def worker() -> None:
        for path in turns:
            started = time.perf_counter()
            async with client.get(path, allow_redirects=False) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"GET {path} answered {response.status}")
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        **latency_summary_ms(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "concurrency": concurrency,
    }
