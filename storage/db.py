"""One engine and one session factory per process, made at start-up.

`database.url` may name a plain driver (`sqlite:///…`, `postgresql://…`); the store picks the
async driver itself (aiosqlite, psycopg 3) and the sync one for migrations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _normalise(url: str, *, sqlite_driver: str, postgres_driver: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername=f"sqlite+{sqlite_driver}" if sqlite_driver else "sqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername=f"postgresql+{postgres_driver}")
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def async_url(url: str) -> URL:
    return _normalise(url, sqlite_driver="aiosqlite", postgres_driver="psycopg")


def sync_url(url: str) -> URL:
    return _normalise(url, sqlite_driver="", postgres_driver="psycopg")


def ensure_sqlite_folder(url: URL) -> None:
    """A relative SQLite path is relative to the working folder; make its folder on first use."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one writer writes; several processes may share the file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def install_sqlite_pragmas(sync_engine: Any) -> None:
    event.listen(sync_engine, "connect", _sqlite_pragmas)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    target = async_url(url)
    ensure_sqlite_folder(target)
    # JSON columns (a conversation's state is tens of kilobytes, read and written every turn)
    # go through orjson: several times faster than the standard library, same JSON.
    options: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_text,
        "json_deserializer": orjson.loads,
    }
    if target.get_backend_name() == "postgresql":
        # No ping before each checkout (a round trip, ~8% of a chat turn's CPU): a connection the
        # server dropped fails its first statement, and the pool then renews all of them; the
        # dialogue engine reads its conversation again when that happens. Recycling stays ahead
        # of idle timeouts in firewalls and poolers.
        options.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
        # No JIT: it compiles a query whose estimate passes `jit_above_cost` (the outbox's claim
        # over a long queue) in ~10 ms, to run it in 4; every statement here is short.
        options["connect_args"] = {"options": "-c jit=off"}
    engine = create_async_engine(target, **options)
    if target.get_backend_name() == "sqlite":
        install_sqlite_pragmas(engine.sync_engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
