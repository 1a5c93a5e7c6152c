"""Wires the conversation into the web server: NLU, actions' services, the engine, REST channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from actions import services
from bot.channels import rest
from bot.channels.typedefs import DIALOGUE
from bot.dialogue import DialogueEngine
from intents import NLU
from kernel.clock import Clock
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS


async def understanding(clock: Clock, cache_dir: Path | None = None) -> NLU:
    """The packaged model (trained once per process, off the event loop) on the given clock."""
    trained = await asyncio.to_thread(NLU.default, cache_dir)
    return NLU(trained.classifier, trained.extractor, trained.threshold, clock=clock)


async def _dialogue_ctx(app: web.Application) -> AsyncIterator[None]:
    sessions, clock = app[SESSIONS], app[CLOCK]
    services.configure(sessions, app[SETTINGS], clock)
    nlu = await understanding(clock, app[SETTINGS].nlu.cache_dir)
    app[DIALOGUE] = DialogueEngine(sessions, nlu, clock)
    yield


def setup_conversation(app: web.Application) -> None:
    """Call after the store's context is registered: the engine needs its session factory."""
    app.cleanup_ctx.append(_dialogue_ctx)
    rest.add_routes(app)
