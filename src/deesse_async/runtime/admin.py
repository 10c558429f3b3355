"""Schema work through a SQLAlchemy async engine (DDL, inspection, alembic).

This is not the hot path: CRUD and queries run on the driver pool directly. The
engine here is short-lived and unpooled, and points at the same database (for a
SQLite memory database, the same shared-cache memory database).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from ..errors import ConnectionError, DatabaseError

if TYPE_CHECKING:
    from .database import Database
    from .url import DatabaseURL

__all__ = ["admin_connection", "create_missing"]


def _connect_args(url: DatabaseURL) -> dict[str, Any]:
    if url.backend == "postgresql" and url.schema:
        schema = url.schema.replace('"', '""')
        return {"server_settings": {"search_path": f'"{schema}", public'}}
    if url.backend == "sqlite":
        return {"uri": True} if url.memory_name else {}
    return {}


@asynccontextmanager
async def admin_connection(url: DatabaseURL) -> AsyncIterator[AsyncConnection]:
    """A SQLAlchemy ``AsyncConnection`` inside a transaction, for schema work."""
    engine = create_async_engine(url.url, poolclass=NullPool, connect_args=_connect_args(url))
    try:
        try:
            conn_cm = engine.begin()
            conn = await conn_cm.__aenter__()
        except (OSError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise ConnectionError(f"cannot reach {url.display} for schema work: {exc}") from None
        try:
            if url.backend == "sqlite":
                await conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            yield conn
        except BaseException as exc:
            await conn_cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await conn_cm.__aexit__(None, None, None)
    finally:
        await engine.dispose()


async def create_missing(db: Database) -> list[str]:
    """Create the tables of ``db.metadata`` that do not exist yet; returns their names."""
    url = db.url
    try:
        async with admin_connection(url) as conn:
            if url.backend == "postgresql" and url.schema:
                await conn.execute(sa.schema.CreateSchema(url.schema, if_not_exists=True))
            existing = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
            missing = [t for t in db.metadata.sorted_tables if t.name not in existing]
            await conn.run_sync(lambda c: db.metadata.create_all(c, tables=missing))
    except sa.exc.DBAPIError as exc:
        raise DatabaseError(f"creating tables on {url.display} failed: {exc.orig}") from None
    return [t.name for t in missing]
