"""SQLite 3.35+ (driver: aiosqlite), the embedded default."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.engine import Dialect as SADialect
from sqlalchemy.ext.asyncio import AsyncEngine

from .base import Dialect, sa_dialect

__all__ = ["SQLiteDialect"]


class SQLiteDialect(Dialect):
    """SQLite: RETURNING since 3.35, transactional DDL, ALTER through table rebuilds."""

    name = "sqlite"
    display_name = "SQLite"
    sa_names = ("sqlite",)
    sqlglot_name = "sqlite"
    batch_alter = True
    # SQLITE_MAX_VARIABLE_NUMBER is 32766 since 3.32.
    max_bind_params = 32766
    # Take the write lock up front (IMMEDIATE) so that two transactions cannot deadlock
    # upgrading a read lock.
    begin_sql = "BEGIN IMMEDIATE"

    def _sa_dialect(self) -> SADialect:
        return sa_dialect(sa_aiosqlite.dialect)

    # -- queries (query/): key sets, JSON aggregation, values inside JSON -----------

    # -- schema sync (sync/): type rules, checks, rebuilds, post-apply checks -------

    # -- connections (runtime/admin.py, drivers/): schema-connection setup ----------
    admin_connection_sql = ("PRAGMA foreign_keys = ON",)

    def schema_connection_setup(self, engine: AsyncEngine, *, write: bool) -> None:
        """A real transaction around schema sync, with foreign keys off while it runs.

        pysqlite would otherwise commit before every DDL statement, so a failed plan
        could not be rolled back. SQLite's table-rebuild procedure needs foreign keys
        off (a DROP TABLE would otherwise delete or cascade into referencing rows); the
        sync checks ``PRAGMA foreign_key_check`` before committing. A write takes the
        write lock up front (``begin_sql``).
        """
        begin_sql = self.begin_sql if write else "BEGIN"

        @event.listens_for(engine.sync_engine, "connect")
        def _autocommit_off(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None  # we send BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = OFF")  # only effective outside a transaction
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql(begin_sql)

    # -- column types (compile/tables.py) --------------------------------------------
