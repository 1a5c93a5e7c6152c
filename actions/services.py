"""The store, settings and clock the actions use, configured once at start-up.

`configure` is called by whoever hosts the actions: the web server (`bot.channels.conversation`),
`gmina chat`, and `gmina actions` in each Sanic worker. An action opens one session per run with
`session()`; it is closed before the action returns, and actions that write commit themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock, today_in_warsaw
from kernel.errors import InternalError
from kernel.settings import Settings
from storage.balances import RateTableCache
from storage.ledger import LedgerPolicy


class NotConfigured(InternalError):
    """An action ran before `actions.services.configure`."""


@dataclass(frozen=True)
class Services:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    clock: Clock
    ledger_policy: LedgerPolicy
    rate_tables: RateTableCache

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return today_in_warsaw(self.clock)


_current: Services | None = None


def configure(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> Services:
    global _current
    _current = Services(
        sessions,
        settings,
        clock,
        LedgerPolicy.from_settings(settings.ledger),
        RateTableCache(clock),
    )
    return _current


def current() -> Services:
    if _current is None:
        raise NotConfigured("actions.services.configure() must run before any action")
    return _current


@asynccontextmanager
async def session() -> AsyncIterator[AsyncSession]:
    async with current().sessions() as db_session:
        yield db_session
