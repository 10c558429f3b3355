"""asyncmy adapter (MySQL 8 and MariaDB)."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Coroutine, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import anyio
import sqlalchemy as sa

from .._types import DriverRow
from ..errors import ConnectionError, DeesseError
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
    decode_decimal,
    integrity_error,
    missing_table,
    quoted_names,
    stored,
)
from .tls import mysql_connect_args
from .url import DatabaseURL

__all__ = [
    "CODECS",
    "MysqlPool",
    "create_pool",
    "schema_connect_args",
    "schema_engine_url",
    "translate",
]

T = TypeVar("T")
DRIVER = "asyncmy"


def _encode_datetime(value: dt.datetime) -> dt.datetime:
    # DATETIME(6) has no zone: we store UTC and reattach it on the way out.
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _decode_datetime(value: Any) -> dt.datetime:
    # A DATETIME column comes back as a datetime; a caller's typed literal selected as an
    # extra (``SELECT %s AS at``) comes back as the text it was sent as.
    if isinstance(value, str | bytes):
        value = dt.datetime.fromisoformat(value.decode() if isinstance(value, bytes) else value)
    return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]


def _decode_date(value: Any) -> dt.date:
    if isinstance(value, str | bytes):
        return dt.date.fromisoformat(value.decode() if isinstance(value, bytes) else value)
    return value  # type: ignore[no-any-return]


def _decode_uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(value.decode() if isinstance(value, bytes) else value)


CODECS = Codecs(
    encoders={
        "str": str,
        "float": float,
        "int": int,
        "bool": int,
        "datetime": _encode_datetime,
        "date": lambda v: v,
        "uuid": lambda v: v.hex,  # CHAR(32), as SQLAlchemy's Uuid stores it
        "json": json.dumps,
        "decimal": lambda v: v,
    },
    decoders={
        "str": None,
        "float": float,
        "int": None,
        "bool": bool,  # BOOL is TINYINT(1)
        "datetime": _decode_datetime,
        "date": _decode_date,
        "uuid": _decode_uuid,
        "json": json.loads,
        "decimal": decode_decimal,  # DECIMAL comes back as Decimal
    },
)

# The errno tables (docs/reliability.md, "Connection loss", lists them; a test checks
# the two agree). Server error numbers:
# https://mariadb.com/kb/en/mariadb-error-code-reference/
_INTEGRITY = {
    1062: "unique",
    1451: "foreign_key",  # cannot delete or update a parent row
    1452: "foreign_key",  # cannot add or update a child row
    1216: "foreign_key",
    1217: "foreign_key",
    1048: "not_null",
    1364: "not_null",  # field doesn't have a default value
    3819: "check",  # MySQL 8
    4025: "check",  # MariaDB
}
# 2002/2003/2006/2013/2055: client cannot reach / lost the server; 1044/1045: access
# denied; 1049: unknown database; 1053: server shutdown in progress; 1927: connection
# killed (MariaDB); 2014: commands out of sync; 4031: disconnected for inactivity (MySQL 8).
_CONNECTION = {1044, 1045, 1049, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2014, 2055, 4031}
# Collisions with a concurrent transaction -> TransactionConflict subclass (retryable):
# 1213 deadlock (InnoDB rolled the transaction back), 1205 lock wait timeout, 3572
# NOWAIT (MySQL 8), 1020 "record has changed since last read" (MariaDB's
# innodb_snapshot_isolation: a repeatable-read write conflict).
_CONFLICTS = {1213: "deadlock", 1205: "lock_timeout", 3572: "lock_timeout", 1020: "serialization"}
_NO_SUCH_TABLE = 1146  # "Table 'shop.notes' doesn't exist" -> "push the schema"
_TLS_FAILED = (2003, 2026)  # with "SSL" in the message: the TLS handshake failed


def _constraint(errno: int, message: str) -> str | None:
    names = quoted_names(message)
    if errno == 1062:  # "Duplicate entry 'x' for key 'uq_users_email'": the key is last
        return names[-1] if names else None
    marker = message.find("CONSTRAINT")
    if marker >= 0:  # "... CONSTRAINT `fk_posts_author_id` FOREIGN KEY ..."
        after = quoted_names(message[marker:])
        return after[0] if after else None
    return None


def translate(exc: BaseException, constraints: ConstraintNames, url: str) -> DeesseError | None:
    """asyncmy/OS exception -> ``DeesseError`` (None: not a database error)."""
    from asyncmy import errors

    if isinstance(exc, errors.MySQLError):
        args = exc.args
        errno = args[0] if args and isinstance(args[0], int) else 0
        message = str(args[1]) if len(args) > 1 else str(exc)
        if errno in _INTEGRITY:
            return integrity_error(
                _INTEGRITY[errno], constraints, constraint=_constraint(errno, message)
            )
        if errno in _CONFLICTS:
            return conflict_error(_CONFLICTS[errno], "MySQL", errno, message)
        if errno == _NO_SUCH_TABLE:
            names = quoted_names(message)
            return missing_table(names[0].rpartition(".")[2] if names else message, url)
        if errno in _TLS_FAILED and "SSL" in message:
            return ConnectionError(
                f"cannot connect to MySQL/MariaDB at {url} over TLS: {message}; check ssl_ca "
                "and the host name the certificate is for"
            )
        # InterfaceError: asyncmy closed the connection ("Not connected", "Cancelled
        # during execution" after a cancelled read left it mid-protocol).
        if errno in _CONNECTION or isinstance(exc, errors.InterfaceError):
            return ConnectionError(f"cannot use MySQL/MariaDB at {url}: {message}")
        return database_error("MySQL", errno, message)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectionError(
            f"cannot connect to MySQL/MariaDB at {url}: the server's TLS certificate failed "
            f"verification ({exc.verify_message}); check ssl_ca and the host name"
        )
    if isinstance(exc, TimeoutError):
        return ConnectionError(
            f"cannot reach MySQL/MariaDB at {url}: no answer within connect_timeout; is the "
            "server running and the URL right?"
        )
    if isinstance(exc, OSError):
        return ConnectionError(
            f"cannot reach MySQL/MariaDB at {url}: {exc}; is the server running and the URL right?"
        )
    return None


class MysqlConnection(Connection):
    """One asyncmy connection (autocommit unless inside ``begin``).

    A cancelled read makes asyncmy close the connection (it cannot tell where the
    protocol stands); ``rollback`` then has nothing to do (the server drops the
    transaction with the connection) and the pool never lends it out again.
    """

    __slots__ = ("_raw", "broken", "codecs", "errors")

    def __init__(self, raw: Any, translate: Translate) -> None:
        self._raw = raw
        self.broken = False
        self.codecs = CODECS
        self.errors = DriverErrors(self, DRIVER, translate, cancel_breaks=True)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Sequence[DriverRow]:
        with self.errors:
            return await self._settle(sql, self._fetch(sql, params))

    async def _fetch(self, sql: str, params: Sequence[Any]) -> Sequence[DriverRow]:
        async with self._raw.cursor() as cur:
            await cur.execute(sql, tuple(params))
            return await cur.fetchall()  # type: ignore[no-any-return]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        with self.errors:
            return await self._settle(sql, self._execute(sql, params))

    async def _execute(self, sql: str, params: Sequence[Any]) -> ExecResult:
        async with self._raw.cursor() as cur:
            count = await cur.execute(sql, tuple(params))
            return ExecResult(count or 0, cur.lastrowid)

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        with self.errors:
            await self._settle(sql, self._executemany(sql, params))

    async def _executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        async with self._raw.cursor() as cur:
            await cur.executemany(sql, [tuple(p) for p in params])

    def _settle(self, sql: str, operation: Coroutine[Any, Any, T]) -> Awaitable[T]:
        # A write outside a transaction is its own COMMIT: it completes once sent.
        if commits_itself(sql, bool(self._raw.get_transaction_status())):
            return stored(operation)
        return operation

    async def begin(self) -> None:
        with self.errors:
            await self._raw.begin()

    async def commit(self) -> None:
        with self.errors:
            await self._raw.commit()

    async def rollback(self) -> None:
        if not self._raw.connected:
            self.broken = True
            return
        with self.errors:
            await self._raw.rollback()


class MysqlPool(Pool):
    """An asyncmy pool behind the ``Pool`` interface."""

    def __init__(
        self, raw: Any, constraints: ConstraintNames, url: str, timeout: float = 30.0
    ) -> None:
        self._raw = raw
        self._translate: Translate = partial(translate, constraints=constraints, url=url)
        self._errors = DriverErrors(None, DRIVER, self._translate)
        self._url = url
        self._timeout = timeout
        self.codecs = CODECS

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        with self._errors:
            raw = await self._acquire()
        conn = MysqlConnection(raw, self._translate)
        try:
            yield conn
        finally:
            if conn.broken or not raw.connected:
                raw.close()  # asyncmy's pool drops a closed connection on release
            # Not a coroutine in asyncmy: it closes a connection still in a transaction
            # and wakes the next waiter; nothing here can be cancelled half-way.
            self._raw.release(raw)

    async def _acquire(self) -> Any:
        try:
            # asyncmy bounds neither the wait for a free connection nor a new
            # connection's handshake: pool_timeout bounds both, as asyncpg's does.
            with anyio.fail_after(self._timeout):
                return await self._raw.acquire()
        except TimeoutError:
            raise ConnectionError(
                f"no MySQL/MariaDB connection to {self._url} within pool_timeout="
                f"{self._timeout}s: every pooled connection is busy or the server does not answer"
            ) from None

    async def close(self) -> None:
        self._raw.close()
        await self._raw.wait_closed()


async def create_pool(
    url: DatabaseURL, options: PoolOptions, constraints: ConstraintNames
) -> MysqlPool:
    """Open an asyncmy pool for ``url``; an unreachable server raises ``ConnectionError``."""
    try:
        import asyncmy
    except ImportError:  # pragma: no cover - depends on the install
        raise ConnectionError(
            "MySQL/MariaDB needs asyncmy: pip install 'deesse-async[mysql]'"
        ) from None
    minsize = min(options.pool_min_size, options.pool_size)
    with DriverErrors(None, DRIVER, partial(translate, constraints=constraints, url=url.display)):
        args = await mysql_connect_args(url)
        # asyncmy bounds only the TCP connect by connect_timeout, not the server's
        # greeting: bound each connection the pool opens now ourselves.
        with anyio.fail_after(url.connect_timeout * max(1, minsize)):
            raw = await _create_pool(asyncmy, url, args, minsize, options.pool_size)
    return MysqlPool(raw, constraints, url.display, options.pool_timeout)


async def _create_pool(
    asyncmy: Any, url: DatabaseURL, args: dict[str, Any], minsize: int, maxsize: int
) -> Any:
    u = url.url
    return await asyncmy.create_pool(
        minsize=minsize,
        maxsize=maxsize,
        host=u.host or "localhost",
        port=u.port or 3306,
        user=u.username or "root",
        password=u.password or "",
        database=u.database,
        charset="utf8mb4",
        autocommit=True,
        # Strict mode turns silent truncation into errors; UTC keeps NOW() honest.
        init_command=(
            "SET time_zone = '+00:00', sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')"
        ),
        **args,
    )


_SCHEMA_SQL_MODE = "STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE"


async def schema_connect_args(url: DatabaseURL, *, only_schema: bool = False) -> dict[str, Any]:
    """asyncmy ``connect()`` arguments for a schema engine (see ``engines.py``)."""
    args = await mysql_connect_args(url)
    # A type change into DATE/DATETIME turns 0 (a false boolean) into '0000-00-00', a
    # date no reader can decode: with these modes MariaDB refuses the plan instead.
    args["init_command"] = f"SET sql_mode = CONCAT(@@sql_mode, ',{_SCHEMA_SQL_MODE}')"
    return args


def schema_engine_url(url: DatabaseURL) -> sa.URL:
    """The SQLAlchemy URL of a schema engine: the URL as given."""
    return url.url
