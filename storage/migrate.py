"""Alembic migrations, run from code (`gmina db upgrade`), with no alembic.ini to keep in step."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from storage.db import ensure_sqlite_folder, sync_url

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's config is %-interpolated; a password may hold a literal %.
    config.set_main_option(
        "sqlalchemy.url", sync_url(url).render_as_string(False).replace("%", "%%")
    )
    return config


def upgrade(url: str, revision: str = "head") -> None:
    ensure_sqlite_folder(sync_url(url))
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    ensure_sqlite_folder(sync_url(url))  # a store not made yet is at no revision, not unreachable
    engine = create_engine(sync_url(url))
    # Alembic announces its dialect at INFO each time: noise for a look-up made at start-up.
    context_log = logging.getLogger("alembic.runtime.migration")
    level = context_log.level
    context_log.setLevel(max(level, logging.WARNING))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        context_log.setLevel(level)
        engine.dispose()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()
