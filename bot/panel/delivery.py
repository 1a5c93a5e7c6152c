"""The panel's feature: the outbox by channel, status and category; reminder runs (panel-money).

Not built yet: no routes, no entry in the navigation.
"""

from __future__ import annotations

from aiohttp import web

from bot.panel.app import NavItem

NAV: NavItem | None = None


def routes() -> list[web.RouteDef]:
    return []
