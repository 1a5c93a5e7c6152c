"""Mounting the panel: `setup_panel(app, settings)`, called by `bot.web.init_app`.

Off unless `panel.enabled` (then nothing answers under `/panel/`: 404). On, it adds the panel's
middlewares (session, then CSRF; both act only under `/panel/`), its own routes (login, logout,
language, the first page, assets) and each feature's: `FEATURES` names the modules
`bot/panel/<feature>.py`, each exposing

    routes() -> list[web.RouteDef]   # paths under /panel/
    NAV: NavItem | None              # its entry in the navigation, or None

A feature module is imported when the panel is set up, so it may import this module.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from aiohttp import web

from bot.panel import home, login
from bot.panel.auth import session_middleware
from bot.panel.csrf import csrf_middleware
from bot.panel.sessions import SessionCodec
from bot.panel.state import PANEL, NavItem, PanelRoom
from kernel.settings import Settings

__all__ = ["FEATURES", "NavItem", "feature_modules", "setup_panel"]

# In the order of the navigation.
FEATURES = ("handoffs", "cases", "broadcasts", "money", "delivery")


def feature_modules() -> list[ModuleType]:
    return [importlib.import_module(f"bot.panel.{name}") for name in FEATURES]


def setup_panel(app: web.Application, settings: Settings) -> None:
    if not settings.panel.enabled:
        return
    secret = settings.panel.session_secret
    if secret is None:  # settings refuse this already; kept for the type checker
        raise ValueError("panel.session_secret is not set")
    features = feature_modules()
    nav = tuple(module.NAV for module in features if module.NAV is not None)
    app[PANEL] = PanelRoom(settings=settings, codec=SessionCodec(secret), nav=nav)
    app.middlewares.append(session_middleware())
    app.middlewares.append(csrf_middleware())
    app.router.add_routes(login.routes())
    app.router.add_routes(home.routes())
    for module in features:
        app.router.add_routes(module.routes())
