"""MySQL 8 and MariaDB 10.5+ (driver: asyncmy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.mysql import asyncmy as sa_asyncmy
from sqlalchemy.engine import Dialect as SADialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .base import ColumnType, Dialect, Isolation, sa_dialect
from .sync_rules import TypeRules

__all__ = ["MySQLDialect"]

# A key column's kind -> its JSON_TABLE column type.
_KEY_TYPES: dict[str, str] = {
    "int": "BIGINT",
    "uuid": "CHAR(32)",
    "str": "VARCHAR(768)",
    "date": "DATE",
    "datetime": "DATETIME(6)",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "json": "JSON",
}
# MariaDB needs a row count with OFFSET; this is "no limit".
_NO_LIMIT = 18446744073709551615


class JsonArrayAgg(FunctionElement[Any]):
    """MariaDB's ``JSON_ARRAYAGG(expr ORDER BY ... LIMIT n OFFSET m)``."""

    name = "json_arrayagg"
    inherit_cache = False

    def __init__(self, expr: Any, order_by: Sequence[Any], limit: Any, offset: Any) -> None:
        self.expr, self.order, self.limit, self.offset = expr, list(order_by), limit, offset
        super().__init__(expr)


@compiles(JsonArrayAgg)
def _compile_json_arrayagg(element: JsonArrayAgg, compiler: Any, **kw: Any) -> str:
    sql = f"JSON_ARRAYAGG({compiler.process(element.expr, **kw)}"
    if element.order:
        sql += " ORDER BY " + ", ".join(compiler.process(o, **kw) for o in element.order)
    if element.limit is not None or element.offset is not None:
        limit = compiler.process(element.limit, **kw) if element.limit is not None else _NO_LIMIT
        sql += f" LIMIT {limit}"
        if element.offset is not None:
            sql += f" OFFSET {compiler.process(element.offset, **kw)}"
    return sql + ")"


class CastDouble(FunctionElement[float]):
    """``CAST(x AS DOUBLE)`` (MariaDB 10.4+, MySQL 8.0.17+), which SQLAlchemy does not
    render: it skips a CAST to a float type on MySQL, with a warning."""

    name = "cast_double"
    inherit_cache = True
    type = sa.Double()


@compiles(CastDouble)
def _compile_cast_double(element: CastDouble, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DOUBLE)"


