"""Provider URLs: ``sqlite:///file``, ``sqlite://:memory:``, ``postgresql://``, ``mysql://``...

Plain URLs and SQLAlchemy-style ones (``postgresql+asyncpg://``) both work. The query
string takes a fixed set of options per backend (anything else is a ``ConfigError``):

- PostgreSQL: ``schema`` (Prisma's convention: first in the ``search_path``), ``sslmode``
  (``disable|prefer|require|verify-ca|verify-full``, libpq's meanings), ``sslrootcert``,
  ``sslcert``, ``sslkey``, ``pooler`` (``transaction``: a transaction-mode pooler such
  as PgBouncer sits in front of the server; ``session``: a session-mode one, or none,
  and no detection; see ``with_pooler``).
- MySQL/MariaDB: ``ssl_mode`` (``DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY``,
  the mysql client's meanings), ``ssl_ca``, ``ssl_cert``, ``ssl_key``.
- SQLite: ``mode`` (``ro`` opens the file read-only, ``rw``, ``rwc`` the default).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import ssl
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ..dialects import Backend
from ..errors import ConfigError

__all__ = [
    "POOLERS",
    "Backend",
    "DatabaseURL",
    "Pooler",
    "TLSMode",
    "TLSSettings",
    "file_url",
    "parse_url",
    "with_pooler",
]

# scheme -> (backend, the only async driver we run it with)
SCHEMES: dict[str, tuple[Backend, str]] = {
    "postgresql": ("postgresql", "asyncpg"),
    "postgres": ("postgresql", "asyncpg"),
    "sqlite": ("sqlite", "aiosqlite"),
    "mysql": ("mysql", "asyncmy"),
    "mariadb": ("mysql", "asyncmy"),
}
_memory_ids = itertools.count(1)

TLSMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]
_PG_MODES: dict[str, TLSMode] = {
    m: m for m in ("disable", "prefer", "require", "verify-ca", "verify-full")
}
# The mysql client's --ssl-mode names, mapped onto libpq's (same meanings).
_MYSQL_MODES: dict[str, TLSMode] = {
    "DISABLED": "disable",
    "PREFERRED": "prefer",
    "REQUIRED": "require",
    "VERIFY_CA": "verify-ca",
    "VERIFY_IDENTITY": "verify-full",
}
# backend -> accepted query options; for TLS: option name -> TLSSettings attribute
_OPTIONS: dict[Backend, tuple[str, ...]] = {
    "postgresql": ("schema", "sslmode", "sslrootcert", "sslcert", "sslkey", "pooler"),
    "mysql": ("ssl_mode", "ssl_ca", "ssl_cert", "ssl_key"),
    "sqlite": ("mode",),
}
_TLS_FILES: dict[str, str] = {
    "sslrootcert": "ca",
    "sslcert": "cert",
    "sslkey": "key",
    "ssl_ca": "ca",
    "ssl_cert": "cert",
    "ssl_key": "key",
}
_SQLITE_MODES = ("ro", "rw", "rwc")

Pooler = Literal["transaction", "session"]
POOLERS: tuple[Pooler, ...] = ("transaction", "session")


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """TLS wanted for a server connection, in libpq's terms whatever the backend.

    ``context`` is the ``ssl.SSLContext`` given to ``define_config(ssl=...)``; it then
    decides what is verified, and TLS is required.
    """

    mode: TLSMode
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    context: ssl.SSLContext | None = None

    @property
    def required(self) -> bool:
        """Whether a server without TLS must be refused."""
        return self.mode not in ("disable", "prefer")


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A parsed provider URL (plus the connection settings of ``define_config``)."""

    backend: Backend
    url: URL  # the SQLAlchemy URL for the async dialect (used for schema work)
    memory_name: str | None = None  # set for sqlite://:memory:
    options: dict[str, str] = field(default_factory=dict)
    tls: TLSSettings | None = None  # None for SQLite
    connect_timeout: float = 10.0  # every network wait while connecting is bounded by it

    @property
    def display(self) -> str:
        """The URL with its password hidden, for messages."""
        if self.memory_name is not None:
            return "sqlite://:memory:"
        return self.url.render_as_string(hide_password=True)

    @property
    def identity(self) -> str:
        """The database this URL points at, password hidden: equal databases, equal text.

        A relative SQLite path is made absolute (against the current folder), so that the
        app and the fresh interpreter its development engine starts compare equal.
        """
        if self.backend == "sqlite" and self.memory_name is None:
            return f"sqlite:///{Path(self.sqlite_path).resolve()}"
        text = self.display
        if self.schema:
            text += f"?schema={self.schema}"
        return text

    @property
    def sqlite_path(self) -> str:
        """The SQLite file path, or the shared in-memory URI of a memory database."""
        if self.memory_name is not None:
            return f"file:{self.memory_name}?mode=memory&cache=shared"
        return self.url.database or ""

    @property
    def sqlite_uri(self) -> str | None:
        """The ``file:`` URI aiosqlite opens, when the path alone is not enough."""
        if self.memory_name is not None:
            return self.sqlite_path
        mode = self.options.get("mode")
        if mode is None:
            return None
        return f"file:{quote(self.sqlite_path)}?mode={mode}"

    @property
    def read_only(self) -> bool:
        """Whether a SQLite file is opened read-only (``?mode=ro``)."""
        return self.options.get("mode") == "ro"

    @property
    def schema(self) -> str | None:
        """PostgreSQL schema to put first in the search_path (``?schema=``)."""
        return self.options.get("schema")

    @property
    def pooler(self) -> Pooler | None:
        """``"transaction"`` when a transaction-mode pooler (PgBouncer) is in front of
        the server, ``"session"`` when a session-mode one (or none) is: connections keep
        their session and no detection runs (``?pooler=`` or ``define_config(pooler=)``)."""
        value = self.options.get("pooler")
        return value if value in POOLERS else None


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
    shown = url.render_as_string(hide_password=True)
    if driver and driver != async_driver:
        raise ConfigError(
            f"provider {shown!r}: deesse_async runs {backend} through {async_driver}, "
            f"not {driver}; use {scheme}:// or {scheme}+{async_driver}://"
        )
    options = _options(url, backend, shown)
    if "pooler" in options:
        _check_pooler(options["pooler"], f"provider {shown!r}: pooler=")
    if backend == "sqlite":
        return _sqlite(url, memory, options, shown)
    if not url.database:
        raise ConfigError(f"provider {shown!r} names no database")
    sa_scheme = "mariadb" if scheme == "mariadb" else backend
    url = url.set(drivername=f"{sa_scheme}+{async_driver}", query={})
    return DatabaseURL(backend=backend, url=url, options=options, tls=_tls(backend, options, shown))


