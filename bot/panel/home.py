"""The panel's first page (`GET /panel/`): who is signed in and the features they may open; and
the style sheet and script every page uses (`/panel/assets/`)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.panel.auth import HOME_PATH, requires
from bot.panel.render import render
from storage.staff import Role

STATIC = Path(__file__).with_name("static")
ASSETS = {"panel.css": "text/css"}


@requires(Role.CLERK)
async def home(request: web.Request) -> web.StreamResponse:
    return await render(request, "panel/index.html")


async def to_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently(HOME_PATH)


def _asset_route(name: str, content_type: str) -> web.RouteDef:
    body = (STATIC / name).read_bytes()

    async def asset(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type=content_type, charset="utf-8")

    return web.get(f"/panel/assets/{name}", asset)


def routes() -> list[web.RouteDef]:
    return [
        web.get(HOME_PATH, home),
        web.get("/panel", to_home),
        *(_asset_route(name, kind) for name, kind in ASSETS.items()),
    ]
