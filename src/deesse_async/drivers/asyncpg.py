"""asyncpg adapter (PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import ssl
import uuid
from collections.abc import Coroutine, Sequence
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa

from .._types import DriverRow
from ..errors import ConfigError, ConnectionError, DatabaseError, DeesseError
from .base import (
    STORED,
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
from .pooling import Slots
from .tls import postgres_connect_args
from .url import DatabaseURL

__all__ = [
    "CODECS",
    "AsyncpgPool",
    "create_pool",
    "schema_connect_args",
    "schema_engine_url",
    "translate",
]

T = TypeVar("T")
DRIVER = "asyncpg"


def _datetime(value: dt.datetime) -> dt.datetime:
    # asyncpg reads 'infinity'/'-infinity' as naive datetime.max/min; every other
    # timestamptz comes back aware. (The library refuses to write those two values.)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _uuid(value: Any) -> uuid.UUID:
    # asyncpg returns its own UUID subclass; callers get the standard type everywhere.
    return uuid.UUID(bytes=value.bytes)


CODECS = Codecs(
    encoders={
        "str": str,
        "float": float,
        "int": int,
        "bool": bool,
        "datetime": lambda v: v,
        "date": lambda v: v,
        "uuid": lambda v: v,
        "json": json.dumps,
    },
    decoders={
        "str": None,
        "float": None,
        "int": None,
        "bool": None,
        "datetime": _datetime,
        "date": None,
        "uuid": _uuid,
        "json": json.loads,
    },
)

# The SQLSTATE tables (docs/reliability.md, "Connection loss", lists them; a test
# checks the two agree). See the PostgreSQL errcodes appendix.
# Class 23 (integrity constraint violation) -> IntegrityError subclass:
_INTEGRITY = {"23505": "unique", "23503": "foreign_key", "23502": "not_null", "23514": "check"}
# Classes meaning the connection is gone or unusable -> ConnectionError: 08 connection
# exception, 57P shutdown / terminated backend, 3D no such database, 28 authentication.
_CONNECTION_CLASSES = ("08", "57P", "3D", "28")
# Collisions with a concurrent transaction -> TransactionConflict subclass (retryable):
# serialization_failure, deadlock_detected, lock_not_available (NOWAIT, lock_timeout).
_CONFLICTS = {"40001": "serialization", "40P01": "deadlock", "55P03": "lock_timeout"}
_UNDEFINED_TABLE = "42P01"
# COMMIT of a transaction a failed statement aborted rolls back without an error.
_ABORTED = (
    "the transaction was rolled back, not committed: a statement in it failed and "
    "PostgreSQL aborts the whole transaction on an error (the error was caught inside the "
    "block); nothing of it is stored. Run a statement that may fail in a savepoint, "
    "`async with tx.transaction():`, to go on after its error"
)  # 'relation "notes" does not exist' -> "push the schema"


def translate(exc: BaseException, constraints: ConstraintNames, url: str) -> DeesseError | None:
    """asyncpg/OS exception -> ``DeesseError`` (None: not a database error)."""
    import asyncpg

    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        if state in _INTEGRITY:
            return integrity_error(
                _INTEGRITY[state],
                constraints,
                constraint=getattr(exc, "constraint_name", None),
                table=getattr(exc, "table_name", None),
                column=getattr(exc, "column_name", None),
                detail=getattr(exc, "detail", None) or "",
            )
        if state in _CONFLICTS:
            return conflict_error(_CONFLICTS[state], "PostgreSQL", state, str(exc))
        if state == _UNDEFINED_TABLE:
            names = re.findall(r'"([^"]+)"', str(exc))
            return missing_table(names[0] if names else str(exc), url)
        if state.startswith(_CONNECTION_CLASSES):
            return ConnectionError(f"cannot use PostgreSQL at {url}: {exc}")
        return database_error("PostgreSQL", state, str(exc))
    if isinstance(exc, asyncpg.exceptions.DataError):  # a value asyncpg cannot send
        return database_error("asyncpg", type(exc).__name__, str(exc))
    if isinstance(exc, asyncpg.ClientConfigurationError):  # e.g. sslrootcert not found
        return ConfigError(f"cannot connect to PostgreSQL at {url}: {exc}")
    # InterfaceError (ConnectionDoesNotExistError, "connection is closed") and
    # InternalClientError ("cannot switch to state ...") both mean this connection
    # cannot be used any more: the server or the socket went away mid-operation.
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        return ConnectionError(f"lost the connection to PostgreSQL at {url}: {exc}")
    return _network_error(exc, url)


def _network_error(exc: BaseException, url: str) -> DeesseError | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectionError(
            f"cannot connect to PostgreSQL at {url}: the server's TLS certificate failed "
            f"verification ({exc.verify_message}); check sslrootcert and the host name"
        )
    if isinstance(exc, OSError) and "rejected SSL upgrade" in str(exc):
        return ConnectionError(
            f"{url} does not offer TLS, and the sslmode asked for refuses to connect without "
            "it; enable ssl on the server or choose sslmode=prefer/disable"
        )
    if isinstance(exc, TimeoutError):
        # asyncpg raises it for a connect past connect_timeout and for a pool that had
        # no free connection within pool_timeout.
        return ConnectionError(
            f"no connection to PostgreSQL at {url} in time: the server did not answer within "
            "connect_timeout, or every pooled connection stayed busy for pool_timeout"
        )
    if isinstance(exc, OSError):
        return ConnectionError(
            f"cannot reach PostgreSQL at {url}: {exc}; is the server running and the URL right?"
        )
    return None


class AsyncpgConnection(Connection):
    """One asyncpg connection.

    Transactions are plain BEGIN/COMMIT/ROLLBACK rather than asyncpg's ``Transaction``
    objects: those refuse ``rollback()`` once a cancellation or a lost connection has
    left them half-started, and that error would replace the real one.
    """

    __slots__ = ("_raw", "broken", "codecs", "errors", "wrote")

    def __init__(self, raw: Any, translate: Translate) -> None:
        self._raw = raw
        self.broken = False
        self.wrote = False  # a self-committing write succeeded on this borrow
        self.codecs = CODECS
        self.errors = DriverErrors(self, DRIVER, translate)

    async def _run(self, sql: str, operation: Coroutine[Any, Any, T]) -> T:
        if not commits_itself(sql, self._raw.is_in_transaction()):
            return await operation
        result = await stored(operation)  # its own COMMIT: see docs/reliability.md
        self.wrote = True
        return result

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Sequence[DriverRow]:
        with self.errors:
            return await self._run(sql, self._raw.fetch(sql, *params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        with self.errors:
            status: str = await self._run(sql, self._raw.execute(sql, *params))
        # "INSERT 0 3", "UPDATE 2", "DELETE 1": the row count is the last word.
        last = status.rsplit(" ", 1)[-1]
        return ExecResult(int(last) if last.isdigit() else 0, None)

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        with self.errors:
            await self._run(sql, self._raw.executemany(sql, params))

    async def begin(self) -> None:
        with self.errors:
            await self._raw.execute("BEGIN")

    async def commit(self) -> None:
        with self.errors:
            status = await self._raw.execute("COMMIT")
        if status == "ROLLBACK":  # PostgreSQL's answer to COMMIT in an aborted transaction
            raise DatabaseError(_ABORTED)

    async def rollback(self) -> None:
        # Sent even when asyncpg does not report a transaction: a BEGIN whose caller was
        # cancelled may still be in flight. Outside a transaction it is only a warning.
        with self.errors:
            await self._raw.execute("ROLLBACK")


class _Borrow:
    """``async with pool.acquire() as conn`` (a class, not a generator: the hot path)."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: AsyncpgPool) -> None:
        self._pool = pool

    async def __aenter__(self) -> AsyncpgConnection:
        pool = self._pool
        conn = pool._slots.try_acquire()  # the common case: no await, no timer
        if conn is None:
            with pool._errors:
                async with asyncio.timeout(pool._timeout):  # a timer, not a task
                    conn = await pool._slots.acquire()
        conn.broken = conn.wrote = False
        self._conn = conn
        return conn

    async def __aexit__(self, *exc_info: object) -> None:
        conn = self._conn
        try:
            await self._pool._release(conn, conn.broken)
        except asyncio.CancelledError as exc:
            if conn.wrote:  # the caller's write is stored: say so
                exc.add_note(STORED)
            raise