def _options(url: URL, backend: Backend, shown: str) -> dict[str, str]:
    accepted = _OPTIONS[backend]
    options: dict[str, str] = {}
    for name, value in url.query.items():
        if name not in accepted:
            raise ConfigError(
                f"provider {shown!r}: unknown URL option {name!r} for {backend}; "
                f"accepted: {', '.join(accepted)}"
            )
        if not isinstance(value, str):  # ?schema=a&schema=b arrives as a tuple
            raise ConfigError(f"provider {shown!r}: URL option {name!r} is given more than once")
        if not value:
            raise ConfigError(f"provider {shown!r}: URL option {name!r} has no value")
        options[name] = value
    return options


def _check_pooler(value: object, where: str) -> None:
    if value == "statement":
        raise ConfigError(
            f"{where}{value!r}: statement-mode pooling cannot run transactions; use "
            "pool_mode = transaction (or session) in the pooler, and pooler='transaction'"
        )
    if value not in POOLERS:
        raise ConfigError(
            f"{where}{value!r} is not supported: use 'transaction' for a transaction-mode "
            "pooler such as PgBouncer, or 'session' for a session-mode one (or for none: "
            "it skips the detection)"
        )


def with_pooler(url: DatabaseURL, pooler: str | None) -> DatabaseURL:
    """``url`` with ``define_config(pooler=...)`` applied (``None``: as the URL says).

    The keyword and ``?pooler=`` must agree when both are given; only PostgreSQL has
    poolers of this kind (PgBouncer, RDS Proxy, Supavisor...).
    """
    if pooler is None:
        return url
    _check_pooler(pooler, "define_config(pooler=...): ")
    if url.backend != "postgresql":
        raise ConfigError(
            f"define_config(pooler={pooler!r}) is for PostgreSQL behind PgBouncer-style "
            f"pooling; {url.display} is {url.backend}: drop pooler="
        )
    given = url.options.get("pooler")
    if given is not None and given != pooler:
        raise ConfigError(
            f"define_config(pooler={pooler!r}) disagrees with ?pooler={given} in the "
            "provider URL: give one of them"
        )
    return dataclasses.replace(url, options={**url.options, "pooler": pooler})


