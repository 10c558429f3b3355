"""aiosqlite adapter (SQLite, the embedded default).

aiosqlite runs each connection in its own thread; the pool here keeps a few of them.
Connections run in autocommit mode (``isolation_level=None``) and transactions are
explicit, with foreign keys enforced on every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa

from .._types import DriverRow
from ..compile.limits import parse_stored_datetime
from ..errors import ConnectionError, DatabaseError, DeesseError
from .base import (
    Codecs,
    Connection,
    ConstraintNames,
    DriverErrors,
    ExecResult,
    Pool,
    PoolOptions,
    Translate,
    commits_itself,
    conflict_error,
    database_error,
    integrity_error,
    missing_table,
    shielded,
    stored,
)
from .tls import sqlite_target
from .url import DatabaseURL

__all__ = [
    "CODECS",
    "SqlitePool",
    "create_pool",
    "schema_connect_args",
    "schema_engine_url",
    "translate",
]

T = TypeVar("T")
DRIVER = "aiosqlite"


def _encode_datetime(value: dt.datetime) -> str:
    # SQLAlchemy's SQLite DateTime text form, fixed width so that it sorts as time does:
    # isoformat pads the year to 4 digits (strftime("%Y") does not on glibc: '999-06-01').
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _decode_datetime(value: Any) -> dt.datetime:
    return parse_stored_datetime(value).replace(tzinfo=dt.UTC)


def _decode_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _decode_decimal(value: Any) -> decimal.Decimal:
    # SQLite has no decimal: a NUMERIC value is a REAL (or an INTEGER), and the lateral
    # strategy's JSON carries it as the double's 17 significant digits. Either way the
    # double becomes the Decimal of its shortest repr (0.1 -> Decimal("0.1"), not the
    # 0.1000000000000000055... the double holds): exact to ~15-17 significant digits.
    return decimal.Decimal(repr(float(value)))


CODECS = Codecs(
    encoders={
        "str": str,
        "float": float,
        "int": int,
        "bool": int,
        "datetime": _encode_datetime,
        "date": lambda v: v.isoformat(),
        "uuid": lambda v: v.hex,  # SQLAlchemy's Uuid stores 32 hex digits off PostgreSQL
        "json": json.dumps,
        "decimal": float,  # as the literal below
    },
    decoders={
        "str": None,
        "float": float,  # a REAL column hands back an int when the value is whole
        "int": None,
        "bool": bool,
        "datetime": _decode_datetime,
        "date": dt.date.fromisoformat,
        "uuid": _decode_uuid,
        "json": json.loads,
        "decimal": _decode_decimal,
    },
    # sqlite3 binds no Decimal. As a float (as SQLAlchemy's SQLite dialect does) it keeps
    # its numeric meaning in arithmetic and comparisons, exact to ~15 significant digits;
    # as text it would compare greater than every number.
    literals={decimal.Decimal: float},
    json_decoders={"decimal": _decode_decimal},
)

# Extended result codes -> IntegrityError subclass (docs/reliability.md lists the
# tables; a test checks the two agree), https://www.sqlite.org/rescode.html#constraint
_INTEGRITY = {
    "SQLITE_CONSTRAINT_UNIQUE": "unique",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "unique",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "foreign_key",
    "SQLITE_CONSTRAINT_NOTNULL": "not_null",
    "SQLITE_CONSTRAINT_CHECK": "check",
}

# "database is locked": another connection kept the write lock past busy_timeout (5 s)
# -> LockTimeout, a TransactionConflict (retryable).
_BUSY = "SQLITE_BUSY"


def translate(exc: BaseException, constraints: ConstraintNames, url: str) -> DeesseError | None:
    """sqlite3 exception -> ``DeesseError`` (None: not a database error)."""
    if isinstance(exc, sqlite3.IntegrityError):
        kind = _INTEGRITY.get(getattr(exc, "sqlite_errorname", ""), "check")
        if str(exc).startswith("FOREIGN KEY"):  # RESTRICT fires as SQLITE_CONSTRAINT_TRIGGER
            kind = "foreign_key"
        # "UNIQUE constraint failed: users.email" / "CHECK constraint failed: ck_posts_status"
        subject = str(exc).partition(": ")[2].split(",")[0].strip()
        table, _, column = subject.partition(".")
        if column:
            return integrity_error(kind, constraints, table=table, column=column)
        return integrity_error(kind, constraints, constraint=subject or None)
    if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("no such table: "):
        return missing_table(str(exc).removeprefix("no such table: ").rpartition(".")[2], url)
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
        return ConnectionError(f"cannot open SQLite database {url}: {exc}")
    if getattr(exc, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
        return DatabaseError(
            f"SQLite database {url} is read-only (opened with ?mode=ro, or its file or "
            f"directory cannot be written): the write was refused ({exc})"
        )
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(_BUSY):
        return conflict_error("lock_timeout", "SQLite", name, str(exc))
    if isinstance(exc, sqlite3.Error):
        return database_error("SQLite", getattr(exc, "sqlite_errorname", "error"), str(exc))
    if isinstance(exc, ValueError) and "closed" in str(exc):
        return ConnectionError(f"SQLite connection to {url} is closed")
    return None


def _cannot_open(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY"))


class SqliteConnection(Connection):
    """One aiosqlite connection.

    aiosqlite queues each call to the connection's thread, and the thread runs it even
    when the caller has been cancelled meanwhile. A BEGIN that runs after its caller
    gave up would leave an idle pooled connection inside a transaction that swallows the
    next borrower's writes. So a cancelled call waits for its statement to finish (a
    barrier queued behind it) before the cancellation goes on: the connection's state
    is always known when control returns.
    """

    __slots__ = ("_raw", "broken", "codecs", "errors")

    def __init__(self, raw: Any, translate: Translate) -> None:
        self._raw = raw
        self.broken = False
        self.codecs = CODECS
        self.errors = DriverErrors(self, DRIVER, translate, unknown_breaks=False)

    async def _settle(self, sql: str, operation: Awaitable[T]) -> T:
        if commits_itself(sql, self._raw.in_transaction):
            return await stored(operation)  # its own COMMIT: see docs/reliability.md
        try:
            return await operation
        except asyncio.CancelledError:
            # The statement is queued or running in the thread and will finish anyway;
            # a barrier queued behind it returns once it has.
            with contextlib.suppress(Exception):
                await shielded(self._raw.execute_fetchall("SELECT 1"))
            raise

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Sequence[DriverRow]:
        with self.errors:
            return await self._settle(sql, self._raw.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        with self.errors:
            return await self._settle(sql, self._execute(sql, params))

    async def _execute(self, sql: str, params: Sequence[Any]) -> ExecResult:
        cursor = await self._raw.execute(sql, params)
        result = ExecResult(cursor.rowcount, cursor.lastrowid)
        await cursor.close()
        return result

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        with self.errors:
            await self._settle(sql, self._raw.executemany(sql, params))

    async def begin(self) -> None:
        await self.execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self.execute("COMMIT")

    async def rollback(self) -> None:
        if self._raw.in_transaction:
            await self.execute("ROLLBACK")


class SqlitePool(Pool):
    """Up to ``size`` aiosqlite connections, opened on demand."""

    def __init__(
        self, url: DatabaseURL, size: int, timeout: float, constraints: ConstraintNames
    ) -> None:
        self._url = url
        self._size = size
        self._timeout = timeout
        self._translate: Translate = partial(translate, constraints=constraints, url=url.display)
        self._errors = DriverErrors(None, DRIVER, self._translate, unknown_breaks=False)
        self._idle: asyncio.LifoQueue[Any] = asyncio.LifoQueue()
        self._all: list[Any] = []
        self._opening = 0
        self.codecs = CODECS

    async def _open(self) -> Any:
        with self._errors:
            raw = await self._connect()
            await self._setup(raw)
        self._all.append(raw)
        return raw

    async def _connect(self) -> Any:
        import aiosqlite

        target, is_uri = sqlite_target(self._url)
        raw = aiosqlite.connect(target, uri=is_uri, isolation_level=None)
        try:
            await raw
        except Exception:
            # aiosqlite stops its thread by posting a result to this loop: wait for it,
            # or it would post to a closed loop later.
            await anyio.to_thread.run_sync(raw._thread.join, 5.0)
            raise
        return raw

    async def _setup(self, raw: Any) -> None:
        try:
            for pragma in self._pragmas():
                # Fetch to the end: a PRAGMA left mid-result keeps a statement active, and
                # then case_sensitive_like cannot replace LIKE (SQLITE_BUSY, silently).
                await raw.execute_fetchall(pragma)
        except Exception as exc:
            await raw.close()
            if not self._url.read_only and _cannot_open(exc):
                raise ConnectionError(
                    f"cannot open SQLite database {self._url.display} for writing ({exc}); if "
                    "it is on a read-only medium or directory, open it read-only with ?mode=ro"
                ) from exc
            raise

    def _pragmas(self) -> list[str]:
        pragmas = [
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
            # LIKE is case-sensitive on PostgreSQL; make SQLite's agree (ilike lowers both).
            "PRAGMA case_sensitive_like = ON",
        ]
        if self._url.read_only:
            # Read the file now, so that a database that cannot be opened fails here.
            pragmas.append("SELECT count(*) FROM sqlite_master")
        elif self._url.memory_name is None:
            # WAL lets readers run while one connection writes.
            pragmas += ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"]
        return pragmas

    async def _get(self) -> Any:
        if not self._idle.empty():
            return self._idle.get_nowait()
        if len(self._all) + self._opening < self._size:
            self._opening += 1
            try:
                return await self._open()
            finally:
                self._opening -= 1
        try:
            with anyio.fail_after(self._timeout):
                return await self._idle.get()
        except TimeoutError:
            raise ConnectionError(
                f"no SQLite connection free after {self._timeout}s (pool_size={self._size}); "
                "raise pool_size or shorten transactions"
            ) from None

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        raw = await self._get()
        conn = SqliteConnection(raw, self._translate)
        try:
            yield conn
        finally:
            if conn.broken or raw.in_transaction:  # e.g. a failed COMMIT leaves one open
                await shielded(self._release(raw, conn))
            else:
                self._idle.put_nowait(raw)

    async def _release(self, raw: Any, conn: SqliteConnection) -> None:
        if not conn.broken and raw.in_transaction:
            try:
                await raw.execute("ROLLBACK")
            except Exception:
                conn.broken = True
        if conn.broken and self._url.memory_name is None:
            # Closing the only connection of a memory database would drop the database.
            if raw in self._all:  # (not if close() already took it)
                self._all.remove(raw)
            with contextlib.suppress(Exception):
                await raw.close()
            return
        self._idle.put_nowait(raw)

    async def open(self) -> None:
        """Open the first connection now (keeps a memory database alive, checks the path)."""
        self._idle.put_nowait(await self._open())

    async def close(self) -> None:
        conns, self._all = self._all, []
        while not self._idle.empty():
            self._idle.get_nowait()
        for raw in conns:
            await raw.close()


async def create_pool(
    url: DatabaseURL, options: PoolOptions, constraints: ConstraintNames
) -> SqlitePool:
    """Open a SQLite pool (one connection for a memory database, which it keeps alive)."""
    size = 1 if url.memory_name is not None else max(1, options.pool_size)
    pool = SqlitePool(url, size, options.pool_timeout, constraints)
    await pool.open()
    return pool


async def schema_connect_args(url: DatabaseURL, *, only_schema: bool = False) -> dict[str, Any]:
    """pysqlite ``connect()`` arguments for a schema engine (see ``engines.py``)."""
    return {"uri": True} if url.memory_name or url.sqlite_uri else {}


def schema_engine_url(url: DatabaseURL) -> sa.URL:
    """The SQLAlchemy URL of a schema engine (a file URI keeps its query: mode=ro...)."""
    if url.memory_name is None and url.sqlite_uri:
        # pysqlite passes the query (mode=ro...) into the file: URI it opens.
        return sa.make_url(f"sqlite+aiosqlite:///{sqlite_target(url)[0]}&uri=true")
    return url.url
