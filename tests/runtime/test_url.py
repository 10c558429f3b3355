"""Provider URLs."""

from __future__ import annotations

import pytest

from deesse_async import ConfigError
from deesse_async.runtime.url import parse_url


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