def _tls(backend: Backend, options: dict[str, str], shown: str) -> TLSSettings:
    files = {_TLS_FILES[k]: v for k, v in options.items() if k in _TLS_FILES}
    if backend == "postgresql":
        given, modes = options.get("sslmode"), _PG_MODES
        # libpq's default: TLS when the server offers it.
        default: TLSMode = "prefer"
    else:
        given, modes = options.get("ssl_mode"), _MYSQL_MODES
        given = given.upper() if given is not None else None
        # A file names what to verify with, so it implies TLS; otherwise none, as before.
        default = "verify-ca" if "ca" in files else "require" if files else "disable"
    if given is not None and given not in modes:
        name = "sslmode" if backend == "postgresql" else "ssl_mode"
        raise ConfigError(f"provider {shown!r}: {name}={given!r} is not one of {', '.join(modes)}")
    mode = modes[given] if given is not None else default
    if mode == "disable" and files:
        raise ConfigError(
            f"provider {shown!r}: TLS files given with TLS disabled; drop them or pick a mode "
            "that uses TLS"
        )
    return TLSSettings(mode=mode, ca=files.get("ca"), cert=files.get("cert"), key=files.get("key"))


def _sqlite(url: URL, memory: bool, options: dict[str, str], shown: str) -> DatabaseURL:
    if url.host or url.username or url.password or url.port:
        # sqlite://app.db puts "app.db" in the host slot; SQLAlchemy would open memory.
        name = url.host or ""
        raise ConfigError(
            f"provider {shown!r}: a SQLite URL has three slashes before a relative path "
            f"and four before an absolute one: use 'sqlite:///{name or 'app.db'}' "
            "(relative to the working directory), 'sqlite:////abs/path.db' (absolute) or "
            "'sqlite://:memory:'"
        )
    mode = options.get("mode")
    if mode is not None and mode not in _SQLITE_MODES:
        raise ConfigError(f"provider {shown!r}: mode={mode!r} is not one of ro, rw, rwc")
    if url.database == "":
        raise ConfigError(
            f"provider {shown!r} names no file: use 'sqlite:///app.db' (relative), "
            "'sqlite:////abs/path.db' (absolute) or 'sqlite://:memory:'"
        )
    if memory or url.database in (None, ":memory:"):
        if options:
            raise ConfigError(f"provider {shown!r}: a memory database takes no URL options")
        # A named shared-cache memory database, so that the pool and the schema tools
        # (alembic, create_all) see the same data while the pool holds it open.
        name = f"deesse-mem-{next(_memory_ids)}"
        sa_url = make_url(f"sqlite+aiosqlite:///file:{name}?mode=memory&cache=shared&uri=true")
        return DatabaseURL(backend="sqlite", url=sa_url, memory_name=name)
    db_url = url.set(drivername="sqlite+aiosqlite", query={})
    return DatabaseURL(backend="sqlite", url=db_url, options=options)


def file_url(path: str | PathLike[str]) -> str:
    """The provider URL of the embedded, file-backed database at ``path``.

    >>> file_url("blog.db")
    'sqlite:///blog.db'
    """
    return f"sqlite:///{os.fspath(path)}"
