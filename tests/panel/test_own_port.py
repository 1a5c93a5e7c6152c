"""`panel.port`: the panel on a port of its own, and not on the residents' port."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.panel.app import PANEL_SITE
from bot.web import init_app
from kernel.errors import ConfigurationError
from kernel.webkeys import CLOCK
from storage.staff import Role
from tests.conftest import Store
from tests.panel.conftest import ClientMaker, csrf_token_of
from tests.panel_helpers import PASSWORD, ensure_staff, panel_settings


async def test_the_panel_answers_on_its_own_port_only(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    app = init_app(panel_settings(store.url, panel={"port": 0, "bind": "127.0.0.1"}))
    residents: TestClient = await aiohttp_client(app)  # type: ignore[type-arg]
    assert (await residents.get("/panel/login")).status == 404
    assert (await residents.get("/health")).status == 200
    panel_url = app[PANEL_SITE].url
    assert panel_url is not None
    assert panel_url != str(residents.make_url("")).rstrip("/")
    await ensure_staff(store.sessions, "olek", Role.CLERK, app[CLOCK].now())
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=panel_url, cookie_jar=jar) as browser:
        async with browser.get("/panel/login") as form:
            token = csrf_token_of(await form.text())
        fields = {"username": "olek", "password": PASSWORD, "csrf_token": token}
        async with browser.post("/panel/login", data=fields) as home:
            assert home.status == 200
            assert str(home.url).endswith("/panel/")
        async with browser.get("/webhooks/rest/webhook") as resident_route:
            assert resident_route.status == 404


async def test_a_port_in_use_stops_start_up_naming_the_key(store: Store) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = init_app(panel_settings(store.url, panel={"port": port, "bind": "127.0.0.1"}))
        runner = web.AppRunner(app)
        with pytest.raises(ConfigurationError, match=rf"^panel.port: cannot listen on .*:{port}"):
            await runner.setup()  # start-up: the panel's site is bound here
        await runner.cleanup()
