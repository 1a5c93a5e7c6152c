"""Real-browser tests: Debian's Chromium, driven by Playwright, against a real server.

Set-up for every page residents or staff open in a browser (the web chat, the payment page, the
staff panel):

- `browser`: `/usr/bin/chromium` (or `GMINA_TEST_CHROMIUM`) launched once for the package with
  Playwright's async API; Playwright's own browser download is never used. Without Chromium the
  tests are skipped with the reason, unless `CI=true`, where that fails the run.
- `live_server`: `bot.web.init_app` on a real socket (port 0) in the same event loop, serving the
  demo city on a frozen clock; SQLite unless a test asks for the engines with
  `@pytest.mark.parametrize("live_server", ENGINES, indirect=True)`. `serving(app)` serves any
  other app (other settings, a peer) the same way.
- `page`: a fresh browser context for one test, in a desktop (1280×800) and a phone (390×844)
  viewport; any console error or uncaught exception on the page fails the test.
- `screenshot(page, name)`: a PNG under `var/test-artifacts/browser/` (ignored by git).
- `panel_server`: the same live server (it has the staff panel on, `tests/panel_helpers.py`), and
  `await panel_login(page, server, name, role)`: the account added if need be, signed in through
  the login form (and its second factor for an approver or admin), the page left on `/panel/`.

Everything runs in one event loop per package (`loop_scope="package"`): the tests, the server and
Playwright's connection to the browser.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from bot.typedefs import ENGINE
from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.webkeys import SESSIONS
from storage.bindings import create_link_token
from storage.demo import DEMO_SAMPLE_REF, load_demo
from storage.staff import Role
from tests.conftest import _require_engine, reset_store
from tests.panel_helpers import PASSWORD, Authenticators, ensure_staff, panel_settings

CHROMIUM = Path(os.environ.get("GMINA_TEST_CHROMIUM", "/usr/bin/chromium"))
# No sandbox (containers run as root), no GPU, and nothing that calls Google while tests run.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "browser"

# Monday 10 May 2027, noon in Warsaw: the demo city has instalments overdue and others to come.
NOW = datetime(2027, 5, 10, 10, 0, tzinfo=UTC)
DEMO_TAXPAYERS = 20
DEMO_SEED = 2027


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    mobile: bool


DESKTOP = Viewport("desktop", 1280, 800, mobile=False)
PHONE = Viewport("phone", 390, 844, mobile=True)


@dataclass
class LiveServer:
    """The app serving the demo city at `url`, with a way into its store."""

    url: str
    engine_name: str
    app: web.Application
    clock: FrozenClock
    sample_ref: str = DEMO_SAMPLE_REF
    # The staff's authenticator apps, for the panel's second factor.
    authenticators: Authenticators = field(default_factory=Authenticators)

    async def link_token(self, ref: str | None = None) -> str:
        """A fresh `/start` token for a demo taxpayer, as the city portal would issue it."""
        async with self.app[SESSIONS]() as session:
            issued = await create_link_token(
                session, ref or self.sample_ref, self.clock.now(), timedelta(minutes=30)
            )
            await session.commit()
        return issued.token


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` listening on a free port of 127.0.0.1 in this event loop; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def _require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (see .ci/run)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        yield launched
        await launched.close()


@pytest_asyncio.fixture(scope="package", loop_scope="package", params=["sqlite"])
async def live_server(
    request: pytest.FixtureRequest, database_urls: dict[str, str]
) -> AsyncIterator[LiveServer]:
    engine_name = str(request.param)
    url = _require_engine(engine_name, database_urls)
    settings = panel_settings(url)
    clock = FrozenClock(NOW)
    app = init_app(settings, clock=clock)
    async with serving(app) as base_url:
        await reset_store(app[ENGINE])
        async with app[SESSIONS]() as session:
            await load_demo(
                session,
                taxpayers=DEMO_TAXPAYERS,
                seed=DEMO_SEED,
                clock=clock,
                ledger=settings.ledger,
            )
        yield LiveServer(base_url, engine_name, app, clock)


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def panel_server(live_server: LiveServer) -> LiveServer:
    """The live server, whose staff panel is on; parametrize `live_server` for the engines."""
    return live_server


async def panel_login(
    page: Page,
    server: LiveServer,
    name: str,
    role: Role,
    *,
    on_enrol: Callable[[Page], Awaitable[object]] | None = None,
) -> None:
    """Sign `name` in to the panel in `page` through the login form, as a person would; an
    approver or admin types the code of their authenticator app, enrolling it the first time
    (`on_enrol(page)` is awaited on the enrolment page and on the recovery codes, to look)."""
    await ensure_staff(server.app[SESSIONS], name, role, server.clock.now())
    await page.goto(f"{server.url}/panel/login", wait_until="load")
    await page.locator("#username").fill(name)
    await page.locator("#password").fill(PASSWORD)
    async with page.expect_navigation():
        await page.locator("form[action='/panel/login'] button[type=submit]").click()
    if "/panel/login/second-factor" in page.url:
        secret = page.locator("#totp-secret")
        enrolling = await secret.count() > 0
        if enrolling:
            server.authenticators.secrets[name] = (await secret.inner_text()).replace(" ", "")
            if on_enrol is not None:
                await on_enrol(page)
        await page.locator("#code").fill(server.authenticators.code(name, server.clock))
        async with page.expect_navigation():
            await page.locator("form[action^='/panel/login/second-factor'] .primary").click()
        if enrolling:
            if on_enrol is not None:
                await on_enrol(page)
            async with page.expect_navigation():
                await page.locator("#main a.button").click()
    await page.wait_for_url(f"{server.url}/panel/")


@pytest.fixture(params=[DESKTOP, PHONE], ids=lambda viewport: viewport.name)
def viewport(request: pytest.FixtureRequest) -> Viewport:
    viewport: Viewport = request.param
    return viewport


@dataclass
class PageProblems:
    """What went wrong on the page while a test ran: console errors and uncaught exceptions."""

    messages: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text} at {message.location.get('url')}")

    def exception(self, error: Exception) -> None:
        self.messages.append(f"uncaught: {error}")

    @classmethod
    def watch(cls, page: Page) -> PageProblems:
        problems = cls()
        page.on("console", problems.console)
        page.on("pageerror", problems.exception)
        return problems


@pytest_asyncio.fixture(loop_scope="package")
async def page(browser: Browser, viewport: Viewport) -> AsyncIterator[Page]:
    context = await browser.new_context(
        viewport={"width": viewport.width, "height": viewport.height},
        is_mobile=viewport.mobile,
        has_touch=viewport.mobile,
        locale="pl-PL",
        timezone_id="Europe/Warsaw",
    )
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    problems = PageProblems.watch(opened)
    yield opened
    await context.close()
    assert not problems.messages, "\n".join(problems.messages)


Screenshot = Callable[[Page, str], Awaitable[bytes]]


@pytest.fixture
def screenshot(viewport: Viewport) -> Screenshot:
    """`await screenshot(page, "name")` writes var/test-artifacts/browser/name-<viewport>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Awaitable[bytes]:
        return page.screenshot(path=ARTIFACTS / f"{name}-{viewport.name}.png")

    return take
