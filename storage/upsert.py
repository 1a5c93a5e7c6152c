"""An INSERT that knows ON CONFLICT on either engine (SQLite and PostgreSQL spell it alike)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base


def insert_for(session: AsyncSession, entity: type[Base]) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that knows ON CONFLICT, for whichever engine the session is on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(entity)
    return sqlite.insert(entity)
