"""What every `gmina` command shares: settings loaded once, logging, the store, asyncio."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from kernel.errors import ConfigurationError
from kernel.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # rasa-sdk announces every action it registers at INFO; that is start-up noise here.
    logging.getLogger("rasa_sdk").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def settings_from(ctx: click.Context, overrides: Mapping[str, str] | None = None) -> Settings:
    """The settings, loaded on first use; bad configuration ends the command with one line.

    `overrides` are a command's options for configuration keys, named as in the environment
    (`GMINA__WEB__PORT`): they win over both, and are checked like them."""
    root = ctx.find_root()
    root.ensure_object(dict)
    if "settings" not in root.obj or overrides:
        environ = {**os.environ, **(overrides or {})}
        try:
            root.obj["settings"] = load_settings(environ=environ)
        except ConfigurationError as exc:
            raise click.ClickException(f"configuration: {exc}") from None
        configure_logging(root.obj["settings"].logging.level)
    settings: Settings = root.obj["settings"]
    return settings


def run(coroutine: Awaitable[T]) -> T:
    async def _wrapped() -> T:
        return await coroutine

    return asyncio.run(_wrapped())


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    # The store's modules (the async engine, Alembic) are imported by the commands that use it:
    # `gmina nlu parse` answers sooner without them.
    from storage.db import create_engine, make_sessionmaker

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

    try:
        return asyncio.run(_run())
    except DBAPIError as exc:
        problem = store_problem(settings.database.url)
        if problem is None:
            raise
        raise problem from exc


def store_problem(url: str) -> click.ClickException | None:
    """One line for the operator when the store cannot be reached or is not migrated to this
    version's head (checked after a database error, or at start-up by `gmina run`)."""
    from storage.migrate import current_revision, head_revision

    shown = make_url(url).render_as_string(hide_password=True)
    try:
        current, head = current_revision(url), head_revision(url)
    except DBAPIError as exc:
        return click.ClickException(f"cannot reach the store at {shown}: {exc.orig}")
    if current != head:
        return click.ClickException(
            f"the store at {shown} is at migration {current or 'none'}, this version needs "
            f"{head}: run `gmina db upgrade`"
        )
    return None


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


class ImportOutcome(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def errors(self) -> Sequence[object]: ...

    def summary(self) -> str: ...


def report_import(
    ctx: click.Context,
    file: str,
    settings: Settings,
    work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[ImportOutcome]],
    refused: tuple[type[Exception], ...],
) -> None:
    """Run an all-or-nothing import and report it: one line a problem on stderr and exit 1,
    or its summary; a refusal of the whole file is one line naming it."""
    try:
        result = with_store(settings, work)
    except refused as exc:
        raise click.ClickException(f"{file}: nothing imported: {exc}") from None
    if not result.ok:
        for error in result.errors:
            click.echo(str(error), err=True)
        ctx.exit(1)
    click.echo(result.summary())
