"""The panel's feature: broadcasts: draft, preview, approve, send, live counts (panel-broadcasts).

Not built yet: no routes, no entry in the navigation.
"""

from __future__ import annotations

from aiohttp import web

from bot.panel.app import NavItem

NAV: NavItem | None = None


def routes() -> list[web.RouteDef]:
    return []
