"""Every driver exception class and SQLSTATE/errno the adapters can meet maps to the
documented ``DeesseError`` (docs/reliability.md, "Connection loss"; errors.py).

The rules: integrity codes give their ``IntegrityError`` subclass; codes and classes
meaning the connection is gone or unusable give ``ConnectionError``; everything else
the database reports is a ``DeesseError`` that is neither (a ``DatabaseError`` unless
a narrower class fits); and the boundary wraps what no table knows, so no driver
exception ever reaches a caller.
"""

from __future__ import annotations

import inspect
import re
import sqlite3
from pathlib import Path
from typing import Any

import asyncmy.constants.CR as CR
import asyncmy.constants.ER as ER
import asyncpg.exceptions as pg
import pytest
from asyncmy import errors as my

from deesse_async.drivers import aiosqlite as sqlite_adapter
from deesse_async.drivers import asyncmy as mysql_adapter
from deesse_async.drivers import asyncpg as pg_adapter
from deesse_async.drivers.base import INTEGRITY_CLASSES, DriverErrors
from deesse_async.errors import (
    CheckViolation,
    ConfigError,
    ConnectionError,
    DatabaseError,
    DeesseError,
    ForeignKeyViolation,
    IntegrityError,
    NotNullViolation,
    UniqueViolation,
)

URL = "db://host/x"
INTEGRITY = {
    "unique": UniqueViolation,
    "foreign_key": ForeignKeyViolation,
    "not_null": NotNullViolation,
    "check": CheckViolation,
}


def _classes(module: Any, base: type) -> list[type]:
    return [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, base)]


def _expect_other(error: DeesseError | None, what: str) -> None:
    assert isinstance(error, DeesseError), what
    assert not isinstance(error, ConnectionError | IntegrityError), (what, error)


@pytest.mark.parametrize(
    "cls", _classes(pg, pg.PostgresError), ids=lambda c: f"{c.sqlstate}-{c.__name__}"
)
def test_every_postgres_sqlstate(cls: type[pg.PostgresError]) -> None:
    error = pg_adapter.translate(cls("boom"), {}, URL)
    state = cls.sqlstate or ""
    if state in pg_adapter._INTEGRITY:
        assert type(error) is INTEGRITY[pg_adapter._INTEGRITY[state]]
    elif state.startswith(("08", "57P", "3D", "28")):  # connection, shutdown, database, auth
        assert isinstance(error, ConnectionError)
    else:
        _expect_other(error, state)


@pytest.mark.parametrize(
    "cls",
    _classes(pg, pg.InterfaceError) + _classes(pg, pg.InternalClientError),
    ids=lambda c: c.__name__,
)
def test_every_asyncpg_client_error(cls: type[Exception]) -> None:
    error = pg_adapter.translate(cls("boom"), {}, URL)
    if issubclass(cls, pg.DataError):  # a value asyncpg cannot encode: not a lost link
        _expect_other(error, cls.__name__)
    elif issubclass(cls, pg.ClientConfigurationError):  # sslrootcert missing: fix the URL
        assert isinstance(error, ConfigError), cls
    else:
        assert isinstance(error, ConnectionError), cls


@pytest.mark.parametrize(
    "errno",
    sorted({v for k, v in vars(ER).items() if k.isupper() and isinstance(v, int)}),
)
def test_every_mysql_server_errno(errno: int) -> None:
    error = mysql_adapter.translate(my.OperationalError(errno, "boom 'k'"), {}, URL)
    if errno in mysql_adapter._INTEGRITY:
        assert type(error) is INTEGRITY[mysql_adapter._INTEGRITY[errno]]
    elif errno in mysql_adapter._CONNECTION:
        assert isinstance(error, ConnectionError)
    else:
        _expect_other(error, str(errno))


LOST = {CR.CR_CONNECTION_ERROR, CR.CR_CONN_HOST_ERROR, CR.CR_UNKNOWN_HOST,
        CR.CR_SERVER_GONE_ERROR, CR.CR_SERVER_LOST, CR.CR_COMMANDS_OUT_OF_SYNC,
        CR.CR_SERVER_LOST_EXTENDED}  # fmt: skip


