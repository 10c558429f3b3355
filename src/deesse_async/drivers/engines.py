"""What a SQLAlchemy engine for schema work needs from the driver, and its error boundary.

The schema sync (``db.plan()``, ``push()``, migrations) runs through SQLAlchemy async
engines on the same drivers as the pool. Each adapter module says how its driver's
``connect()`` is called (``schema_connect_args``, ``schema_engine_url``): the same TLS
and timeout as its pool, plus what schema work needs. ``schema_connect_errors`` is the
boundary for opening such a connection, fed by the adapter's ``translate`` table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ..errors import ConfigError, ConnectionError
from . import adapter
from .url import DatabaseURL

__all__ = [
    "schema_connect_args",
    "schema_connect_errors",
    "schema_engine_url",
    "schema_transaction_sql",
]


async def schema_connect_args(url: DatabaseURL, *, only_schema: bool = False) -> dict[str, Any]:
    """What the driver's ``connect()`` gets in a schema engine: the pool's TLS and timeout.

    ``only_schema``: on a server with schemas, make only the URL's ``?schema=`` visible
    (reflection then sees no other schema's tables).
    """
    args: dict[str, Any] = await adapter(url.backend).schema_connect_args(
        url, only_schema=only_schema
    )
    return args


def schema_transaction_sql(url: DatabaseURL, *, only_schema: bool = False) -> tuple[str, ...]:
    """Statements each schema-engine transaction runs first (after BEGIN).

    Behind a transaction-mode pooler a session setting would stay on a server connection
    other clients get, so what ``schema_connect_args`` would set for the session
    (PostgreSQL's ``?schema=`` search_path) is set per transaction instead.
    """
    make = getattr(adapter(url.backend), "schema_transaction_sql", None)
    return () if make is None else tuple(make(url, only_schema=only_schema))


def schema_engine_url(url: DatabaseURL) -> sa.URL:
    """The SQLAlchemy URL a schema engine is created with."""
    engine_url: sa.URL = adapter(url.backend).schema_engine_url(url)
    return engine_url


@contextmanager
def schema_connect_errors(url: DatabaseURL) -> Iterator[None]:
    """Opening a schema connection: whatever fails leaves as ``ConnectionError``
    (or ``ConfigError`` when the URL's settings are wrong), never as a driver error."""
    try:
        yield
    except TimeoutError:
        raise ConnectionError(
            f"cannot reach {url.display} for schema work: no answer within "
            f"connect_timeout={url.connect_timeout}s"
        ) from None
    except (OSError, sa.exc.DBAPIError) as exc:
        raise _connect_error(url, exc) from None


def _connect_error(url: DatabaseURL, exc: BaseException) -> Exception:
    # SQLAlchemy wraps the driver's exception (twice for asyncpg: its dialect adapts it
    # first); the adapters' tables know the driver's own.
    original: BaseException = getattr(exc, "orig", None) or exc
    while original.__cause__ is not None and type(original).__module__.startswith("sqlalchemy"):
        original = original.__cause__
    translated = adapter(url.backend).translate(original, {}, url.display)
    if isinstance(translated, ConnectionError | ConfigError):
        return translated
    return ConnectionError(f"cannot reach {url.display} for schema work: {exc}")
