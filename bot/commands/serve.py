"""`gmina run`: serve the web server, the configured channels, the scheduler and the dispatcher."""

from __future__ import annotations

import logging

import click
from aiohttp import web

from bot.commands.common import settings_from
from bot.typedefs import CHANNELS
from bot.web import init_app, log_channel_states

log = logging.getLogger(__name__)


@click.command("run")
@click.option("--host", default=None, help="Override web.host.")
@click.option("--port", type=int, default=None, help="Override web.port.")
@click.pass_context
def run_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve everything on web.host:web.port until SIGINT or SIGTERM."""
    settings = settings_from(ctx)
    app = init_app(settings)
    log_channel_states(app[CHANNELS])
    listen_host = host or settings.web.host
    listen_port = settings.web.port if port is None else port
    log.info("serving on http://%s:%s", listen_host, listen_port)
    web.run_app(
        app,
        host=listen_host,
        port=listen_port,
        print=None,
        shutdown_timeout=settings.web.shutdown_timeout_seconds,
        handler_cancellation=True,
    )