@pytest.mark.parametrize("errno", sorted({v for k, v in vars(CR).items() if k.startswith("CR_")}))
def test_every_mysql_client_errno(errno: int) -> None:
    error = mysql_adapter.translate(my.OperationalError(errno, "boom"), {}, URL)
    if errno in LOST:
        assert isinstance(error, ConnectionError)
    else:
        _expect_other(error, str(errno))


@pytest.mark.parametrize("reason", ["Not connected", "Cancelled during execution"])
def test_asyncmy_closed_connection_is_a_connection_error(reason: str) -> None:
    assert isinstance(
        mysql_adapter.translate(my.InterfaceError(0, reason), {}, URL), ConnectionError
    )


@pytest.mark.parametrize("cls", _classes(sqlite3, sqlite3.Error), ids=lambda c: c.__name__)
def test_every_sqlite_error_class(cls: type[sqlite3.Error]) -> None:
    error = sqlite_adapter.translate(cls("boom"), {}, URL)
    if issubclass(cls, sqlite3.IntegrityError):
        assert isinstance(error, IntegrityError)
    else:
        _expect_other(error, cls.__name__)
    assert isinstance(
        sqlite_adapter.translate(sqlite3.OperationalError("unable to open database file"), {}, URL),
        ConnectionError,
    )
    assert isinstance(
        sqlite_adapter.translate(ValueError("Connection closed"), {}, URL), ConnectionError
    )


class _Conn:
    broken = False


@pytest.mark.parametrize("unknown_breaks", [True, False])
def test_the_boundary_wraps_what_no_table_knows(unknown_breaks: bool) -> None:
    conn: Any = _Conn()
    boundary = DriverErrors(conn, "somedriver", lambda exc: None, unknown_breaks=unknown_breaks)
    with pytest.raises(DatabaseError, match="somedriver failed unexpectedly") as caught:
        with boundary:
            raise RuntimeError("surprise")
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert conn.broken is unknown_breaks  # a network driver's state is now unknown


def test_the_boundary_marks_a_lost_connection_broken_and_lets_cancellation_through() -> None:
    import asyncio

    conn: Any = _Conn()
    boundary = DriverErrors(conn, "d", lambda exc: ConnectionError("gone"))
    with pytest.raises(ConnectionError), boundary:
        raise OSError("reset")
    assert conn.broken
    with pytest.raises(asyncio.CancelledError), boundary:
        raise asyncio.CancelledError


# -- the tables against the documentation ------------------------------------------
# docs/reliability.md ("Connection loss") lists every code the adapters' tables map; each
# entry must map to what the page says, and an entry added to a table without being
# documented (or documented without being in a table) fails here.

RELIABILITY = Path(__file__).parents[2] / "docs" / "reliability.md"


def _doc_row(driver: str) -> str:
    """The 'becomes ConnectionError' row of ``driver`` in the connection-loss table."""
    rows = [
        line for line in RELIABILITY.read_text().splitlines() if line.startswith(f"| {driver} |")
    ]
    assert len(rows) == 1, driver
    return rows[0]


def _doc_integrity() -> str:
    text = " ".join(RELIABILITY.read_text().split())
    found = re.search(r"Integrity codes \((.*?)\) give their `IntegrityError`", text)
    assert found, "docs/reliability.md lost its integrity-codes sentence"
    return found.group(1)


def test_the_documented_codes_are_the_tables() -> None:
    assert set(re.findall(r"`([0-9A-Z]{2,3})`", _doc_row("asyncpg"))) == set(
        pg_adapter._CONNECTION_CLASSES
    )
    assert {int(n) for n in re.findall(r"\b\d{4}\b", _doc_row("asyncmy"))} == (
        mysql_adapter._CONNECTION
    )
    integrity = _doc_integrity()
    postgres = re.search(r"PostgreSQL class `23`: ([\d/]+)", integrity)
    mariadb = re.search(r"MariaDB ([\d/]+)", integrity)
    assert postgres and mariadb, integrity
    assert set(postgres.group(1).split("/")) == set(pg_adapter._INTEGRITY)
    assert {int(n) for n in mariadb.group(1).split("/")} == set(mysql_adapter._INTEGRITY)
    assert "SQLite `SQLITE_CONSTRAINT_*`" in integrity
    assert all(name.startswith("SQLITE_CONSTRAINT_") for name in sqlite_adapter._INTEGRITY)


