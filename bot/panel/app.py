"""Mounting the panel: `setup_panel(app, settings)`, called by `bot.web.init_app`.

Off unless `panel.enabled` (then nothing answers under `/panel/`: 404). With `panel.port` set the
panel is an app of its own, served on that port (and `panel.bind`) beside the main one, and the
main port has no `/panel/`. On, it adds the panel's
middlewares (session, then CSRF; both act only under `/panel/`), its own routes (login, logout,
language, the first page, assets) and each feature's: `FEATURES` names the modules
`bot/panel/<feature>.py`, each exposing

    routes() -> list[web.RouteDef]   # paths under /panel/
    NAV: NavItem | None              # its entry in the navigation, or None

A feature module is imported when the panel is set up, so it may import this module.
"""

from __future__ import annotations

import functools
import importlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType

from aiohttp import web

from bot.panel import audit_page, home, login, second_factor
from bot.panel.auth import session_middleware
from bot.panel.csrf import csrf_middleware
from bot.panel.sessions import SessionCodec
from bot.panel.state import PANEL, NavItem, PanelRoom
from bot.panel.totp import SecretBox
from kernel.errors import ConfigurationError
from kernel.settings import Settings
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS

log = logging.getLogger(__name__)

__all__ = ["FEATURES", "PANEL_SITE", "NavItem", "PanelSite", "feature_modules", "setup_panel"]

# In the order of the navigation.
FEATURES = ("handoffs", "cases", "broadcasts", "money", "delivery")
# The panel's own pages with an entry in the navigation, after the features'.
CORE_PAGES = (audit_page,)


def feature_modules() -> list[ModuleType]:
    return [importlib.import_module(f"bot.panel.{name}") for name in FEATURES]


@dataclass
class PanelSite:
    """Where the panel listens when it has a port of its own; `url` is filled at start-up."""

    url: str | None = None


PANEL_SITE = web.AppKey("panel_site", PanelSite)


def setup_panel(app: web.Application, settings: Settings) -> None:
    """Mount the panel on `app`, or, with `panel.port` set, on an app of its own that `app`
    serves on that port while it runs (the resident-facing port then has no `/panel/`)."""
    if not settings.panel.enabled:
        return
    secret = settings.panel.session_secret
    if secret is None:  # settings refuse this already; kept for the type checker
        raise ValueError("panel.session_secret is not set")
    features = feature_modules()
    room = PanelRoom(
        settings=settings,
        codec=SessionCodec(secret),
        secrets=SecretBox(secret),
        nav=tuple(module.NAV for module in [*features, *CORE_PAGES] if module.NAV is not None),
    )
    if settings.panel.port is None:
        _mount(app, room, features)
        return
    panel_app = web.Application()
    panel_app[SETTINGS] = settings
    panel_app[CLOCK] = app[CLOCK]
    _mount(panel_app, room, features)
    site = PanelSite()
    app[PANEL_SITE] = site
    app.cleanup_ctx.append(functools.partial(_serve_on_own_port, panel_app, site))


def _mount(app: web.Application, room: PanelRoom, features: list[ModuleType]) -> None:
    app[PANEL] = room
    app.middlewares.append(session_middleware())
    app.middlewares.append(csrf_middleware())
    app.router.add_routes(login.routes())
    app.router.add_routes(second_factor.routes())
    app.router.add_routes(home.routes())
    for module in [*features, *CORE_PAGES]:
        app.router.add_routes(module.routes())


async def _serve_on_own_port(
    panel_app: web.Application, site: PanelSite, app: web.Application
) -> AsyncIterator[None]:
    """The panel's app on panel.bind (or web.host):panel.port, sharing `app`'s store, for as
    long as `app` runs."""
    settings = app[SETTINGS]
    host = settings.panel.bind or settings.web.host
    panel_app[SESSIONS] = app[SESSIONS]
    runner = web.AppRunner(panel_app, handler_cancellation=True)
    await runner.setup()
    try:
        tcp = web.TCPSite(
            runner, host, settings.panel.port, reuse_port=settings.web.workers > 1 or None
        )
        await tcp.start()
    except OSError as exc:
        await runner.cleanup()
        key = "panel.bind" if isinstance(exc, socket.gaierror) else "panel.port"
        raise ConfigurationError(
            f"{key}: cannot listen on {host}:{settings.panel.port}: {exc.strerror}"
        ) from None
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    site.url = f"http://{shown}:{bound_port}"
    log.info("panel: on %s/panel/ (not on web.port)", site.url)
    yield
    await runner.cleanup()
