"""Provider URLs: ``sqlite:///file``, ``sqlite://:memory:``, ``postgresql://``, ``mysql://``...

Plain URLs and SQLAlchemy-style ones (``postgresql+asyncpg://``) both work. For
PostgreSQL, ``?schema=name`` (Prisma's convention) sets the ``search_path``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .._types import Backend
from ..errors import ConfigError

__all__ = ["Backend", "DatabaseURL", "parse_url"]

# scheme -> (backend, the only async driver we run it with)
SCHEMES: dict[str, tuple[Backend, str]] = {
    "postgresql": ("postgresql", "asyncpg"),
    "postgres": ("postgresql", "asyncpg"),
    "sqlite": ("sqlite", "aiosqlite"),
    "mysql": ("mysql", "asyncmy"),
    "mariadb": ("mysql", "asyncmy"),
}
_memory_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A parsed provider URL."""

    backend: Backend
    url: URL  # the SQLAlchemy URL for the async dialect (used for schema work)
    memory_name: str | None = None  # set for sqlite://:memory:
    options: dict[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The URL with its password hidden, for messages."""
        if self.memory_name is not None:
            return "sqlite://:memory:"
        return self.url.render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> str:
        """What aiosqlite opens: a file path, or a shared in-memory URI."""
        if self.memory_name is not None:
            return f"file:{self.memory_name}?mode=memory&cache=shared"
        return self.url.database or ""

    @property
    def schema(self) -> str | None:
        """PostgreSQL schema to put first in the search_path (``?schema=``)."""
        return self.options.get("schema")


def parse_url(provider: str) -> DatabaseURL:
    """Parse a provider URL into a ``DatabaseURL``; a wrong URL raises ``ConfigError``.

    >>> parse_url("postgresql://app:secret@db:5432/shop").display
    'postgresql+asyncpg://app:***@db:5432/shop'
    """
    if not isinstance(provider, str) or "://" not in provider:
        raise ConfigError(
            f"provider must be a database URL such as 'sqlite:///app.db' or "
            f"'postgresql://user@host/db', got {provider!r}"
        )
    memory = provider in ("sqlite://", "sqlite://:memory:", "sqlite:///:memory:")
    try:
        url = make_url("sqlite://" if memory else provider)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"provider URL {provider!r} cannot be parsed: {exc}") from None
    scheme, _, driver = url.drivername.partition("+")
    if scheme not in SCHEMES:
        raise ConfigError(
            f"provider URL scheme {scheme!r} is not supported; use postgresql://, mysql://, "
            "mariadb:// or sqlite://"
        )
    backend, async_driver = SCHEMES[scheme]
    if driver and driver != async_driver:
        raise ConfigError(
            f"provider {url.render_as_string(hide_password=True)!r}: deesse_async runs "
            f"{backend} through {async_driver}, not {driver}; use {scheme}:// or "
            f"{scheme}+{async_driver}://"
        )
    options = {k: str(v) for k, v in url.query.items()}
    if backend == "sqlite":
        return _sqlite(url, memory)
    if not url.database:
        raise ConfigError(
            f"provider {url.render_as_string(hide_password=True)!r} names no database"
        )
    sa_scheme = "mariadb" if scheme == "mariadb" else backend
    url = url.set(drivername=f"{sa_scheme}+{async_driver}", query={})
    return DatabaseURL(backend=backend, url=url, options=options)


def _sqlite(url: URL, memory: bool) -> DatabaseURL:
    if memory or url.database in (None, "", ":memory:"):
        # A named shared-cache memory database, so that the pool and the schema tools
        # (alembic, create_all) see the same data while the pool holds it open.
        name = f"deesse-mem-{next(_memory_ids)}"
        sa_url = make_url(f"sqlite+aiosqlite:///file:{name}?mode=memory&cache=shared&uri=true")
        return DatabaseURL(backend="sqlite", url=sa_url, memory_name=name)
    return DatabaseURL(backend="sqlite", url=url.set(drivername="sqlite+aiosqlite", query={}))
