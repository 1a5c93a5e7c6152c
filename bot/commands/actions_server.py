"""`gmina actions`: rasa-sdk's own action server over `actions/`, for a city that runs Rasa.

Rasa's `endpoints.yml` then points at it: `action_endpoint: {url: "http://HOST:5055/webhook"}`.
The server runs in one process, whose listeners open the store and configure the actions'
services before the first request.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from rasa_sdk import endpoint
from sanic import Sanic

from actions import services
from bot.commands.common import settings_from
from bot.dialogue import build_executor
from kernel.clock import SystemClock
from kernel.settings import Settings
from storage.db import create_engine, make_sessionmaker

log = logging.getLogger(__name__)

DEFAULT_PORT = 5055


def build_action_server(settings: Settings) -> Any:
    """rasa-sdk's Sanic app serving every action of `actions/` against the configured store."""
    app: Sanic[Any, Any] = endpoint.create_app(build_executor())

    async def open_store(server: Sanic[Any, Any]) -> None:
        database = settings.database
        engine = create_engine(database.url, echo=database.echo, pool_size=database.pool_size)
        server.ctx.store = engine
        services.configure(make_sessionmaker(engine), settings, SystemClock())

    async def close_store(server: Sanic[Any, Any]) -> None:
        await server.ctx.store.dispose()

    app.register_listener(open_store, "before_server_start")
    app.register_listener(close_store, "after_server_stop")
    return app


@click.command("actions")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--host", default=None, help="Interface to listen on (default: web.host).")
@click.pass_context
def actions_command(ctx: click.Context, port: int, host: str | None) -> None:
    """Serve actions/ as a rasa-sdk action server, for cities that run a Rasa server."""
    settings = settings_from(ctx)
    listen_host = host or settings.web.host
    log.info("rasa-sdk action server on http://%s:%s/webhook", listen_host, port)
    build_action_server(settings).run(
        host=listen_host, port=port, single_process=True, access_log=False, motd=False
    )
