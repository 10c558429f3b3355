"""Schema work through a SQLAlchemy async engine (DDL, inspection, alembic).

This is not the hot path: CRUD and queries run on the driver pool directly. The
engines here are unpooled and point at the same database (for a SQLite memory
database, the same shared-cache memory database). ``schema_connection`` is what
``db.plan()``, ``db.push()`` and migrations use.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ..drivers.tls import mysql_connect_args, postgres_connect_args, sqlite_target
from ..errors import ConfigError, ConnectionError

if TYPE_CHECKING:
    from ..drivers.url import DatabaseURL

__all__ = ["admin_connection", "schema_connection"]


_SCHEMA_SQL_MODE = "STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE"


async def _connect_args(url: DatabaseURL, *, only_schema: bool = False) -> dict[str, Any]:
    """What the driver's ``connect()`` gets: the same TLS and timeout as the pool's."""
    if url.backend == "postgresql":
        args = postgres_connect_args(url)
        if url.schema:
            schema = url.schema.replace('"', '""')
            # Reflection with no schema lists every *visible* table: for schema sync only
            # the ?schema= one may be visible, or public's tables would count as ours.
            path = f'"{schema}"' if only_schema else f'"{schema}", public'
            args["server_settings"] = {"search_path": path}
        return args
    if url.backend == "mysql":
        args = await mysql_connect_args(url)
        # A type change into DATE/DATETIME turns 0 (a false boolean) into '0000-00-00', a
        # date no reader can decode: with these modes MariaDB refuses the plan instead.
        args["init_command"] = f"SET sql_mode = CONCAT(@@sql_mode, ',{_SCHEMA_SQL_MODE}')"
        return args
    return {"uri": True} if url.memory_name or url.sqlite_uri else {}


def _engine_url(url: DatabaseURL) -> sa.URL:
    if url.backend == "sqlite" and url.memory_name is None and url.sqlite_uri:
        # pysqlite passes the query (mode=ro...) into the file: URI it opens.
        return sa.make_url(f"sqlite+aiosqlite:///{sqlite_target(url)[0]}&uri=true")
    return url.url


async def _connect(url: DatabaseURL, opening: Any) -> Any:
    """Await ``opening`` (an engine connect), bounded by ``connect_timeout``."""
    try:
        # asyncmy does not bound the wait for the server's greeting itself.
        with anyio.fail_after(url.connect_timeout):
            return await opening
    except TimeoutError:
        raise ConnectionError(
            f"cannot reach {url.display} for schema work: no answer within "
            f"connect_timeout={url.connect_timeout}s"
        ) from None
    except (OSError, sa.exc.DBAPIError) as exc:
        raise _connect_error(url, exc) from None


def _connect_error(url: DatabaseURL, exc: BaseException) -> Exception:
    from ..drivers import translate

    # SQLAlchemy wraps the driver's exception (twice for asyncpg: its dialect adapts it
    # first); the adapters' tables know the driver's own.
    original: BaseException = getattr(exc, "orig", None) or exc
    while original.__cause__ is not None and type(original).__module__.startswith("sqlalchemy"):
        original = original.__cause__
    translated = translate(url, original)
    if isinstance(translated, ConnectionError | ConfigError):
        return translated
    return ConnectionError(f"cannot reach {url.display} for schema work: {exc}")


@asynccontextmanager
async def admin_connection(url: DatabaseURL) -> AsyncIterator[AsyncConnection]:
    """A SQLAlchemy ``AsyncConnection`` inside a transaction, for schema work."""
    engine = create_async_engine(
        _engine_url(url), poolclass=NullPool, connect_args=await _connect_args(url)
    )
    try:
        conn_cm = engine.begin()
        conn = await _connect(url, conn_cm.__aenter__())
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


# Schema engines are kept per URL (unpooled, so they hold no connection): SQLAlchemy
# caches compiled reflection queries per engine, and compiling them again for every
# plan() costs more than running them.
_SCHEMA_ENGINES: OrderedDict[tuple[str, bool], AsyncEngine] = OrderedDict()
_MAX_SCHEMA_ENGINES = 16


async def _schema_engine(url: DatabaseURL, write: bool) -> AsyncEngine:
    # url.url leaves out ?schema= (kept in url.options): it must be part of the key.
    address = url.url.render_as_string(hide_password=False)
    settings = f"{sorted(url.options.items())} {url.memory_name} {url.tls} {url.connect_timeout}"
    key = (f"{address} {settings}", write)
    engine = _SCHEMA_ENGINES.pop(key, None)
    if engine is None:
        args = await _connect_args(url, only_schema=True)
        engine = create_async_engine(_engine_url(url), poolclass=NullPool, connect_args=args)
        if url.backend == "sqlite":
            _sqlite_transactions(engine, "BEGIN IMMEDIATE" if write else "BEGIN")
    _SCHEMA_ENGINES[key] = engine
    while len(_SCHEMA_ENGINES) > _MAX_SCHEMA_ENGINES:
        _SCHEMA_ENGINES.popitem(last=False)
    return engine


def _sqlite_transactions(engine: AsyncEngine, begin_sql: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _autocommit_off(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we send BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = OFF")  # only effective outside a transaction
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin_sql)


@asynccontextmanager
async def schema_connection(url: DatabaseURL, *, write: bool) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction for schema sync; leaving without commit rolls back.

    On SQLite the transaction is a real one: pysqlite would otherwise commit before
    every DDL statement, so a failed plan could not be rolled back. Foreign keys are
    off while it runs, as SQLite's table-rebuild procedure requires (a DROP TABLE would
    otherwise delete or cascade into referencing rows); check ``PRAGMA
    foreign_key_check`` before committing. ``write`` takes SQLite's write lock up front.
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
        yield conn
    finally:
        await conn.close()  # rolls back what was not committed
