"""One order for everything a plan lists, whatever the interpreter's hash seed.

SQLAlchemy keeps a table's constraints and indexes in plain ``set``s, and alembic
iterates sets of names and objects while comparing; the iteration order of a set of
objects follows their memory addresses, and of a set of strings the hash seed. Left
alone, the same collections and database give a different plan in every process
(constraints inside a rebuild's ``CREATE TABLE``, the order of ``CREATE INDEX``...), and
the plan a person approved is not the plan about to be applied. Every place a set
reaches the SQL goes through these sort keys instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.util import OrderedSet

__all__ = [
    "canonical_ops",
    "canonical_sub_ops",
    "canonical_table",
    "constraint_key",
    "sorted_constraints",
]

_KINDS: tuple[tuple[type[Any], int], ...] = (
    (sa.PrimaryKeyConstraint, 0),
    (sa.ForeignKeyConstraint, 1),
    (sa.UniqueConstraint, 2),
    (sa.CheckConstraint, 3),
    (sa.Index, 4),
)


def _columns(item: Any) -> tuple[str, ...]:
    try:
        return tuple(str(c.name) for c in item.columns)
    except (AttributeError, sa.exc.ArgumentError):
        return ()


def constraint_key(item: Any) -> tuple[int, str, tuple[str, ...]]:
    """Sort key of a constraint or index: its kind, its name, then its columns."""
    kind = next((rank for cls, rank in _KINDS if isinstance(item, cls)), 5)
    name = item.name if isinstance(item.name, str) else ""
    return kind, name, _columns(item)


def sorted_constraints(items: Iterable[Any]) -> list[Any]:
    """Constraints (or indexes) in the canonical order."""
    return sorted(items, key=constraint_key)


def canonical_table(table: sa.Table) -> sa.Table:
    """Make ``table``'s constraint and index sets iterate in the canonical order (in place).

    Alembic's batch mode (the SQLite rebuild) copies them in iteration order.
    """
    table.constraints = OrderedSet(sorted_constraints(table.constraints))
    table.indexes = OrderedSet(sorted_constraints(table.indexes))
    return table


def _create_table(op: ops.CreateTableOp) -> ops.CreateTableOp:
    columns = [c for c in op.columns if isinstance(c, sa.Column)]
    others = sorted_constraints(c for c in op.columns if not isinstance(c, sa.Column))
    op.columns = [*columns, *others]
    return op


def _sub_key(op: ops.MigrateOperation, positions: dict[str, int]) -> tuple[int, str]:
    """Column operations keep the table's column order; the rest go by name."""
    column = getattr(op, "column_name", None)
    if isinstance(column, str) and column in positions:
        return positions[column], column
    for attr in ("constraint_name", "index_name", "column_name"):
        name = getattr(op, attr, None)
        if name is not None:
            return len(positions), str(name)
    return len(positions), ""


def canonical_sub_ops(
    table_name: str, sub: Iterable[ops.MigrateOperation], target: sa.MetaData
) -> list[ops.MigrateOperation]:
    """One table's operations: column operations in column order, the rest by name."""
    table = target.tables.get(table_name)
    names = [c.name for c in table.columns] if table is not None else []
    positions = {name: n for n, name in enumerate(names)}
    return sorted(sub, key=lambda op: _sub_key(op, positions))


def canonical_ops(
    found: Sequence[ops.MigrateOperation], target: sa.MetaData
) -> list[ops.MigrateOperation]:
    """``found`` with every table's constraints and sub-operations in the canonical order.

    The caller's ranking of sub-operations (drops before adds...) must be applied with a
    *stable* sort after this one.
    """
    out: list[ops.MigrateOperation] = []
    for op in found:
        if isinstance(op, ops.CreateTableOp):
            out.append(_create_table(op))
        elif isinstance(op, ops.ModifyTableOps):
            op.ops = canonical_sub_ops(op.table_name, op.ops, target)
            out.append(op)
        else:
            out.append(op)
    return out