class AsyncpgPool(Pool):
    """asyncpg connections in ``Slots`` (pooling.py) behind the ``Pool`` interface.

    Not ``asyncpg.Pool``: its release runs in a task of its own (``asyncio.shield``) and,
    by default, sends a reset query; a borrow here is one round trip of work and no task.
    """

    def __init__(
        self,
        slots: Slots[AsyncpgConnection],
        translate: Translate,
        timeout: float,
    ) -> None:
        self._slots = slots
        self._errors = DriverErrors(None, DRIVER, translate)
        self._timeout = timeout
        self.codecs = CODECS

    def acquire(self) -> _Borrow:
        """Borrow a connection: ``async with pool.acquire() as conn``."""
        return _Borrow(self)

    async def _release(self, conn: AsyncpgConnection, broken: bool) -> None:
        # Errors are dropped: the caller's result (or error) stands; a connection whose
        # state is unknown is never lent again.
        raw = conn._raw
        if not broken and raw.is_in_transaction():
            # Left inside a transaction (a rollback that could not run): undo it first.
            try:
                await shielded(raw.execute("ROLLBACK"))
            except Exception:
                broken = True
        self._slots.release(conn, broken=broken)

    async def close(self) -> None:
        await self._slots.close()


async def create_pool(
    url: DatabaseURL, options: PoolOptions, constraints: ConstraintNames
) -> AsyncpgPool:
    """Open a pool of asyncpg connections to ``url``; an unreachable server raises
    ``ConnectionError``."""
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - depends on the install
        raise ConnectionError(
            "PostgreSQL needs asyncpg: pip install 'deesse-async[postgres]'"
        ) from None
    u = url.url
    schema = (url.schema or "").replace('"', '""')
    settings = {"search_path": f'"{schema}", public'} if schema else {}
    args = {
        **postgres_connect_args(url),
        "host": u.host or "localhost",
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "database": u.database,
        "statement_cache_size": options.statement_cache_size,
        "server_settings": settings,
    }

    bound: Translate = partial(translate, constraints=constraints, url=url.display)

    async def connect() -> AsyncpgConnection:
        return AsyncpgConnection(await asyncpg.connect(**args), bound)

    slots: Slots[AsyncpgConnection] = Slots(
        connect,
        max_size=options.pool_size,
        is_closed=lambda c: c._raw.is_closed(),
        terminate=lambda c: c._raw.terminate(),
        close=lambda c: c._raw.close(timeout=2),
    )
    with DriverErrors(None, DRIVER, bound):
        await slots.fill(min(options.pool_min_size, options.pool_size))
    return AsyncpgPool(slots, bound, options.pool_timeout)


async def schema_connect_args(url: DatabaseURL, *, only_schema: bool = False) -> dict[str, Any]:
    """asyncpg ``connect()`` arguments for a schema engine (see ``engines.py``)."""
    args = postgres_connect_args(url)
    if url.schema:
        schema = url.schema.replace('"', '""')
        # Reflection with no schema lists every *visible* table: for schema sync only
        # the ?schema= one may be visible, or public's tables would count as ours.
        path = f'"{schema}"' if only_schema else f'"{schema}", public'
        args["server_settings"] = {"search_path": path}
    return args


def schema_engine_url(url: DatabaseURL) -> sa.URL:
    """The SQLAlchemy URL of a schema engine: the URL as given."""
    return url.url
