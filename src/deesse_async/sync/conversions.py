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

A SQLite rebuild into ``timestamp()``, ``date()`` or ``uuid()`` from another kind of
field (a ``Retype``) copied each value through ``CAST(v AS DATETIME)``: DATETIME and DATE
have numeric affinity, so ``'2024-01-01 ...'`` became the integer 2024 and ``'hello'``
became 0, and no row of the table could be read again. The copy now writes the values
already in a form we read (ISO text, 32 or 36 hex digits) in our stored form and keeps
the others as they were; an ``UPDATE`` then sets those to NULL, counted and judged
destructive. A required column cannot take the NULLs: that is a data conflict
(``datacheck.py``). PostgreSQL and MySQL convert such values themselves or refuse them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops

from ..dialects import dialect_for

__all__ = ["Conversion", "Retype", "find_conversions", "find_retypes", "type_family"]


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
    """Conversions for the JSON columns of existing tables that hold non-JSON text, where
    the database keeps JSON unchecked (``Dialect.json_unchecked``: SQLite).

    ``target`` addresses tables and columns by their names in the database today (renames
    still pending), ``live`` lists the columns each existing table has.
    """
    if not dialect_for(conn.dialect.name).json_unchecked:
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


# --------------------------------------------------------------------------- retypes

_DAY = "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]"
_TIME = "[0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
_HEX = "'*[^0-9a-f]*'"
_KINDS = {dt.datetime: "timestamp", dt.date: "date", uuid.UUID: "uuid"}


def _stamp(x: str) -> str:
    """``x`` (a checked ISO date or date-time) as ``'YYYY-MM-DD HH:MM:SS'``."""
    clock = f"CASE WHEN length({x}) = 10 THEN '00:00:00' ELSE substr({x}, 12, 8) END"
    return f"substr({x}, 1, 10) || ' ' || {clock}"


def _is_stamp(x: str) -> str:
    # ISO text with a real calendar day and time (the '+0 days' round trip turns
    # 2024-02-30 into 2024-03-01) and up to 6 fraction digits: what fromisoformat reads.
    fraction = f"{x} GLOB '{_DAY}[T ]{_TIME}.[0-9]*' AND length({x}) <= 26"
    form = f"{x} GLOB '{_DAY}' OR {x} GLOB '{_DAY}[T ]{_TIME}' OR ({fraction})"
    whole = f"substr({x}, 21) NOT GLOB '*[^0-9]*'"
    real = f"datetime({_stamp(x)}, '+0 days') = {_stamp(x)}"
    return (
        f"typeof({x}) = 'text' AND ({form}) AND {whole} AND substr({x}, 1, 4) <> '0000' AND {real}"
    )


def _is_uuid(x: str) -> str:
    dashed = " AND ".join(f"substr({x}, {n}, 1) = '-'" for n in (9, 14, 19, 24))
    digits = f"lower(replace({x}, '-', ''))"
    shape = f"length({x}) = 32 OR (length({x}) = 36 AND {dashed})"
    return (
        f"typeof({x}) = 'text' AND ({shape}) AND length({digits}) = 32 AND {digits} NOT GLOB {_HEX}"
    )


@dataclass(frozen=True, slots=True)
class Retype:
    """A SQLite rebuild of ``table.column`` into a timestamp, date or uuid column."""

    table: str
    column: str
    kind: str  # "timestamp", "date" or "uuid"
    cast: str  # the type alembic's copy CASTs to (DATETIME, DATE, CHAR(32))
    nullable: bool
    rows: int  # stored values that do not convert and become NULL

    def valid(self, x: str) -> str:
        """SQL: ``x`` is a value of ours or converts to one (never NULL: date() of a
        month 13 is NULL, and NOT NULL would keep it)."""
        return f"coalesce({_is_uuid(x) if self.kind == 'uuid' else _is_stamp(x)}, 0)"

    def stored(self, x: str) -> str:
        """SQL: a valid ``x`` in the form our decoder reads and writes."""
        if self.kind == "uuid":
            return f"lower(replace({x}, '-', ''))"
        if self.kind == "date":
            return f"substr({x}, 1, 10)"
        fraction = f"CASE WHEN length({x}) > 20 THEN substr({x}, 21) ELSE '' END"
        return f"{_stamp(x)} || '.' || substr({fraction} || '000000', 1, 6)"

    def copy(self, x: str) -> str:
        """SQL for the rebuild's copy of ``x``: converted if valid, else as it was."""
        return f"CASE WHEN {self.valid(x)} THEN {self.stored(x)} ELSE {x} END"

    def update(self, dialect: sa.Dialect) -> str:
        """The ``UPDATE`` setting the values that did not convert to NULL."""
        quote = dialect.identifier_preparer.quote
        t, c = quote(self.table), quote(self.column)
        return f"UPDATE {t} SET {c} = NULL WHERE {c} IS NOT NULL AND NOT ({self.valid(c)})"

    @property
    def loss(self) -> str:
        """What the UPDATE loses, in words."""
        return (
            f"{self.rows} values of {self.table}.{self.column} are not {self.kind}s and become NULL"
        )


def _retype_kind(op: ops.AlterColumnOp) -> str | None:
    if op.modify_type is None:
        return None
    new = type_family(op.modify_type)
    kind = _KINDS.get(new) if isinstance(new, type) else None
    return kind if kind and type_family(op.existing_type) != new else None


def _nullable(op: ops.AlterColumnOp) -> bool:
    if op.modify_nullable is not None:
        return bool(op.modify_nullable)
    return op.existing_nullable is not False


def find_retypes(
    conn: sa.Connection, found: Sequence[ops.MigrateOperation], live: Mapping[str, Sequence[str]]
) -> list[Retype]:
    """The columns of existing tables ``found`` rebuilds into timestamp/date/uuid, where a
    rebuild's CAST follows type affinity (``Dialect.affinity_casts``: SQLite)."""
    if not dialect_for(conn.dialect.name).affinity_casts:
        return []
    quote = conn.dialect.identifier_preparer.quote
    out = []
    for table_op in found:
        if not isinstance(table_op, ops.ModifyTableOps) or table_op.table_name not in live:
            continue
        for op in table_op.ops:
            if (
                not isinstance(op, ops.AlterColumnOp)
                or op.column_name not in live[table_op.table_name]
            ):
                continue
            kind = _retype_kind(op)
            if kind is None or op.modify_type is None:
                continue
            retype = Retype(
                table_op.table_name,
                op.column_name,
                kind,
                str(op.modify_type.compile(dialect=conn.dialect)),
                _nullable(op),
                0,
            )
            t, c = quote(retype.table), quote(retype.column)
            where = f"{c} IS NOT NULL AND NOT ({retype.valid(c)})"
            count = conn.exec_driver_sql(f"SELECT count(*) FROM {t} WHERE {where}").scalar()
            out.append(dataclasses.replace(retype, rows=int(count or 0)))
    return out


def type_family(type_: Any) -> object:
    """The kind of values a column type holds (number, str, datetime, ...), or None."""
    if isinstance(type_, sa.Integer | sa.Float | sa.Numeric):
        return "number"  # MySQL reflects DOUBLE as a Decimal type: still a number
    try:
        return type_.python_type
    except NotImplementedError:
        return None
