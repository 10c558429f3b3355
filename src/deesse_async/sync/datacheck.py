"""Data-aware risks: which changes of a plan the rows already in the database would break.

A plan is judged twice. The sentinel reads the SQL (``sentinel.py``); this module reads
the data the SQL will meet, with one ``SELECT`` per change, before anything is applied:

- a new required column without a default, on a table that has rows;
- ``SET NOT NULL`` over rows holding NULL;
- a new UNIQUE (constraint or unique index) over duplicate values;
- a text column narrowed below the length of values it holds;
- a CHECK (select choices, number range) that rows already break;
- SQLite: a required column rebuilt into timestamp/date/uuid holding values that do not
  convert (``conversions.Retype``; an optional column gets NULL instead).

Each finding is a ``DataConflict``; ``push()`` refuses a plan that has any, so no database
ever meets a statement that must fail (PostgreSQL and SQLite would roll back, MySQL and
MariaDB would stop half-way, or silently fill a new NOT NULL column with ``''``). The
same rules hold on every backend, even where the database itself would let the change
through (SQLite keeps over-long text).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops

from .conversions import Retype, type_family
from .plan import DataConflict

__all__ = ["find_conflicts", "fitting_narrowings"]

_SAMPLES = 3  # values quoted in a message
_KINDS = ("not_null", "length", "unique", "check")


def find_conflicts(
    conn: sa.Connection,
    found: Sequence[ops.MigrateOperation],
    live: dict[str, list[str]],
    retypes: Sequence[Retype] = (),
) -> list[DataConflict]:
    """The conflicts between ``found`` (ordered alembic operations) and the live rows.

    ``live`` maps each existing table to its columns: only columns that exist now can
    hold data (a column added by the same plan has none yet).
    """
    out: list[DataConflict] = []
    for op in found:
        if isinstance(op, ops.ModifyTableOps) and op.table_name in live:
            out += _table_conflicts(conn, op.table_name, op.ops, set(live[op.table_name]))
    out += [_unconvertible(r) for r in retypes if r.rows and not r.nullable]
    # By table and column, not by operation: the same data gives the same message order.
    return sorted(out, key=lambda c: (c.table, c.column, _KINDS.index(c.kind)))


def _table_conflicts(
    conn: sa.Connection, table: str, sub: Sequence[ops.MigrateOperation], columns: set[str]
) -> list[DataConflict]:
    found: list[DataConflict] = []
    # A column converted to another type family holds old-typed values: comparing them
    # with the new CHECK (uuid < 0) or measuring them (char_length(boolean)) fails; the
    # conversion itself is judged (destructive) and refused by the database if it must.
    columns = columns - {
        op.column_name for op in sub if isinstance(op, ops.AlterColumnOp) and _retyped(op)
    }
    for op in sub:
        if isinstance(op, ops.AddColumnOp):
            found += _new_required(conn, table, op.column, columns)
        elif isinstance(op, ops.AlterColumnOp) and op.column_name in columns:
            found += _alter(conn, table, op)
        elif isinstance(op, ops.AddConstraintOp | ops.CreateIndexOp):
            found += _constraint(conn, table, op, columns)
    # A removed select choice also shortens the column: say it once, as the choice.
    checked = {c.column for c in found if c.kind == "check"}
    return [c for c in found if not (c.kind == "length" and c.column in checked)]


def _unconvertible(retype: Retype) -> DataConflict:
    where = f"{retype.table}.{retype.column}"
    problem = f"{_rows(retype.rows)} of {where} hold values that are not {retype.kind}s"
    fix = (
        f"convert or clear them first, or make {retype.column} optional "
        "(the values that do not convert then become NULL)"
    )
    return DataConflict(retype.table, retype.column, retype.rows, problem, fix, "not_null")


def _retyped(op: ops.AlterColumnOp) -> bool:
    return op.modify_type is not None and type_family(op.modify_type) != type_family(
        op.existing_type
    )


# --------------------------------------------------------------------------- counting


def _table(name: str, columns: Iterable[str]) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


def _scalar(conn: sa.Connection, query: sa.Select[Any]) -> int:
    return int(conn.execute(query).scalar_one() or 0)


def _rows(n: int) -> str:
    return f"{n} row{'s' * (n != 1)}"


def _quote(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------- NOT NULL


def _new_required(
    conn: sa.Connection, table: str, column: sa.Column[Any], columns: set[str]
) -> list[DataConflict]:
    if column.nullable or column.server_default is not None or column.primary_key:
        return []
    if column.name in columns:
        return []
    count = _scalar(conn, sa.select(sa.func.count()).select_from(sa.table(table)))
    if not count:
        return []
    where = f"{table}.{column.name}"
    return [
        DataConflict(
            table,
            column.name,
            count,
            f"{_rows(count)} would have NULL in {where} (a new required field without a default)",
            "give the field a literal default (it fills those rows), make it optional, "
            "or delete those rows",
            "not_null",
        )
    ]


def _alter(conn: sa.Connection, table: str, op: ops.AlterColumnOp) -> list[DataConflict]:
    out = []
    if op.modify_nullable is False and op.existing_nullable is not False:
        out += _nulls(conn, table, op.column_name)
    if op.modify_type is not None:
        out += _too_long(conn, table, op.column_name, op.modify_type, op.existing_type)
    return out


def _nulls(conn: sa.Connection, table: str, column: str) -> list[DataConflict]:
    t = _table(table, [column])
    count = _scalar(conn, sa.select(sa.func.count()).select_from(t).where(t.c[column].is_(None)))
    if not count:
        return []
    verb = "has" if count == 1 else "have"
    return [
        DataConflict(
            table,
            column,
            count,
            f"{_rows(count)} {verb} NULL in {table}.{column}",
            "fill those values (a new default does not fill existing rows), or keep the "
            "field optional",
            "not_null",
        )
    ]


# --------------------------------------------------------------------------- length


def _length(type_: Any, dialect: sa.Dialect) -> int | None:
    if type_ is None:
        return None
    impl = type_.dialect_impl(dialect)
    length = getattr(impl, "length", None) if isinstance(impl, sa.String) else None
    return length if isinstance(length, int) else None


def _longer_than(
    conn: sa.Connection, table: str, column: str, new_type: Any, old_type: Any
) -> int | None:
    """Stored values longer than the narrower ``new_type`` allows (None: not a narrowing)."""
    limit = _length(new_type, conn.dialect)
    before = _length(old_type, conn.dialect)
    if limit is None or (before is not None and before <= limit):
        return None
    t = _table(table, [column])
    # char_length: characters, not bytes (SQLAlchemy spells it length() on SQLite). The
    # CAST lets an integer column turned into text be measured too (PostgreSQL has no
    # char_length(integer)).
    length = sa.func.char_length(sa.cast(t.c[column], sa.String()))
    return _scalar(conn, sa.select(sa.func.count()).select_from(t).where(length > limit))


def fitting_narrowings(
    conn: sa.Connection, found: Sequence[ops.MigrateOperation], live: dict[str, list[str]]
) -> set[tuple[str, str]]:
    """``(table, column)`` of text columns made shorter where every stored value fits.

    Such a change loses nothing (removing an unused select choice shortens its
    ``VARCHAR``), so it is judged unsafe, not destructive. A longer value written after
    this check is refused by the ALTER itself (PostgreSQL; MySQL/MariaDB in strict mode)
    or by the CHECK the change brings (select choices); SQLite keeps it as it is.
    """
    out: set[tuple[str, str]] = set()
    for op in found:
        if not (isinstance(op, ops.ModifyTableOps) and op.table_name in live):
            continue
        for sub in op.ops:
            if (
                isinstance(sub, ops.AlterColumnOp)
                and sub.modify_type is not None
                and sub.column_name in live[op.table_name]
                and not _retyped(sub)  # text to shorter text only, not a conversion
                and _longer_than(
                    conn, op.table_name, sub.column_name, sub.modify_type, sub.existing_type
                )
                == 0
            ):
                out.add((op.table_name, sub.column_name))
    return out


def _too_long(
    conn: sa.Connection, table: str, column: str, new_type: Any, old_type: Any
) -> list[DataConflict]:
    count = _longer_than(conn, table, column, new_type, old_type)
    if not count:
        return []
    limit = _length(new_type, conn.dialect)
    before = _length(old_type, conn.dialect)
    verb = "is" if count == 1 else "are"
    return [
        DataConflict(
            table,
            column,
            count,
            f"{_rows(count)} {verb} longer than {limit} characters in {table}.{column}",
            f"shorten those values, or keep max={before}" if before else "shorten those values",
            "length",
        )
    ]


# --------------------------------------------------------------------------- constraints


def _names(items: Iterable[Any]) -> list[str]:
    return [item if isinstance(item, str) else str(getattr(item, "name", item)) for item in items]


def _constraint(
    conn: sa.Connection,
    table: str,
    op: ops.AddConstraintOp | ops.CreateIndexOp,
    columns: set[str],
) -> list[DataConflict]:
    if isinstance(op, ops.CreateIndexOp):
        unique = bool(op.unique)
        targets = _names(op.columns)
    else:
        constraint = op.to_constraint()
        if isinstance(constraint, sa.CheckConstraint):
            return _check(conn, table, constraint, columns)
        unique = isinstance(constraint, sa.UniqueConstraint)
        targets = _names(getattr(op, "columns", None) or getattr(constraint, "columns", None) or ())
    if not unique or not targets or not set(targets) <= columns:
        return []
    return _duplicates(conn, table, targets)


def _duplicates(conn: sa.Connection, table: str, targets: list[str]) -> list[DataConflict]:
    t = _table(table, targets)
    cols = [t.c[c] for c in targets]
    n = sa.func.count().label("n")
    groups = (
        sa.select(*cols, n)
        .where(*(c.is_not(None) for c in cols))  # NULLs never collide in a UNIQUE
        .group_by(*cols)
        .having(sa.func.count() > 1)
    )
    total = _scalar(conn, sa.select(sa.func.count()).select_from(groups.subquery()))
    if not total:
        return []
    top = conn.execute(groups.order_by(n.desc(), *cols).limit(_SAMPLES)).all()
    samples = ", ".join(
        f"{', '.join(_quote(v) for v in row[:-1])} in {row[-1]} rows" for row in top
    )
    more = ", …" if total > len(top) else ""
    where = f"{table}.{targets[0]}" if len(targets) == 1 else f"{table} ({', '.join(targets)})"
    noun = "value" if total == 1 else "values"
    return [
        DataConflict(
            table,
            ", ".join(targets),
            total,
            f"{total} duplicate {noun} in {where} ({samples}{more})",
            "make those values distinct (or delete the extra rows), or drop unique",
            "unique",
        )
    ]


def _columns_of(clause: Any) -> list[str]:
    seen = {
        str(node.name): None
        for node in sa.sql.visitors.iterate(clause)
        if isinstance(node, sa.sql.expression.ColumnClause)
    }
    return list(seen)


def _is_choices(clause: Any) -> bool:
    operator = getattr(clause, "operator", None)
    return operator is sa.sql.operators.in_op


def _check(
    conn: sa.Connection, table: str, check: sa.CheckConstraint, columns: set[str]
) -> list[DataConflict]:
    used = _columns_of(check.sqltext)
    if len(used) != 1 or used[0] not in columns:
        return []  # a column the same plan adds holds no rows yet
    column = used[0]
    t = _table(table, [column])
    # NOT (x IN (...)) is NULL for a NULL x: NULLs pass a CHECK and are not counted.
    breaking = sa.not_(check.sqltext)
    count = _scalar(conn, sa.select(sa.func.count()).select_from(t).where(breaking))
    if not count:
        return []
    n = sa.func.count().label("n")
    query = sa.select(t.c[column], n).select_from(t).where(breaking).group_by(t.c[column])
    top = conn.execute(query.order_by(n.desc(), t.c[column]).limit(_SAMPLES)).all()
    held = ", ".join(f"{_quote(row[0])} in {_rows(row[1])}" for row in top)
    more = ", …" if len(top) == _SAMPLES else ""
    where = f"{table}.{column}"
    if _is_choices(check.sqltext):
        problem = f"{_rows(count)} hold a choice no longer allowed in {where} ({held}{more})"
        if len(top) == 1:
            verb = "holds" if count == 1 else "hold"
            problem = f"{_rows(count)} {verb} {_quote(top[0][0])} in {where}"
        fix = "change those rows to an allowed choice, or keep the choice"
    else:
        rule = _rule(conn, check)
        verb = "holds a value" if count == 1 else "hold values"
        problem = f"{_rows(count)} {verb} outside the new range in {where}: {rule} ({held}{more})"
        fix = "change those values, or keep the old range"
    return [DataConflict(table, column, count, problem, fix, "check")]


def _rule(conn: sa.Connection, check: sa.CheckConstraint) -> str:
    compiled = check.sqltext.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return " ".join(str(compiled).replace("%%", "%").split())
