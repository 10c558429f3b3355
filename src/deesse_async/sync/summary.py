"""Each change of a plan in a person's words, naming the data it loses.

A statement such as ``DROP TABLE tasks`` does not say what it loses when it is step three
of a SQLite table rebuild; the person asked to approve it needs "rebuild tasks: drop
column color (2 values)". ``summarise`` writes that line for one ``Change`` (one schema
change, one or several statements), counting the non-NULL values of every column it
drops or converts and the rows of every table it drops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops

from .render import Change, type_sql

__all__ = ["Summary", "summarise"]

TableOps = Mapping[str, Sequence[ops.MigrateOperation]]


class Summary:
    """A change's one-line summary and, when it loses data, what it loses."""

    __slots__ = ("loss", "text")

    def __init__(self, text: str, loss: str | None = None) -> None:
        self.text = text
        self.loss = loss  # e.g. "2 values of tasks.color", "3 rows of tags"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _values(conn: sa.Connection, table: str, columns: Sequence[str]) -> dict[str, int]:
    """Non-NULL values per column, in one scan."""
    if not columns:
        return {}
    t = sa.table(table, *(sa.column(c) for c in columns))
    row = conn.execute(sa.select(*(sa.func.count(t.c[c]) for c in columns))).one()
    return {c: int(n) for c, n in zip(columns, row, strict=True)}


def _rows(conn: sa.Connection, table: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())


def _type(type_: Any, dialect: sa.Dialect) -> str:
    return type_sql(type_, dialect) if type_ is not None else "?"


def _alter_parts(
    op: ops.AlterColumnOp, dialect: sa.Dialect, values: Mapping[str, int]
) -> list[str]:
    name, parts = op.column_name, []
    if op.modify_type is not None:
        old, new = _type(op.existing_type, dialect), _type(op.modify_type, dialect)
        count = values.get(name)
        lost = f" ({_plural(count, 'value')} converted)" if count is not None else ""
        parts.append(f"change {name} from {old} to {new}{lost}")
    if op.modify_nullable is not None:
        parts.append(f"make {name} {'optional' if op.modify_nullable else 'required'}")
    if op.modify_server_default is not False:
        parts.append(f"change the default of {name}")
    return parts


def _part(op: ops.MigrateOperation, dialect: sa.Dialect, values: Mapping[str, int]) -> list[str]:
    if isinstance(op, ops.AddColumnOp):
        return [f"add column {op.column.name}"]
    if isinstance(op, ops.DropColumnOp):
        count = values.get(op.column_name, 0)
        return [f"drop column {op.column_name} ({_plural(count, 'value')})"]
    if isinstance(op, ops.AlterColumnOp):
        return _alter_parts(op, dialect, values)
    if isinstance(op, ops.AddConstraintOp):
        name = getattr(op.to_constraint(), "name", None)
        return [f"add {op.constraint_type or 'constraint'} {name or ''}".rstrip()]
    if isinstance(op, ops.DropConstraintOp):
        return [f"drop {op.constraint_type or 'constraint'} {op.constraint_name}"]
    if isinstance(op, ops.CreateIndexOp):
        return [f"add {'unique ' if op.unique else ''}index {op.index_name}"]
    if isinstance(op, ops.DropIndexOp):
        return [f"drop index {op.index_name}"]
    return []


def _lost_columns(
    values: Mapping[str, int], table: str, sub: Sequence[ops.MigrateOperation]
) -> str | None:
    """``2 values of tasks.color`` (dropped), ``4 values of tasks.title (converted)``."""
    dropped = {op.column_name for op in sub if isinstance(op, ops.DropColumnOp)}
    parts = [
        f"{_plural(n, 'value')} of {table}.{c}{'' if c in dropped else ' (converted)'}"
        for c, n in values.items()
    ]
    return ", ".join(parts) or None


def _replaced(parts: list[str]) -> list[str]:
    """``drop check X`` + ``add check X`` (a changed CHECK) read as ``replace check X``."""
    out: list[str] = []
    for part in parts:
        verb, _, rest = part.partition(" ")
        if verb == "add" and f"drop {rest}" in out:
            out[out.index(f"drop {rest}")] = f"replace {rest}"
        else:
            out.append(part)
    return out


def _rebuild(conn: sa.Connection, change: Change, sub: Sequence[ops.MigrateOperation]) -> Summary:
    values = _values(conn, change.table, change.lossy_columns or ())
    parts = _replaced([p for op in sub for p in _part(op, conn.dialect, values)])
    text = f"rebuild {change.table}: {', '.join(parts) or 'copy the rows'}"
    return Summary(text, _lost_columns(values, change.table, sub))


def _columns(conn: sa.Connection, change: Change, sub: Sequence[ops.MigrateOperation]) -> Summary:
    table, columns = change.table, change.lossy_columns or ()
    values = _values(conn, table, columns)
    dropped = {op.column_name for op in sub if isinstance(op, ops.DropColumnOp)}
    altered = {op.column_name: op for op in sub if isinstance(op, ops.AlterColumnOp)}
    parts = []
    for column in columns:
        count = _plural(values[column], "value")
        op = altered.get(column)
        if column in dropped or op is None:
            parts.append(f"drop column {table}.{column} ({count})")
        else:
            old, new = _type(op.existing_type, conn.dialect), _type(op.modify_type, conn.dialect)
            parts.append(f"change {table}.{column} from {old} to {new} ({count} converted)")
    return Summary(", ".join(parts), _lost_columns(values, table, sub))


def summarise(conn: sa.Connection, change: Change, table_ops: TableOps) -> Summary:
    """The summary of ``change``; ``table_ops`` maps each altered table to its operations."""
    sub = table_ops.get(change.table, ())
    if change.intents:
        return _rebuild(conn, change, sub)
    if change.lossy_columns == ():
        rows = _rows(conn, change.table)
        return Summary(f"drop table {change.table} ({_plural(rows, 'row')})",
                       f"{_plural(rows, 'row')} of {change.table}")  # fmt: skip
    if change.lossy_columns:
        return _columns(conn, change, sub)
    return Summary("; ".join(" ".join(s.split()) for s in change.statements))
