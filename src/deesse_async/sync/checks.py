"""CHECK constraints (select choices, number ranges): compared by name *and* definition.

Alembic does not compare CHECK constraints, so a changed ``select(...)`` would keep
refusing the new choice. Every database rewrites a CHECK's text its own way, so each
side is brought to the same spelling before comparing (``Dialect.check_spelling``):

- "as_written" (SQLite): compare the text with ours, whitespace aside;
- "normalised" (MySQL/MariaDB quote and lower-case it): both sides go through sqlglot;
- "probed" (PostgreSQL rewrites it deeply: ``= ANY (ARRAY[...])``, casts): ours is added
  to a temporary table with the target columns inside a savepoint, read back with the
  dialect's ``check_definitions_sql`` and rolled back, so the database spells both.

Only constraints named ``ck_*`` (the compiler's names) are ever dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
import sqlglot
from alembic.operations import ops
from sqlglot import exp

from ..dialects import Dialect, dialect_for
from ..dialects.sync_rules import CheckSpelling
from .canonical import sorted_constraints

__all__ = ["CHECK_PREFIX", "check_ops"]

CHECK_PREFIX = "ck_"
_PROBE = "_deesse_check_probe"
Definitions = dict[str, str]


def _compiled(check: sa.CheckConstraint, dialect: sa.Dialect) -> str:
    sql = str(check.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    return sql.replace("%%", "%") if dialect.paramstyle in ("format", "pyformat") else sql


def _flat(sql: str) -> str:
    return " ".join(sql.split())


def _normal_form(sql: str, read: str) -> str:
    try:
        tree = sqlglot.parse_one(sql, read=read)
    except sqlglot.errors.SqlglotError:
        return _flat(sql)
    for identifier in tree.find_all(exp.Identifier):
        identifier.set("quoted", False)
    while isinstance(tree, exp.Paren):
        tree = tree.this
    # MariaDB stores ``f IN ('d')`` (a select with one choice) as ``f = 'd'``.
    tree = tree.transform(_single_in_as_eq)
    return tree.sql(dialect=read, normalize=True)


def _single_in_as_eq(node: exp.Expr) -> exp.Expr:
    items = node.expressions if isinstance(node, exp.In) else []
    if len(items) == 1 and not node.args.get("query"):
        return exp.EQ(this=node.this, expression=items[0])
    return node


def _reflected(conn: sa.Connection, table: str) -> Definitions:
    return {
        str(c["name"]): str(c["sqltext"])
        for c in sa.inspect(conn).get_check_constraints(table)
        if c["name"]
    }


def _as_written(
    conn: sa.Connection, dialect: Dialect, table: sa.Table, wanted: dict[str, sa.CheckConstraint]
) -> tuple[Definitions, Definitions]:
    ours = {n: _flat(_compiled(c, conn.dialect)) for n, c in wanted.items()}
    return ours, {n: _flat(sql) for n, sql in _reflected(conn, table.name).items()}


def _normalised(
    conn: sa.Connection, dialect: Dialect, table: sa.Table, wanted: dict[str, sa.CheckConstraint]
) -> tuple[Definitions, Definitions]:
    read = dialect.sqlglot_name
    ours = {n: _normal_form(_compiled(c, conn.dialect), read) for n, c in wanted.items()}
    theirs = {n: _normal_form(sql, read) for n, sql in _reflected(conn, table.name).items()}
    return ours, theirs


def _definitions(conn: sa.Connection, dialect: Dialect, table: str) -> Definitions:
    assert dialect.check_definitions_sql is not None  # "probed" dialects have it
    quoted = conn.dialect.identifier_preparer.quote(table)
    rows = conn.execute(sa.text(dialect.check_definitions_sql), {"table": quoted}).all()
    # 'CHECK ((n >= 0))' -> '(n >= 0)': the expression, as the other dialects reflect it.
    return {str(name): str(d).removeprefix("CHECK ").strip() for name, d in rows}


def _probed(
    conn: sa.Connection, dialect: Dialect, table: sa.Table, wanted: dict[str, sa.CheckConstraint]
) -> tuple[Definitions, Definitions]:
    theirs = _definitions(conn, dialect, table.name)
    if not wanted:
        return {}, theirs
    quote = conn.dialect.identifier_preparer.quote
    # The probe has the *target* columns and types: a CHECK on a column the plan adds
    # (or retypes) must be spelled against that column, which the live table lacks.
    probe = sa.Table(
        _PROBE,
        sa.MetaData(),
        *(sa.Column(c.name, c.type) for c in table.columns),
        prefixes=["TEMPORARY"],
    )
    savepoint = conn.begin_nested()
    try:
        conn.execute(sa.schema.CreateTable(probe))
        for name, check in wanted.items():
            definition = _compiled(check, conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {_PROBE} ADD CONSTRAINT {quote(name)} CHECK ({definition})"
            )
        ours = _definitions(conn, dialect, _PROBE)
    finally:
        savepoint.rollback()
    return ours, theirs


_SPELLINGS: dict[
    CheckSpelling,
    Callable[
        [sa.Connection, Dialect, sa.Table, dict[str, sa.CheckConstraint]],
        tuple[Definitions, Definitions],
    ],
] = {"as_written": _as_written, "normalised": _normalised, "probed": _probed}


def _drop(table: str, name: str, sqltext: str) -> ops.MigrateOperation:
    holder = sa.Table(table, sa.MetaData())
    check = sa.CheckConstraint(sa.text(sqltext), name=name)
    holder.append_constraint(check)
    return ops.DropConstraintOp.from_constraint(check)


def check_ops(
    conn: sa.Connection, table: sa.Table
) -> tuple[list[ops.MigrateOperation], list[ops.MigrateOperation]]:
    """(drops, adds) that bring the CHECK constraints of an existing table to ``table``'s.

    A changed definition is a drop and an add of the same name.
    """
    wanted = {
        c.name: c
        for c in sorted_constraints(table.constraints)
        if isinstance(c, sa.CheckConstraint) and isinstance(c.name, str)
    }
    dialect = dialect_for(conn.dialect.name)
    ours, found = _SPELLINGS[dialect.check_spelling](conn, dialect, table, wanted)
    theirs = dict(sorted(found.items()))
    changed = {n for n in wanted if n in theirs and ours.get(n) != theirs[n]}
    drops = [
        _drop(table.name, name, sql)
        for name, sql in theirs.items()
        if name.startswith(CHECK_PREFIX) and (name not in wanted or name in changed)
    ]
    adds: list[ops.MigrateOperation] = [
        ops.AddConstraintOp.from_constraint(c)
        for n, c in wanted.items()
        if n not in theirs or n in changed
    ]
    return drops, adds
