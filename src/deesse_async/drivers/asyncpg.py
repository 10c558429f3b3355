"""asyncpg adapter (PostgreSQL)."""

from __future__ import annotations

import json
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from .._types import DriverRow
from ..errors import ConfigError, ConnectionError, DeesseError
from ..runtime.tls import postgres_connect_args
from ..runtime.url import DatabaseURL
from .base import (
    Codecs,
    Connection,
    ConstraintNames,
    ExecResult,
    Pool,
    PoolOptions,
    database_error,
    integrity_error,
    missing_table,
)

__all__ = ["CODECS", "AsyncpgPool", "create_pool"]


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
        "datetime": None,
        "date": None,
        "uuid": _uuid,
        "json": json.loads,
    },
)

# SQLSTATE class 23 (integrity constraint violation), see the PostgreSQL errcodes appendix.
_INTEGRITY = {"23505": "unique", "23503": "foreign_key", "23502": "not_null", "23514": "check"}


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
        if state == "42P01":  # undefined_table: 'relation "notes" does not exist'
            names = re.findall(r'"([^"]+)"', str(exc))
            return missing_table(names[0] if names else str(exc), url)
        if state.startswith(("08", "57P", "3D", "28")):
            return ConnectionError(f"cannot use PostgreSQL at {url}: {exc}")
        return database_error("PostgreSQL", state, str(exc))
    if isinstance(exc, asyncpg.ClientConfigurationError):  # e.g. sslrootcert not found
        return ConfigError(f"cannot connect to PostgreSQL at {url}: {exc}")
    if isinstance(exc, asyncpg.InterfaceError):
        return database_error("asyncpg", type(exc).__name__, str(exc))
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
    """One asyncpg connection."""

    __slots__ = ("_constraints", "_raw", "_tx", "_url", "codecs")

    def __init__(self, raw: Any, constraints: ConstraintNames, url: str) -> None:
        self._raw = raw
        self._constraints = constraints
        self._url = url
        self._tx: Any = None
        self.codecs = CODECS

    def _error(self, exc: Exception) -> Exception:
        return translate(exc, self._constraints, self._url) or exc

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> Sequence[DriverRow]:
        try:
            return await self._raw.fetch(sql, *params)  # type: ignore[no-any-return]
        except Exception as exc:
            raise self._error(exc) from exc

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        try:
            status: str = await self._raw.execute(sql, *params)
        except Exception as exc:
            raise self._error(exc) from exc
        # "INSERT 0 3", "UPDATE 2", "DELETE 1": the row count is the last word.
        last = status.rsplit(" ", 1)[-1]
        return ExecResult(int(last) if last.isdigit() else 0, None)

    async def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        try:
            await self._raw.executemany(sql, params)
        except Exception as exc:
            raise self._error(exc) from exc

    async def begin(self) -> None:
        self._tx = self._raw.transaction()
        try:
            await self._tx.start()
        except Exception as exc:
            raise self._error(exc) from exc

    async def commit(self) -> None:
        tx, self._tx = self._tx, None
        try:
            await tx.commit()
        except Exception as exc:
            raise self._error(exc) from exc

    async def rollback(self) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            try:
                await tx.rollback()
            except Exception as exc:
                raise self._error(exc) from exc


class AsyncpgPool(Pool):
    """An ``asyncpg.Pool`` behind the ``Pool`` interface."""

    def __init__(self, raw: Any, constraints: ConstraintNames, url: str, timeout: float) -> None:
        self._raw = raw
        self._constraints = constraints
        self._url = url
        self._timeout = timeout
        self.codecs = CODECS

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        try:
            raw = await self._raw.acquire(timeout=self._timeout)
        except Exception as exc:
            raise (translate(exc, self._constraints, self._url) or exc) from exc
        try:
            yield AsyncpgConnection(raw, self._constraints, self._url)
        finally:
            await self._raw.release(raw)

    async def close(self) -> None:
        await self._raw.close()


async def create_pool(
    url: DatabaseURL, options: PoolOptions, constraints: ConstraintNames
) -> AsyncpgPool:
    """Open an asyncpg pool for ``url``; an unreachable server raises ``ConnectionError``."""
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - depends on the install
        raise ConnectionError(
            "PostgreSQL needs asyncpg: pip install 'deesse-async[postgres]'"
        ) from None
    u = url.url
    schema = (url.schema or "").replace('"', '""')
    settings = {"search_path": f'"{schema}", public'} if schema else {}
    try:
        raw = await asyncpg.create_pool(
            **postgres_connect_args(url),
            host=u.host or "localhost",
            port=u.port or 5432,
            user=u.username,
            password=u.password,
            database=u.database,
            min_size=min(options.pool_min_size, options.pool_size),
            max_size=options.pool_size,
            statement_cache_size=options.statement_cache_size,
            server_settings=settings,
        )
    except Exception as exc:
        raise (translate(exc, constraints, url.display) or exc) from exc
    return AsyncpgPool(raw, constraints, url.display, options.pool_timeout)
