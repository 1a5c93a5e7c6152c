"""What every `gmina` command shares: settings loaded once, logging, the store, asyncio."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.settings import ConfigError, Settings, load_settings
from storage.db import create_engine, make_sessionmaker

T = TypeVar("T")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # rasa-sdk announces every action it registers at INFO; that is start-up noise here.
    logging.getLogger("rasa_sdk").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def settings_from(ctx: click.Context) -> Settings:
    """The settings, loaded on first use; bad configuration ends the command with one line."""
    root = ctx.find_root()
    root.ensure_object(dict)
    if "settings" not in root.obj:
        try:
            root.obj["settings"] = load_settings()
        except ConfigError as exc:
            raise click.ClickException(f"configuration: {exc}") from exc
        configure_logging(root.obj["settings"].logging.level)
    settings: Settings = root.obj["settings"]
    return settings


def run(coroutine: Awaitable[T]) -> T:
    async def _wrapped() -> T:
        return await coroutine

    return asyncio.run(_wrapped())


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(
        settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def with_store(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """Run `work` with a session factory on the configured store, then dispose of the engine."""

    async def _run() -> T:
        async with open_store(settings) as sessions:
            return await work(sessions)

    return asyncio.run(_run())


class DateParam(click.ParamType[date]):
    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)


DATE = DateParam()
