"""Schema work through a SQLAlchemy async engine (DDL, inspection, alembic).

This is not the hot path: CRUD and queries run on the driver pool directly. The
engines here are unpooled and point at the same database (for a SQLite memory
database, the same shared-cache memory database). ``schema_connection`` is what
``db.plan()``, ``db.push()`` and migrations use.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ..dialects import DIALECTS
from ..drivers.engines import (
    schema_connect_args,
    schema_connect_errors,
    schema_engine_url,
    schema_transaction_sql,
)
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..drivers.url import DatabaseURL

__all__ = ["admin_connection", "schema_connection"]


async def _connect(url: DatabaseURL, opening: Any) -> Any:
    """Await ``opening`` (an engine connect), bounded by ``connect_timeout``."""
    with schema_connect_errors(url):
        # asyncmy does not bound the wait for the server's greeting itself.
        with anyio.fail_after(url.connect_timeout):
            return await opening


@asynccontextmanager
async def admin_connection(url: DatabaseURL) -> AsyncIterator[AsyncConnection]:
    """A SQLAlchemy ``AsyncConnection`` inside a transaction, for schema work."""
    args = await schema_connect_args(url)  # first: it finds out whether a pooler answers
    engine = create_async_engine(schema_engine_url(url), poolclass=NullPool, connect_args=args)
    try:
        conn_cm = engine.begin()
        conn = await _connect(url, conn_cm.__aenter__())
        try:
            for sql in (*DIALECTS[url.backend].admin_connection_sql, *schema_transaction_sql(url)):
                await conn.exec_driver_sql(sql)
            yield conn
        except BaseException as exc:
            await conn_cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await conn_cm.__aexit__(None, None, None)
    finally:
        await engine.dispose()


# Schema engines are kept per URL (unpooled, so they hold no connection): SQLAlchemy
# caches compiled reflection queries per engine, and compiling them again for every
# plan() costs more than running them.
_SCHEMA_ENGINES: OrderedDict[tuple[str, bool], AsyncEngine] = OrderedDict()
_MAX_SCHEMA_ENGINES = 16


async def _schema_engine(url: DatabaseURL, write: bool) -> AsyncEngine:
    # url.url leaves out ?schema= (kept in url.options): it must be part of the key.
    address = url.url.render_as_string(hide_password=False)
    settings = f"{sorted(url.options.items())} {url.memory_name} {url.tls} {url.connect_timeout}"
    # A relative file path names a file of the current folder: the engine resolved it when
    # it was made, so the folder is part of the key.
    key = (f"{address} {settings} {os.getcwd()}", write)
    engine = _SCHEMA_ENGINES.pop(key, None)
    if engine is None:
        args = await schema_connect_args(url, only_schema=True)
        engine = create_async_engine(schema_engine_url(url), poolclass=NullPool, connect_args=args)
        DIALECTS[url.backend].schema_connection_setup(engine, write=write)
    _SCHEMA_ENGINES[key] = engine
    while len(_SCHEMA_ENGINES) > _MAX_SCHEMA_ENGINES:
        _SCHEMA_ENGINES.popitem(last=False)
    return engine


@asynccontextmanager
async def schema_connection(url: DatabaseURL, *, write: bool) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction for schema sync; leaving without commit rolls back.

    The dialect prepares the engine (``Dialect.schema_connection_setup``: on SQLite a
    real transaction with foreign keys off, and ``write`` takes the write lock up front).
    """
    if write and url.read_only:
        raise ConfigError(
            f"{url.display} is opened read-only (?mode=ro): the schema cannot be changed "
            "through it; drop mode=ro to push or migrate"
        )
    engine = await _schema_engine(url, write)
    conn = await _connect(url, engine.connect())
    try:
        await conn.begin()
        for sql in schema_transaction_sql(url, only_schema=True):
            await conn.exec_driver_sql(sql)
        yield conn
    finally:
        await conn.close()  # rolls back what was not committed
