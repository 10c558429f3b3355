"""asyncpg adapter (PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import ssl
import uuid
from collections.abc import AsyncGenerator, Coroutine, Sequence
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
    decode_decimal,
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
    "schema_transaction_sql",
    "translate",
]

T = TypeVar("T")
DRIVER = "asyncpg"
# A stream's cursor transaction: one snapshot, nothing written.
_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


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
        "decimal": lambda v: v,
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
        "decimal": decode_decimal,  # numeric comes back as Decimal
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
_UNDEFINED_TABLE = "42P01"  # 'relation "notes" does not exist' -> "push the schema"
# COMMIT of a transaction a failed statement aborted rolls back without an error.
_ABORTED = (
    "the transaction was rolled back, not committed: a statement in it failed and "
    "PostgreSQL aborts the whole transaction on an error (the error was caught inside the "
    "block); nothing of it is stored. Run a statement that may fail in a savepoint, "
    "`async with tx.transaction():`, to go on after its error"
)
# A named prepared statement missing or already there (26000 invalid_sql_statement_name,
# 42P05 duplicate_prepared_statement): the signature of a transaction-mode pooler that
# hands the server connection holding them to other clients.
_PREPARED = ("26000", "42P05")
_POOLER_HINT = (
    "; a transaction-mode pooler (PgBouncer) seems to be in front of the server: "
    "add ?pooler=transaction to the URL, or define_config(pooler='transaction')"
)


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
            # PgBouncer refuses a search_path sent at connect (?schema=).
            hint = _POOLER_HINT if "unsupported startup parameter" in str(exc) else ""
            return ConnectionError(f"cannot use PostgreSQL at {url}: {exc}{hint}")
        if state in _PREPARED:
            return database_error("PostgreSQL", state, f"{exc}{_POOLER_HINT}")
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
            "connect_timeout, or every pooled connection stayed busy for pool_timeout (open "
            "transactions and cursor streams hold theirs until they end: end them sooner or "
            "raise pool_size)"
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

    ``local``: settings that must hold for every statement but cannot live in the
    session (behind a transaction-mode pooler: ``SET LOCAL search_path`` for
    ``?schema=``). They are sent with each BEGIN, in the same round trip, and a
    statement run outside a transaction gets a transaction of its own to carry them.
    """

    __slots__ = ("_begin", "_local", "_raw", "broken", "codecs", "errors", "pooled", "wrote")
    server_cursors = True

    def __init__(
        self, raw: Any, translate: Translate, local: str | None = None, pooled: bool = False
    ) -> None:
        self._raw = raw
        self.pooled = pooled
        self.broken = False
        self.wrote = False  # a self-committing write succeeded on this borrow
        self.codecs = CODECS
        self.errors = DriverErrors(self, DRIVER, translate)
        self._local = local
        self._begin = f"BEGIN; {local}" if local else "BEGIN"

    async def _run(self, sql: str, operation: Coroutine[Any, Any, T]) -> T:
        in_transaction = self._raw.is_in_transaction()
        if self._local is not None and not in_transaction and not sql.startswith("BEGIN"):
            return await self._run_local(sql, operation)
        if not commits_itself(sql, in_transaction):
            return await operation
        result = await stored(operation)  # its own COMMIT: see docs/reliability.md
        self.wrote = True
        return result

    async def _run_local(self, sql: str, operation: Coroutine[Any, Any, T]) -> T:
        """``operation`` in a transaction of its own, opened with the ``local`` settings.

        The cancellation rule of a self-committing write holds: cancelled before COMMIT
        is sent, nothing is stored; once it is sent, it runs to the end (``stored``).
        """
        raw = self._raw
        try:
            await raw.execute(self._begin)
        except BaseException:
            operation.close()  # never started
            raise
        try:
            result = await operation
        except BaseException:
            # Failed or cancelled: undo now (the pool would, but the borrower may go on).
            with contextlib.suppress(Exception):
                await shielded(raw.execute("ROLLBACK"))
            raise
        if commits_itself(sql, False):
            await stored(raw.execute("COMMIT"))
            self.wrote = True
        else:
            await raw.execute("COMMIT")
        return result

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Sequence[DriverRow]:
        with self.errors:
            return await self._run(sql, self._raw.fetch(sql, *params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        if self._local is not None and sql.startswith("BEGIN") and not params:
            # The caller's own BEGIN (an isolation level): the settings ride on it.
            sql = f"{sql}; {self._local}"
        with self.errors:
            status: str = await self._run(sql, self._raw.execute(sql, *params))
        # "INSERT 0 3", "UPDATE 2", "DELETE 1": the row count is the last word.
        last = status.rsplit(" ", 1)[-1]
        return ExecResult(int(last) if last.isdigit() else 0, None)

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        with self.errors:
            await self._run(sql, self._raw.executemany(sql, params))

    async def cursor(
        self, sql: str, params: Sequence[Any], size: int
    ) -> AsyncGenerator[Sequence[DriverRow], None]:
        """``Connection.cursor``: an asyncpg cursor (a named portal, fetched ``size`` rows
        per round trip); other statements may run on the connection between chunks."""
        raw = self._raw
        own = not raw.is_in_transaction()
        if own:  # one snapshot for the cursor and whatever runs beside it (relations)
            with self.errors:
                await raw.execute(f"{_SNAPSHOT}; {self._local}" if self._local else _SNAPSHOT)
        try:
            with self.errors:
                cur = await raw.cursor(sql, *params)
            while True:
                with self.errors:
                    rows = await cur.fetch(size)
                if rows:
                    yield rows
                if len(rows) < size:
                    return
        finally:
            if own:  # read only: ROLLBACK ends it as COMMIT would, also after an error
                try:
                    await shielded(raw.execute("ROLLBACK"))
                except Exception:
                    self.broken = True

    async def begin(self) -> None:
        with self.errors:
            await self._raw.execute(self._begin)

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
        connector: _Connector,
    ) -> None:
        self._slots = slots
        self._errors = DriverErrors(None, DRIVER, translate)
        self._timeout = timeout
        self._connector = connector
        self.codecs = CODECS

    @property
    def behind_pooler(self) -> bool:
        """Whether connections run as ``pooler="transaction"`` asks: it was given, or
        the first connection found a pooler (False until one was opened)."""
        return self._connector.pooled

    def acquire(self) -> _Borrow:
        """Borrow a connection: ``async with pool.acquire() as conn``."""
        return _Borrow(self)

    async def _release(self, conn: AsyncpgConnection, broken: bool) -> None:
        # Errors are dropped: the caller's result (or error) stands; a connection whose
        # state is unknown is never lent again.
        # The connection goes back whatever happens here: a cancellation of the borrower
        # (raised by ``shielded`` once the rollback has run) must not lose it.
        raw = conn._raw
        try:
            if not broken and raw.is_in_transaction():
                # Left inside a transaction (a rollback that could not run): undo it first.
                with contextlib.suppress(Exception):
                    await shielded(raw.execute("ROLLBACK"))
        finally:
            # Still in a transaction: the rollback failed or never ran; never lent again.
            self._slots.release(conn, broken=broken or raw.is_in_transaction())

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
    bound: Translate = partial(translate, constraints=constraints, url=url.display)
    connector = _Connector(asyncpg, url, options, bound)
    slots: Slots[AsyncpgConnection] = Slots(
        connector.connect,
        max_size=options.pool_size,
        is_closed=lambda c: c._raw.is_closed(),
        terminate=lambda c: c._raw.terminate(),
        close=lambda c: c._raw.close(timeout=2),
    )
    with DriverErrors(None, DRIVER, bound):
        await slots.fill(min(options.pool_min_size, options.pool_size))
    return AsyncpgPool(slots, bound, options.pool_timeout, connector)


class _Connector:
    """Opens the pool's connections; the first one finds out whether a pooler answers
    (unless ``pooler=`` said so), and the others are opened accordingly."""

    def __init__(self, asyncpg: Any, url: DatabaseURL, options: PoolOptions, bound: Translate):
        self._asyncpg = asyncpg
        self._url = url
        self._options = options
        self._bound = bound
        # None: known (given, or found by an earlier pool at this address).
        self._known = asyncio.Lock() if url.pooler is None and not _pooled(url) else None
        self._use(_pooled(url))

    def _use(self, pooled: bool) -> None:
        self.pooled = pooled
        self._args = _connect_args(self._url, self._options, pooled)
        path = _search_path(self._url, only_schema=False)
        self._local = _set_local(path) if pooled else None
        # A session-mode pooler refuses the search_path at startup, and keeps a SET.
        self._session = _set_session(path) if self._url.pooler == "session" else None

    async def connect(self) -> AsyncpgConnection:
        if self._known is not None:
            async with self._known:
                if self._known is not None:
                    args = _connect_args(self._url, self._options, False)
                    raw, pooled = await _first_connection(self._asyncpg, args)
                    _DETECTED[_address(self._url)] = pooled
                    self._use(pooled)
                    self._known = None
                    if raw is not None:
                        return AsyncpgConnection(raw, self._bound, self._local, self.pooled)
        raw = await self._asyncpg.connect(**self._args)
        if self._session is not None:
            try:
                await raw.execute(self._session)
            except BaseException:
                raw.terminate()
                raise
        return AsyncpgConnection(raw, self._bound, self._local, self.pooled)


def _connect_args(url: DatabaseURL, options: PoolOptions, pooled: bool) -> dict[str, Any]:
    u = url.url
    path = _search_path(url, only_schema=False)
    return {
        **postgres_connect_args(url),
        "host": u.host or "localhost",
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "database": u.database,
        # Behind a transaction-mode pooler: no named statement (each one is parsed
        # again with its Bind, in the same Sync) and no session setting.
        "statement_cache_size": 0 if pooled else options.statement_cache_size,
        "server_settings": (
            {"search_path": path} if path and not pooled and url.pooler is None else {}
        ),
    }


# Whether a pooler answers at an address (user@host:port/db), as found by connecting.
_DETECTED: dict[str, bool] = {}


def _address(url: DatabaseURL) -> str:
    return url.url.render_as_string(hide_password=True)


def _pooled(url: DatabaseURL) -> bool:
    """``pooler="transaction"`` given, or a pooler found at the URL's address."""
    if url.pooler is not None:
        return url.pooler == "transaction"
    return _DETECTED.get(_address(url), False)


async def _first_connection(asyncpg: Any, args: dict[str, Any]) -> tuple[Any, bool]:
    """Connect with the session settings a direct server takes; returns the connection
    (None when a pooler answered: the pool then opens its own, without them) and
    whether a pooler answered.

    PgBouncer refuses a ``search_path`` in the startup packet, and it hands each client
    a BackendKeyData of its own, so the process id the connection announced is not the
    one of the server process that answers. Asked with the simple query protocol: no
    prepared statement is left behind. (A session-mode pooler is taken for a
    transaction-mode one: the safe side, at the cost of the statement cache.)
    """
    try:
        raw = await asyncpg.connect(**args)
    except asyncpg.ProtocolViolationError as exc:
        if args.get("server_settings") and "unsupported startup parameter" in str(exc):
            return None, True
        raise
    try:
        pid = int(raw.get_server_pid())
        status = await raw.execute(f"SELECT 1 WHERE pg_backend_pid() = {pid}")
    except BaseException:
        raw.terminate()
        raise
    if status == "SELECT 0":
        await raw.close(timeout=2)
        return None, True
    return raw, False


def _search_path(url: DatabaseURL, *, only_schema: bool) -> str | None:
    """The search_path ``?schema=`` asks for (None: the server's default)."""
    if not url.schema:
        return None
    schema = url.schema.replace('"', '""')
    # Reflection with no schema lists every *visible* table: for schema sync only the
    # ?schema= one may be visible, or public's tables would count as ours.
    return f'"{schema}"' if only_schema else f'"{schema}", public'


def _set_local(path: str | None) -> str | None:
    return f"SET LOCAL search_path TO {path}" if path else None


def _set_session(path: str | None) -> str | None:
    return f"SET search_path TO {path}" if path else None


async def schema_connect_args(url: DatabaseURL, *, only_schema: bool = False) -> dict[str, Any]:
    """asyncpg ``connect()`` arguments for a schema engine (see ``engines.py``).

    Whether a pooler answers is found as the pool finds it, when no pool did yet.
    """
    args = postgres_connect_args(url)
    if url.pooler is None and _address(url) not in _DETECTED:
        import asyncpg

        probe = _connect_args(url, PoolOptions(statement_cache_size=0), False)
        with DriverErrors(None, DRIVER, partial(translate, constraints={}, url=url.display)):
            raw, _DETECTED[_address(url)] = await _first_connection(asyncpg, probe)
        if raw is not None:
            await raw.close(timeout=2)
    if _pooled(url):
        # No named statements; the search_path goes with each transaction instead
        # (``schema_transaction_sql``).
        args["statement_cache_size"] = 0
        return args
    path = _search_path(url, only_schema=only_schema)
    if path and url.pooler is None:  # "session": set per transaction (schema_transaction_sql)
        args["server_settings"] = {"search_path": path}
    return args


def schema_transaction_sql(url: DatabaseURL, *, only_schema: bool = False) -> tuple[str, ...]:
    """What each schema engine transaction runs first: behind a transaction-mode
    pooler, the ``?schema=`` search_path (a session setting would land on a server
    connection other clients get)."""
    local = _set_local(_search_path(url, only_schema=only_schema))
    return (local,) if local and (_pooled(url) or url.pooler == "session") else ()


def schema_engine_url(url: DatabaseURL) -> sa.URL:
    """The SQLAlchemy URL of a schema engine: the URL as given; behind a transaction-
    mode pooler, without SQLAlchemy's prepared-statement cache (its statements are
    then unnamed and parsed again at each use: none outlives its Sync). Called after
    ``schema_connect_args``, which finds out whether a pooler answers."""
    if _pooled(url):
        return url.url.update_query_dict({"prepared_statement_cache_size": "0"})
    return url.url
