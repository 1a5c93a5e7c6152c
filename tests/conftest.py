"""Shared fixtures: every test that touches the store runs on SQLite and on PostgreSQL.

PostgreSQL is reached at `GMINA_TEST_POSTGRES_URL`; when it cannot be reached those tests are
skipped, unless `CI=true`, where that fails the run. Each engine gets one migrated database per
test session; each test starts from empty tables with the seeded interest rates.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import create_engine, make_sessionmaker, sync_url
from storage.migrate import upgrade
from storage.models import Base, InterestRate
from storage.rates_seed import seed_rows

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENGINES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Store:
    """A migrated, emptied database for one test."""

    engine_name: str
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


def _postgres_admin_url() -> str:
    return os.environ.get("GMINA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _postgres_reachable(url: str) -> str | None:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per engine for the whole session (PostgreSQL: a fresh database)."""
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('store') / 'gmina.db'}"}
    upgrade(urls["sqlite"])
    admin_url = _postgres_admin_url()
    created: str | None = None
    if _postgres_reachable(admin_url) is None:
        created = f"gmina_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{created}"'))
        admin.dispose()
        urls["postgresql"] = sync_url(admin_url).set(database=created).render_as_string(False)
        upgrade(urls["postgresql"])
    yield urls
    if created:
        admin = sa.create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))
        admin.dispose()


def _require_engine(name: str, urls: dict[str, str]) -> str:
    if name in urls:
        return urls[name]
    reason = _postgres_reachable(_postgres_admin_url()) or "not reachable"
    message = f"PostgreSQL at GMINA_TEST_POSTGRES_URL is not reachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


async def reset_store(engine: AsyncEngine) -> None:
    """Empty every table and put the seeded interest rates back."""
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())
        await connection.execute(sa.insert(InterestRate), seed_rows())


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(engine_name: str, database_urls: dict[str, str]) -> str:
    return _require_engine(engine_name, database_urls)


@pytest.fixture
async def store(engine_name: str, store_url: str) -> AsyncIterator[Store]:
    engine = create_engine(store_url)
    await reset_store(engine)
    yield Store(engine_name, store_url, engine, make_sessionmaker(engine))
    await engine.dispose()


@pytest.fixture
async def session(store: Store) -> AsyncIterator[AsyncSession]:
    async with store.sessions() as db_session:
        yield db_session


_engine_outcomes: Counter[tuple[str, str]] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    params = report.nodeid.rpartition("[")[2].rstrip("]").split("-")
    for name in ENGINES:
        if name in params:
            _engine_outcomes[(name, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per engine, so a run shows that both stores were exercised."""
    terminalreporter.section("store engines")
    for name in ENGINES:
        passed = _engine_outcomes[(name, "passed")]
        failed = _engine_outcomes[(name, "failed")]
        skipped = _engine_outcomes[(name, "skipped")]
        terminalreporter.write_line(
            f"engine {name}: {passed} tests passed, {failed} failed, {skipped} skipped"
        )
