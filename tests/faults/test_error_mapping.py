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
import sqlite3
from typing import Any

import asyncmy.constants.CR as CR
import asyncmy.constants.ER as ER
import asyncpg.exceptions as pg
import pytest
from asyncmy import errors as my

from deesse_async.drivers import aiosqlite as sqlite_adapter
from deesse_async.drivers import asyncmy as mysql_adapter
from deesse_async.drivers import asyncpg as pg_adapter
from deesse_async.drivers.base import DriverErrors
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
    elif issubclass(cls, pg.ClientConfigurationError):  # e.g. an sslrootcert not found
        assert isinstance(error, ConfigError | ConnectionError), cls
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
