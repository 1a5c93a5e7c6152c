"""`gmina run`: serve the web server, the configured channels, the scheduler and the dispatcher.

With `web.workers` above 1 the same app runs in that many processes, each with its own event loop
and store pool, all listening on one port (SO_REUSEPORT: the kernel spreads the connections). The
store keeps them consistent: conversations are saved with a version check, scheduled work is
claimed in the database. The parent only watches: when one worker ends, it stops the others and
exits with that worker's code, so that a supervisor restarts the whole service.
"""

from __future__ import annotations

import errno
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.connection import wait
from types import FrameType

import click
from aiohttp import web

from bot.commands.common import configure_logging, settings_from, store_problem
from bot.web import channel_states, init_app, log_channel_states
from kernel.errors import ConfigurationError
from kernel.settings import Settings

log = logging.getLogger(__name__)


async def _freeze_start_up_objects(_app: web.Application) -> None:
    # The trained NLU, the domain and the imported libraries live as long as the process: moved
    # out of the collector's generations, they are no longer walked by every full collection.
    gc.collect()
    gc.freeze()


# What binding a listening socket fails with when the address is the configuration's fault.
_CANNOT_BIND = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}


def serve(settings: Settings, *, reuse_port: bool = False) -> None:
    """One server process: the app on web.host:web.port until SIGINT or SIGTERM; a host that does
    not resolve or a port that cannot be had ends it with one line naming the key."""
    host, port = settings.web.host, settings.web.port
    try:
        app = init_app(settings)
    except ConfigurationError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    app.on_startup.append(_freeze_start_up_objects)
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            print=None,
            shutdown_timeout=settings.web.shutdown_timeout_seconds,
            handler_cancellation=True,
            reuse_port=reuse_port,
        )
    except ConfigurationError as exc:
        # The panel's own port (panel.port) is bound at start-up, inside run_app.
        raise click.ClickException(f"configuration: {exc}") from None
    except socket.gaierror as exc:
        raise click.ClickException(
            f"configuration: web.host: {host!r} does not resolve: {exc.strerror}"
        ) from None
    except OSError as exc:
        if exc.errno not in _CANNOT_BIND:
            raise
        raise click.ClickException(
            f"configuration: web.port: cannot listen on {host}:{port}: {os.strerror(exc.errno)}"
        ) from None


def _stop_with_parent() -> None:
    """A worker whose parent is gone (killed, so it could not stop us) stops itself gracefully."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(settings: Settings) -> None:
    configure_logging(settings.logging.level)
    threading.Thread(target=_stop_with_parent, name="parent-watch", daemon=True).start()
    try:
        serve(settings, reuse_port=True)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


def serve_workers(settings: Settings, workers: int) -> int:
    """`workers` server processes on one port; the exit code of the first one to end."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(settings,), name=f"gmina-run-{number}")
        for number in range(1, workers + 1)
    ]

    def stop(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()

    for process in processes:
        process.start()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ended = wait([process.sentinel for process in processes])
        first = next(process for process in processes if process.sentinel in ended)
        stop(signal.SIGTERM, None)
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = first.exitcode or 0
    return 128 - code if code < 0 else code  # killed by a signal: the shell's 128 + signal


@click.command("run")
@click.option("--host", default=None, help="Override web.host.")
@click.option("--port", type=int, default=None, help="Override web.port.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Override web.workers.")
@click.pass_context
def run_command(
    ctx: click.Context, host: str | None, port: int | None, workers: int | None
) -> None:
    """Serve everything on web.host:web.port until SIGINT or SIGTERM."""
    options = {"HOST": host, "PORT": port, "WORKERS": workers}
    given = {f"GMINA__WEB__{key}": str(v) for key, v in options.items() if v is not None}
    settings = settings_from(ctx, given)
    problem = store_problem(settings.database.url)
    if problem is not None:
        raise problem
    log_channel_states(channel_states(settings))
    web_settings = settings.web
    log.info(
        "serving on http://%s:%s with %s process(es); links name %s",
        web_settings.host, web_settings.port, web_settings.workers, web_settings.public_base_url,
    )  # fmt: skip
    if web_settings.workers == 1:
        serve(settings)
        return
    if web_settings.port == 0:
        raise click.UsageError("several workers need a fixed port, not 0")
    sys.exit(serve_workers(settings, web_settings.workers))