class MySQLDialect(Dialect):
    """MySQL 8 / MariaDB: no RETURNING we can rely on, DDL commits itself."""

    name = "mysql"
    display_name = "MySQL"
    sa_names = ("mysql", "mariadb")
    sqlglot_name = "mysql"
    # MySQL 8 has no RETURNING, MariaDB none on UPDATE: writes read their row back inside
    # the same transaction.
    insert_returning = False
    update_returning = False
    # Each DDL statement commits (sync/apply.py reports what a stopped plan left applied).
    transactional_ddl = False
    # auto (measured on MariaDB 10.11): correlated JSON subqueries nested two deep lose to
    # one query per level even under one parent row.
    auto_lateral_few_depth = 1
    max_bind_params = 65535
    nulls_sort_low = True

    def _sa_dialect(self) -> SADialect:
        return sa_dialect(sa_asyncmy.dialect)

    def begin_isolated(self, isolation: Isolation) -> tuple[str, ...]:
        """``SET TRANSACTION ISOLATION LEVEL ...`` then ``START TRANSACTION``.

        Without SESSION the SET applies to the next transaction only, and a ROLLBACK
        (what a failed or cancelled START TRANSACTION gets) clears it: it never leaks to
        the connection's next borrower.

        >>> from deesse_async.dialects import DIALECTS
        >>> DIALECTS["mysql"].begin_isolated("serializable")
        ('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'START TRANSACTION')
        """
        level = isolation.replace("_", " ").upper()
        return (f"SET TRANSACTION ISOLATION LEVEL {level}", "START TRANSACTION")

    # -- queries (query/): key sets, JSON aggregation, values inside JSON -----------

    def key_filter(self, columns: Sequence[Any], kinds: Sequence[str], param: str) -> Any:
        # A JSON array read with JSON_TABLE (SQLAlchemy has no construct for it).
        single = len(columns) == 1
        defs = ", ".join(
            f"k{i} {_KEY_TYPES[k]} PATH '$" + ("" if single else f"[{i}]") + "'"
            for i, k in enumerate(kinds)
        )
        names = ", ".join(f"jt.k{i}" for i in range(len(columns)))
        keys = sa.text(
            f"SELECT {names} FROM JSON_TABLE(:{param}, '$[*]' COLUMNS ({defs})) AS jt"
        ).bindparams(sa.bindparam(param))
        target = columns[0] if single else sa.tuple_(*columns)
        return target.in_(keys)

    def json_rows(
        self, values: Sequence[Any], rows: Any, order: Sequence[Any], limit: Any, offset: Any
    ) -> Any:
        # No LATERAL and no outer references in derived tables: the aggregate itself
        # orders and limits (MariaDB's JSON_ARRAYAGG ... ORDER BY ... LIMIT).
        agg = JsonArrayAgg(self.json_row(values), order, limit, offset)
        return rows.add_columns(sa.func.coalesce(agg, sa.func.json_array()).label("data"))

    def as_double(self, expr: Any) -> Any:
        return CastDouble(expr)

    def kept_rows(
        self,
        rows: Any,
        target: sa.FromClause,
        columns: Sequence[str],
        order: Sequence[Any],
        limit: Any,
        offset: Any,
        name: str,
    ) -> tuple[sa.FromClause, Any, list[Any]]:
        # A derived table cannot see the parent row: the kept rows' ids in order
        # (JSON_ARRAYAGG ... LIMIT), read back with JSON_TABLE (whose argument may), each
        # with its position, joined to a new alias of the table.
        ids = JsonArrayAgg(target.c.id, order, limit, offset)
        key_type = target.c.id.type.compile(dialect=self.sa_dialect)
        spec: Any = sa.literal_column(f"'$[*]' COLUMNS (n FOR ORDINALITY, k {key_type} PATH '$')")
        kept = sa.func.json_table(rows.add_columns(ids).scalar_subquery(), spec)
        keys = kept.table_valued("n", "k").alias(f"{name}_ids")
        view = target.element.alias(name)  # type: ignore[attr-defined]
        return view, keys.join(view, view.c.id == keys.c.k), [keys.c.n]

    # -- schema sync (sync/): type rules, checks, rebuilds, post-apply checks -------
    type_rules = TypeRules(
        spelling="mysql",
        decimal_default=(10, 0),
        # TEXT sizes are bytes; divide by 4 because utf8mb4 may need 4 bytes a character.
        text_chars={
            "TINYTEXT": 255 // 4,
            "TEXT": 65_535 // 4,
            "MEDIUMTEXT": 16_777_215 // 4,
            "LONGTEXT": 4_294_967_295 // 4,
        },
    )
    # MySQL/MariaDB quote and lower-case a CHECK's text.
    check_spelling = "normalised"

    # -- connections (runtime/schema_connections.py, drivers/): schema-connection setup ----------

    # -- column types (compile/tables.py) --------------------------------------------
    # Binary collation: '=', LIKE and UNIQUE compare exactly, as on PostgreSQL and SQLite
    # (the default *_ci collations would make 'a' = 'A').
    table_options: ClassVar[Mapping[str, str]] = {
        "mysql_charset": "utf8mb4",
        "mysql_collate": "utf8mb4_bin",
    }

    def column_variants(self) -> dict[ColumnType, sa.types.TypeEngine[Any]]:
        """DATETIME(6) and a bounded indexed text."""
        return {
            # DATETIME keeps no fractions unless asked: DATETIME(6) keeps microseconds.
            "timestamp": mysql.DATETIME(fsp=6),
            # InnoDB indexes at most 3072 bytes = 768 utf8mb4 characters.
            "indexed_text": sa.String(768),
        }