def _id(value: object) -> str:
    return value.__name__ if isinstance(value, type) else str(value)


class _PostgresError(pg.PostgresError):
    """A server error carrying any SQLSTATE (asyncpg's own classes cover only known ones)."""

    def __init__(self, state: str) -> None:
        super().__init__("boom")
        self.sqlstate = state


def _postgres_codes() -> list[tuple[str, type[DeesseError]]]:
    codes: list[tuple[str, type[DeesseError]]] = [
        (state, INTEGRITY_CLASSES[kind]) for state, kind in pg_adapter._INTEGRITY.items()
    ]
    # Every class prefix, alone and as a full five-character SQLSTATE.
    for prefix in pg_adapter._CONNECTION_CLASSES:
        codes += [(prefix.ljust(5, "0"), ConnectionError), (prefix.ljust(5, "9"), ConnectionError)]
    return [*codes, (pg_adapter._UNDEFINED_TABLE, DatabaseError)]


@pytest.mark.parametrize(("state", "expected"), _postgres_codes(), ids=_id)
def test_every_postgres_table_entry(state: str, expected: type[DeesseError]) -> None:
    error = pg_adapter.translate(_PostgresError(state), {}, URL)
    assert isinstance(error, expected), (state, error)
    if expected is DatabaseError:  # an undefined table: the schema was never pushed
        assert "push" in str(error)
    if expected in INTEGRITY_CLASSES.values():
        assert type(error) is expected


def _mysql_codes() -> list[tuple[int, type[DeesseError]]]:
    codes: list[tuple[int, type[DeesseError]]] = [
        (errno, INTEGRITY_CLASSES[kind]) for errno, kind in mysql_adapter._INTEGRITY.items()
    ]
    codes += [(errno, ConnectionError) for errno in sorted(mysql_adapter._CONNECTION)]
    codes += [(errno, ConnectionError) for errno in mysql_adapter._TLS_FAILED]
    return [*codes, (mysql_adapter._NO_SUCH_TABLE, DatabaseError)]


@pytest.mark.parametrize(("errno", "expected"), _mysql_codes(), ids=_id)
def test_every_mysql_table_entry(errno: int, expected: type[DeesseError]) -> None:
    message = "SSL connection error 'x'" if errno in mysql_adapter._TLS_FAILED else "boom 'k'"
    error = mysql_adapter.translate(my.OperationalError(errno, message), {}, URL)
    assert isinstance(error, expected), (errno, error)
    if errno in mysql_adapter._TLS_FAILED:
        assert "over TLS" in str(error)
    if expected is DatabaseError:
        assert "push" in str(error)
    if expected in INTEGRITY_CLASSES.values():
        assert type(error) is expected


class _SqliteIntegrity(sqlite3.IntegrityError):
    sqlite_errorname = ""


@pytest.mark.parametrize(("name", "kind"), sorted(sqlite_adapter._INTEGRITY.items()))
def test_every_sqlite_table_entry(name: str, kind: str) -> None:
    exc = _SqliteIntegrity("constraint failed: users.email")
    exc.sqlite_errorname = name
    assert type(sqlite_adapter.translate(exc, {}, URL)) is INTEGRITY_CLASSES[kind]


def test_the_pool_level_boundary_translates_without_a_connection() -> None:
    # Borrowing from the pool and opening it: no connection to mark, same translation.
    boundary = DriverErrors(None, "d", lambda exc: ConnectionError("gone"))
    with pytest.raises(ConnectionError) as caught, boundary:
        raise OSError("refused")
    assert isinstance(caught.value.__cause__, OSError)
    unknown = DriverErrors(None, "d", lambda exc: None)
    with pytest.raises(DatabaseError, match="d failed unexpectedly"), unknown:
        raise RuntimeError("surprise")
    with pytest.raises(ConfigError), unknown:  # already ours: passes as it is
        raise ConfigError("bad option")
