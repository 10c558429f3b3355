"""SQLite 3.35+ (driver: aiosqlite), the embedded default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.engine import Dialect as SADialect

from .base import ColumnType, Dialect, Isolation, sa_dialect
from .sync_rules import TypeRules

if TYPE_CHECKING:  # importing it loads sqlalchemy.orm (~0.1 s at import deesse_async)
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["SQLiteDialect"]


class SQLiteDialect(Dialect):
    """SQLite: RETURNING since 3.35, transactional DDL, ALTER through table rebuilds."""

    name = "sqlite"
    display_name = "SQLite"
    sa_names = ("sqlite",)
    sqlglot_name = "sqlite"
    batch_alter = True
    # auto: in-process, one statement saves the per-level passes; a single nested level
    # wins even for many parents.
    auto_lateral_many_depth = 1
    # SQLITE_MAX_VARIABLE_NUMBER is 32766 since 3.32.
    max_bind_params = 32766
    # Take the write lock up front (IMMEDIATE) so that two transactions cannot deadlock
    # upgrading a read lock.
    begin_sql = "BEGIN IMMEDIATE"

    def _sa_dialect(self) -> SADialect:
        return sa_dialect(sa_aiosqlite.dialect)

    def begin_isolated(self, isolation: Isolation) -> tuple[str, ...]:
        """``BEGIN IMMEDIATE`` whatever the level: SQLite transactions are always
        serializable (one writer at a time holds the write lock from BEGIN IMMEDIATE on;
        readers see a snapshot), which meets every weaker level too. Dirty reads exist
        only in shared-cache mode, which the pool never uses.

        >>> from deesse_async.dialects import DIALECTS
        >>> DIALECTS["sqlite"].begin_isolated("read_committed")
        ('BEGIN IMMEDIATE',)
        """
        return (self.begin_sql,)

    # -- queries (query/): key sets, JSON aggregation, values inside JSON -----------

    def key_filter(self, columns: Sequence[Any], kinds: Sequence[str], param: str) -> Any:
        # A JSON array read with json_each; a composite key is an array per key.
        each = sa.func.json_each(sa.bindparam(param)).table_valued("value")
        if len(columns) == 1:
            return columns[0].in_(sa.select(each.c.value))
        parts = [sa.func.json_extract(each.c.value, f"$[{i}]") for i in range(len(columns))]
        return sa.tuple_(*columns).in_(sa.select(*parts))

    def json_rows(
        self, values: Sequence[Any], rows: Any, order: Sequence[Any], limit: Any, offset: Any
    ) -> Any:
        # json_group_array over an ordered, limited subquery (its order is kept).
        inner = rows.add_columns(self.json_row(values).label("r"))
        s = inner.order_by(*order).limit(limit).offset(offset).subquery("s")
        return sa.select(sa.func.json_group_array(sa.func.json(s.c.r)).label("data"))

    def json_value(self, kind: str | None, expr: Any) -> Any:
        if kind == "float":  # SQLite's JSON keeps 15 digits; 17 round-trip a double
            return sa.case((expr.is_(None), None), else_=sa.func.printf("%!.17g", expr))
        if kind == "json":  # stored as TEXT: embed it as JSON, not as a string
            return sa.func.json(expr)
        return expr

    def embed_json(self, value: Any) -> Any:
        # SQLite loses the JSON subtype across a subquery: json() restores it.
        return sa.func.json(value)

    # -- schema sync (sync/): type rules, checks, rebuilds, post-apply checks -------
    # sqlglot's SQLite spelling writes VARCHAR(10) as TEXT(10): the generic one reads better.
    type_rules = TypeRules(spelling=None)
    # SQLite keeps JSON in TEXT (a column typed JSON would get numeric affinity).
    json_unchecked = True
    affinity_casts = True
    # Batch mode rebuilds tables with foreign key checks off.
    foreign_key_check_sql = "PRAGMA foreign_key_check"

    # -- connections (runtime/schema_connections.py, drivers/): schema-connection setup ----------
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
    def column_variants(self) -> dict[ColumnType, sa.types.TypeEngine[Any]]:
        """INTEGER keys and JSON as TEXT."""
        return {
            # Only "INTEGER PRIMARY KEY" (the rowid alias) auto-increments, not BIGINT.
            "int_id": sa.Integer(),
            # A column typed JSON gets numeric affinity and would turn '42' into 42 (and big
            # integers into lossy REALs): store the JSON text as TEXT.
            "json": sa.Text(),
        }
