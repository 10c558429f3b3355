"""Type changes the database cannot see, planned as conversions of the values they break.

SQLite stores a ``json()`` field as TEXT (a column typed JSON would get numeric
affinity), so ``text()`` -> ``json()`` looks like no change at all: the plan was empty
and every later read of the table failed to decode the plain text. Here the live values
are checked instead: a JSON column of ours holding values that are not valid JSON gets
an ``UPDATE`` turning each of them into a JSON string (``'hello'`` -> ``'"hello"'``), so
nothing is lost and everything reads back. The sentinel judges that UPDATE destructive
(it rewrites stored values), so it needs the same explicit yes as any other loss.

On PostgreSQL (JSONB) and MySQL/MariaDB (JSON with a validity CHECK) the type change is
visible and the database itself refuses values that are not JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

__all__ = ["Conversion", "find_conversions"]


@dataclass(frozen=True, slots=True)
class Conversion:
    """One statement that rewrites the values of ``table.column`` the new type cannot read."""

    table: str
    column: str
    sql: str
    rows: int  # how many values it rewrites


def _is_json(column: sa.Column[object]) -> bool:
    return isinstance(column.type, sa.JSON)


def find_conversions(
    conn: sa.Connection, target: sa.MetaData, live: Mapping[str, Sequence[str]]
) -> list[Conversion]:
    """Conversions for the JSON columns of existing SQLite tables that hold non-JSON text.

    ``target`` addresses tables and columns by their names in the database today (renames
    still pending), ``live`` lists the columns each existing table has.
    """
    if conn.dialect.name != "sqlite":
        return []
    quote = conn.dialect.identifier_preparer.quote
    out = []
    for table in sorted(target.tables.values(), key=lambda t: t.name):
        present = set(live.get(table.name, ()))
        for column in table.columns:
            if column.name not in present or not _is_json(column):
                continue
            t, c = quote(table.name), quote(column.name)
            broken = f"{c} IS NOT NULL AND NOT json_valid({c})"
            count = conn.exec_driver_sql(f"SELECT count(*) FROM {t} WHERE {broken}").scalar()
            if count:
                sql = f"UPDATE {t} SET {c} = json_quote({c}) WHERE {broken}"
                out.append(Conversion(table.name, column.name, sql, int(count)))
    return out
