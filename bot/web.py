"""The web server: one aiohttp application on which every room mounts its routes.

`init_app(settings)` is the factory that `gmina run` serves and that tests hand to
`aiohttp_client`; the store's engine is made and disposed in `cleanup_ctx`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import text

from bot.channels.conversation import setup_conversation
from bot.channels.sms import setup_sms
from bot.channels.telegram import setup_telegram
from bot.outbox import outbox_ctx
from bot.panel.app import setup_panel
from bot.portal import setup_portal_routes
from bot.retention import retention_ctx
from bot.scheduler import scheduler_ctx
from bot.typedefs import CHANNELS, ENGINE, METRICS
from bot.webchat import setup_webchat_routes
from kernel.clock import Clock, SystemClock
from kernel.ratelimit import RATE_LIMITS, RateLimits
from kernel.settings import Settings
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from notifier.unsubscribe import setup_unsubscribe_routes
from payments.web import setup_payment_routes
from storage.db import create_engine, make_sessionmaker

log = logging.getLogger(__name__)

# nginx's name and number for a request the client abandoned before the answer.
CLIENT_CLOSED_REQUEST = 499

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def channel_states(settings: Settings) -> dict[str, str]:
    """Which channels can run with the configuration given; the rest stay off."""
    twilio = settings.sms.twilio
    return {
        "rest": "on",
        "telegram": "on" if settings.telegram.token else "off",
        "sms": "on"
        if twilio.account_sid
        and twilio.auth_token
        and (twilio.from_number or twilio.messaging_service_sid)
        else "off",
        "email": "on" if settings.email.smtp_host and settings.email.from_address else "off",
    }


_WHY_OFF = {
    "telegram": "telegram.token is not set",
    "sms": "sms.twilio.account_sid, auth_token and a from_number or messaging_service_sid "
    "are not all set",
    "email": "email.smtp_host and email.from_address are not both set",
}


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(
        settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    app[ENGINE] = engine
    app[SESSIONS] = make_sessionmaker(engine)
    yield
    await engine.dispose()


def _metrics_middleware(registry: CollectorRegistry) -> Middleware:
    requests = Counter(
        "gmina_http_requests", "HTTP requests served", ["route", "status"], registry=registry
    )
    latency = Histogram(
        "gmina_http_request_seconds", "Time to answer an HTTP request", ["route"], registry=registry
    )

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            # The client went away before the answer (aiohttp cancels the handler): not our fault.
            status = CLIENT_CLOSED_REQUEST
            raise
        finally:
            requests.labels(name, str(status)).inc()
            latency.labels(name).observe(time.perf_counter() - started)

    return middleware


async def health(request: web.Request) -> web.Response:
    database = "ok"
    try:
        async with request.app[ENGINE].connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure makes the service degraded
        log.warning("health: database check failed: %s", type(exc).__name__)
        database = "unavailable"
    status = "ok" if database == "ok" else "degraded"
    return web.json_response(
        {"status": status, "database": database, "channels": request.app[CHANNELS]},
        status=200,
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def init_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    registry = CollectorRegistry()
    app = web.Application(middlewares=[_metrics_middleware(registry)])
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = registry
    app[RATE_LIMITS] = RateLimits(settings.web.rate_limit)
    app[CHANNELS] = channel_states(settings)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(retention_ctx)
    app.cleanup_ctx.append(outbox_ctx)
    app.cleanup_ctx.append(scheduler_ctx)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    setup_conversation(app)
    setup_sms(app)
    setup_telegram(app)
    setup_portal_routes(app)
    setup_webchat_routes(app)
    setup_unsubscribe_routes(app)
    setup_payment_routes(app)
    setup_panel(app, settings)
    return app


def log_channel_states(states: dict[str, str]) -> None:
    for name, state in states.items():
        if state == "off":
            log.info("channel %s: off (%s)", name, _WHY_OFF.get(name, "not configured"))
        else:
            log.info("channel %s: on", name)
