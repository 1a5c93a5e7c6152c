"""`gmina actions`: rasa-sdk's own action server over `actions/`, for a city that runs Rasa.

Rasa's `endpoints.yml` then points at it: `action_endpoint: {url: "http://HOST:5055/webhook",
token: SECRET}` (Rasa adds `?token=SECRET`; an `Authorization: Bearer SECRET` header does too).
With `actions.server_token` set, every request but `/health` must carry it (401 otherwise);
without it the server listens on loopback only, where nobody but this machine can reach it. The
actions read who the sender is from the store, never from the tracker's slots. The server runs in
one process, whose listeners open the store and configure the actions' services before the first
request.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

import click
from rasa_sdk import endpoint
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from actions import services
from bot.commands.common import settings_from
from bot.dialogue import build_executor
from kernel.clock import SystemClock
from kernel.settings import Settings
from storage.db import create_engine, make_sessionmaker

log = logging.getLogger(__name__)

DEFAULT_PORT = 5055
LOOPBACK = "127.0.0.1"
_OPEN_PATHS = ("/health",)


def presented_token(request: Request) -> str | None:
    """The secret as Rasa sends it: the `token` query parameter, or a bearer header."""
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    token = request.args.get("token")
    return str(token) if token else None


def build_action_server(settings: Settings) -> Any:
    """rasa-sdk's Sanic app serving every action of `actions/` against the configured store."""
    app: Sanic[Any, Any] = endpoint.create_app(build_executor())
    secret = settings.actions.server_token

    async def require_token(request: Request) -> HTTPResponse | None:
        if secret is None or request.path in _OPEN_PATHS:
            return None
        given = presented_token(request)
        if given is not None and hmac.compare_digest(given.encode(), secret.encode()):
            return None
        return json({"error": "the action server's token is missing or wrong"}, status=401)

    app.register_middleware(require_token, "request")

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
@click.option(
    "--host",
    default=LOOPBACK,
    show_default=True,
    help="Interface to listen on; another than loopback needs actions.server_token.",
)
@click.pass_context
def actions_command(ctx: click.Context, port: int, host: str) -> None:
    """Serve actions/ as a rasa-sdk action server, for cities that run a Rasa server."""
    settings = settings_from(ctx)
    if settings.actions.server_token is None and not _is_loopback(host):
        raise click.ClickException(
            f"the action server would answer anyone on {host}: set actions.server_token "
            "(GMINA__ACTIONS__SERVER_TOKEN) and give Rasa the same token, or listen on 127.0.0.1"
        )
    log.info("rasa-sdk action server on http://%s:%s/webhook", host, port)
    build_action_server(settings).run(
        host=host, port=port, single_process=True, access_log=False, motd=False
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
