"""Provider URLs."""

from __future__ import annotations

import pytest

from deesse_async import ConfigError
from deesse_async.drivers.url import parse_url


@pytest.mark.parametrize(
    ("provider", "backend", "display"),
    [
        ("sqlite:///app.db", "sqlite", "sqlite+aiosqlite:///app.db"),
        ("sqlite:////abs/app.db", "sqlite", "sqlite+aiosqlite:////abs/app.db"),
        ("sqlite://:memory:", "sqlite", "sqlite://:memory:"),
        ("sqlite:///:memory:", "sqlite", "sqlite://:memory:"),
        ("postgresql://u:secret@h:5433/db", "postgresql", "postgresql+asyncpg://u:***@h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql", "postgresql+asyncpg://u@h/db"),
        (
            "mysql://root:pw@127.0.0.1:3306/test",
            "mysql",
            "mysql+asyncmy://root:***@127.0.0.1:3306/test",
        ),
        ("mariadb://root@h/test", "mysql", "mariadb+asyncmy://root@h/test"),
        ("mysql+asyncmy://root@h/test", "mysql", "mysql+asyncmy://root@h/test"),
    ],
)
def test_parse(provider: str, backend: str, display: str) -> None:
    url = parse_url(provider)
    assert url.backend == backend
    assert url.display == display
    assert "secret" not in url.display and "pw@" not in url.display


def test_postgres_schema_option() -> None:
    url = parse_url("postgresql://u@h/db?schema=tenant_1")
    assert url.schema == "tenant_1"
    assert "schema" not in url.display


def test_memory_databases_are_distinct() -> None:
    assert parse_url("sqlite://:memory:").sqlite_path != parse_url("sqlite://:memory:").sqlite_path


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("", "must be a database URL"),
        ("localhost:5432", "must be a database URL"),
        ("oracle://u@h/db", "scheme 'oracle' is not supported"),
        ("postgresql+psycopg://u@h/db", "runs postgresql through asyncpg, not psycopg"),
        ("mysql+pymysql://u@h/db", "through asyncmy, not pymysql"),
        ("postgresql://u@h", "names no database"),
        ("postgresql://u@h:notaport/db", "cannot be parsed"),
    ],
)
def test_bad_urls(provider: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_url(provider)


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        # Issue 13 defect 4: two slashes put the file name in the host slot.
        ("sqlite://app.db", r"use 'sqlite:///app\.db' \(relative.*'sqlite:////abs/path\.db'"),
        ("sqlite://data/app.db", r"three slashes before a relative path"),
        ("sqlite://localhost/app.db", r"three slashes before a relative path"),
        ("sqlite://u:pw@/app.db", r"three slashes"),
        ("sqlite:///", r"names no file"),
        ("sqlite:///app.db?mode=readonly", r"mode='readonly' is not one of ro, rw, rwc"),
        ("sqlite:///:memory:?mode=ro", r"memory database takes no URL options"),
    ],
)
def test_malformed_sqlite_urls(provider: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_url(provider)


def test_sqlite_read_only_option() -> None:
    url = parse_url("sqlite:////srv/data/app.db?mode=ro")
    assert url.read_only
    assert url.sqlite_path == "/srv/data/app.db"
    assert url.sqlite_uri == "file:/srv/data/app.db?mode=ro"
    assert not parse_url("sqlite:///app.db").read_only


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("postgresql://u@h/db?bogus=1", r"unknown URL option 'bogus' for postgresql; accepted: "),
        ("postgresql://u@h/db?ssl=true", r"unknown URL option 'ssl'.*sslmode"),
        ("postgresql://u@h/db?ssl_mode=REQUIRED", r"unknown URL option 'ssl_mode'"),
        ("mysql://u@h/db?ssl=true", r"unknown URL option 'ssl' for mysql; accepted: ssl_mode"),
        ("mysql://u@h/db?sslmode=require", r"unknown URL option 'sslmode'.*ssl_mode"),
        ("mysql://u@h/db?schema=x", r"unknown URL option 'schema'"),
        ("sqlite:///app.db?timeout=5", r"unknown URL option 'timeout' for sqlite; accepted: mode"),
        ("postgresql://u@h/db?schema=a&schema=b", r"'schema' is given more than once"),
        ("postgresql://u@h/db?sslmode=required", r"sslmode='required' is not one of disable,"),
        ("mysql://u@h/db?ssl_mode=verify", r"ssl_mode='VERIFY' is not one of DISABLED,"),
        ("postgresql://u@h/db?sslmode=disable&sslrootcert=/ca.pem", r"TLS disabled"),
    ],
)
def test_url_options_are_checked(provider: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_url(provider)


@pytest.mark.parametrize(
    ("provider", "mode", "ca"),
    [
        ("postgresql://u@h/db", "prefer", None),  # libpq's default
        ("postgresql://u@h/db?sslmode=require", "require", None),
        ("postgresql://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem", "verify-full", "/ca.pem"),
        ("mysql://u@h/db", "disable", None),
        ("mysql://u@h/db?ssl_mode=REQUIRED", "require", None),
        ("mariadb://u@h/db?ssl_mode=verify_identity&ssl_ca=/ca.pem", "verify-full", "/ca.pem"),
        ("mysql://u@h/db?ssl_ca=/ca.pem", "verify-ca", "/ca.pem"),  # as the mysql client
    ],
)
def test_tls_options(provider: str, mode: str, ca: str | None) -> None:
    url = parse_url(provider)
    assert url.tls is not None
    assert (url.tls.mode, url.tls.ca) == (mode, ca)
    assert "ssl" not in url.display  # the options never reach SQLAlchemy's URL


def test_define_config_ssl_context_and_timeouts() -> None:
    import math
    import ssl

    from deesse_async import define_config

    ctx = ssl.create_default_context()
    db = define_config(provider="postgresql://u@h/db?sslmode=verify-full", ssl=ctx)
    assert db.url.tls is not None and db.url.tls.context is ctx and db.url.tls.required
    db = define_config(provider="mysql://u@h/db", ssl=ctx, connect_timeout=2.5)
    assert db.url.tls is not None and db.url.tls.context is ctx
    assert db.url.connect_timeout == 2.5
    bad: list[tuple[dict[str, object], str]] = [
        ({"provider": "sqlite:///a.db", "ssl": ctx}, "SQLite has no TLS"),
        ({"provider": "postgresql://u@h/db?sslmode=disable", "ssl": ctx}, "disagree"),
        ({"provider": "postgresql://u@h/db?sslrootcert=/x.pem", "ssl": ctx}, "disagree"),
        ({"provider": "postgresql://u@h/db", "ssl": "require"}, "takes an ssl.SSLContext"),
    ]
    for value in (0, -1, math.nan, math.inf, 10**9):
        bad.append(({"connect_timeout": value}, "must be a finite number of seconds > 0"))
        bad.append(({"pool_timeout": value}, "must be a finite number of seconds > 0"))
    bad.append(({"pool_size": 2.5}, "must be an integer >= 0"))
    bad.append(({"statement_cache_size": math.nan}, "must be an integer >= 0"))
    for kwargs, message in bad:
        with pytest.raises(ConfigError, match=message):
            define_config(**kwargs)  # type: ignore[arg-type]
