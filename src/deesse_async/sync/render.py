"""Alembic operations -> the exact SQL each backend runs, one ``Change`` per schema change.

The operations run through alembic's own implementations in *offline* mode
(``as_sql=True``) on a context bound to the live connection's dialect, so the text is
what alembic would send, compiled by the same dialect (server version, MariaDB
quirks and all), without executing anything. ``push`` later runs exactly these strings.

SQLite alters most things by rebuilding the table (alembic's batch mode: create a copy,
``INSERT ... SELECT`` the rows, drop, rename). The rebuild's statements hide what the
change means, so each rebuild also carries ``intents``: the same changes written as the
direct ``ALTER TABLE`` statements other databases would run, for the risk classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops

from ..dialects import Dialect, dialect_for
from .canonical import canonical_table, sorted_constraints
from .conversions import Retype
from .diff import Comparison, quiet_cycles
from .renames import render_rename

__all__ = ["Change", "Intent", "create_ddl", "render_changes", "type_sql"]

_REBUILD_PREFIX = "CREATE TABLE _alembic_tmp_"
_INDEX_OPS = (ops.CreateIndexOp, ops.DropIndexOp)
# The sentinel reads the old nullability after the old type: MySQL's MODIFY restates both.
_NULLABILITY: dict[bool | None, str] = {True: " NULL", False: " NOT NULL"}


@dataclass(frozen=True, slots=True)
class Intent:
    """What a SQLite rebuild does to one column or constraint, as a direct ALTER."""

    sql: str
    from_type: str | None = None  # the column's old type, for a type change
    column: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """The SQL of one schema change, with what judging and counting it needs."""

    statements: tuple[str, ...]
    table: str
    # Columns whose values a destructive statement of this change affects; () means
    # every row of the table (a dropped table); None means the change loses no values.
    lossy_columns: tuple[str, ...] | None = None
    from_type: str | None = None  # the old type of a direct column type change
    intents: tuple[Intent, ...] = ()  # set for SQLite table rebuilds only
    created_table: str | None = None
    # MySQL's MODIFY restates NOT NULL for a column that already was: not a new demand.
    keeps_not_null: bool = False
    # A rebuild whose copy converts values (``Retype``): the statements as alembic wrote
    # them, which the sentinel judges (the conversion itself loses nothing).
    judge_as: tuple[str, ...] = ()
    # Set when the loss is known exactly: what is lost, in words, and how many values.
    loss: str | None = None
    rows: int | None = None


class _Capture:
    """An alembic ``output_buffer``: alembic writes each statement in one ``write`` call."""

    def __init__(self, unescape_percent: bool) -> None:
        self.chunks: list[str] = []
        self._unescape = unescape_percent

    def write(self, text: str) -> int:
        self.chunks.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def take(self) -> tuple[str, ...]:
        out = []
        for chunk in self.chunks:
            sql = chunk.strip().removesuffix(";").rstrip()
            # format/pyformat drivers want '%' doubled in SQL sent with parameters; the plan
            # shows (and push sends, without parameters) the SQL as the database reads it.
            out.append(sql.replace("%%", "%") if self._unescape else sql)
        self.chunks.clear()
        return tuple(s for s in out if s)


def type_sql(type_: Any, dialect: sa.Dialect) -> str:
    """A column type as the dialect spells it, without MySQL's collation or charset."""
    plain = type_
    if getattr(type_, "collation", None) or getattr(type_, "charset", None):
        plain = type_.copy()
        for attr in ("collation", "charset"):
            if getattr(plain, attr, None):
                setattr(plain, attr, None)
    return str(plain.compile(dialect=dialect))


# --------------------------------------------------------------------------- intents


def _alter_intents(op: ops.AlterColumnOp, table: str, dialect: sa.Dialect) -> list[Intent]:
    quote = dialect.identifier_preparer.quote
    head = f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(op.column_name)}"
    out = []
    if op.modify_type is not None:
        old = type_sql(op.existing_type, dialect) if op.existing_type is not None else None
        new = type_sql(op.modify_type, dialect)
        out.append(Intent(f"{head} TYPE {new}", old, op.column_name))
    if op.modify_nullable is not None:
        out.append(Intent(f"{head} {'DROP' if op.modify_nullable else 'SET'} NOT NULL"))
    return out


def _intents(op: ops.MigrateOperation, table: str, dialect: sa.Dialect) -> list[Intent]:
    quote = dialect.identifier_preparer.quote
    head = f"ALTER TABLE {quote(table)}"
    if isinstance(op, ops.AddColumnOp):
        column = sa.schema.CreateColumn(op.column).compile(dialect=dialect)
        return [Intent(f"{head} ADD COLUMN {column}")]
    if isinstance(op, ops.DropColumnOp):
        return [Intent(f"{head} DROP COLUMN {quote(op.column_name)}")]
    if isinstance(op, ops.AlterColumnOp):
        return _alter_intents(op, table, dialect)
    if isinstance(op, ops.AddConstraintOp):
        constraint = op.to_constraint()
        return [Intent(str(sa.schema.AddConstraint(constraint).compile(dialect=dialect)))]
    if isinstance(op, ops.DropConstraintOp):
        return [Intent(f"{head} DROP CONSTRAINT {quote(str(op.constraint_name))}")]
    return []


# --------------------------------------------------------------------------- rendering


def _python_type(type_: Any) -> type | None:
    try:
        return type(None) if type_ is None else type_.python_type
    except NotImplementedError:
        return None


def _cast_between_families(op: ops.AlterColumnOp, dialect: Dialect, sa_dialect: sa.Dialect) -> None:
    """A change between type families (text -> integer) with the dialect's own options
    (``Dialect.alter_type_options``: PostgreSQL's explicit ``USING`` cast).

    Within a family (VARCHAR(50) -> TEXT) the implicit cast is kept: it needs no rewrite
    of the table.
    """
    if op.modify_type is None or op.existing_type is None:
        return
    if _python_type(op.existing_type) == _python_type(op.modify_type):
        return
    column = sa_dialect.identifier_preparer.quote(op.column_name)
    op.kw.update(dialect.alter_type_options(column, type_sql(op.modify_type, sa_dialect)))


def _lossy(sub: list[ops.MigrateOperation]) -> tuple[str, ...] | None:
    columns = [op.column_name for op in sub if isinstance(op, ops.DropColumnOp)]
    columns += [
        op.column_name
        for op in sub
        if isinstance(op, ops.AlterColumnOp) and op.modify_type is not None
    ]
    return tuple(columns) or None


def _plain_defaults(op: ops.MigrateOperation) -> ops.MigrateOperation:
    """Autogenerate puts ``DefaultClause`` objects in an AlterColumnOp; batch mode takes
    only their expression (it wraps them in a DefaultClause itself)."""
    if isinstance(op, ops.AlterColumnOp):
        for attr in ("modify_server_default", "existing_server_default"):
            value = getattr(op, attr)
            if isinstance(value, sa.DefaultClause):
                setattr(op, attr, value.arg)
    return op


def _converting_copy(
    statements: tuple[str, ...], retypes: list[Retype], dialect: sa.Dialect
) -> tuple[str, ...]:
    """The rebuild with its copy converting each retyped column instead of CASTing it."""
    quote = dialect.identifier_preparer.quote
    out = []
    for sql in statements:
        if sql.startswith("INSERT INTO _alembic_tmp_"):
            for r in retypes:
                value = f"{quote(r.table)}.{quote(r.column)}"
                sql = sql.replace(f"CAST({value} AS {r.cast})", r.copy(value))
        out.append(sql)
    return tuple(out)


class _Renderer:
    def __init__(self, conn: sa.Connection, retypes: list[Retype] = []) -> None:  # noqa: B006
        self.retypes = retypes
        self.conn = conn
        self.dialect = conn.dialect
        self.ours = dialect_for(conn.dialect.name)
        self.capture = _Capture(conn.dialect.paramstyle in ("format", "pyformat"))
        context = MigrationContext.configure(
            conn, opts={"as_sql": True, "output_buffer": self.capture}
        )
        self.operations = Operations(context)

    def sql(self, op: ops.MigrateOperation) -> tuple[str, ...]:
        self.operations.invoke(op)
        return self.capture.take()

    def rebuild(self, op: ops.ModifyTableOps) -> Change:
        """SQLite: one batch for the table (alembic decides whether to rebuild)."""
        name = op.table_name
        # Batch mode copies the constraint and index sets in iteration order: fix it.
        existing = canonical_table(sa.Table(name, sa.MetaData(), autoload_with=self.conn))
        with self.operations.batch_alter_table(name, copy_from=existing) as batch:
            for sub in op.ops:
                batch.invoke(_plain_defaults(sub))
        statements = self.capture.take()
        rebuilt = any(s.startswith(_REBUILD_PREFIX) for s in statements)
        intents = [i for sub in op.ops for i in _intents(sub, name, self.dialect)]
        retypes = [r for r in self.retypes if r.table == name]
        if not (rebuilt and retypes):
            return Change(
                statements, name, _lossy(op.ops), intents=tuple(intents) if rebuilt else ()
            )
        copying = _converting_copy(statements, retypes, self.dialect)
        return Change(copying, name, _lossy(op.ops), intents=tuple(intents), judge_as=statements)

    def each(self, op: ops.ModifyTableOps) -> list[Change]:
        changes = []
        for sub in op.ops:
            from_type, keeps = None, False
            if isinstance(sub, ops.AlterColumnOp):
                # Also without a type change: MySQL's MODIFY restates the type it keeps.
                if sub.existing_type is not None:
                    from_type = type_sql(sub.existing_type, self.dialect) + _NULLABILITY.get(
                        sub.existing_nullable, ""
                    )
                keeps = sub.existing_nullable is False and sub.modify_nullable is None
                _cast_between_families(sub, self.ours, self.dialect)
            statements = self.sql(sub)
            changes.append(
                Change(statements, op.table_name, _lossy([sub]), from_type, keeps_not_null=keeps)
            )
        return changes

    def change(self, op: ops.MigrateOperation) -> list[Change]:
        if isinstance(op, ops.ModifyTableOps):
            batch = self.ours.batch_alter and not all(isinstance(sub, _INDEX_OPS) for sub in op.ops)
            return [self.rebuild(op)] if batch else self.each(op)
        if isinstance(op, ops.CreateTableOp):
            return [Change(self.sql(op), op.table_name, created_table=op.table_name)]
        if isinstance(op, ops.DropTableOp):
            return [Change(self.sql(op), op.table_name, lossy_columns=())]
        return [Change(self.sql(op), str(getattr(op, "table_name", "")))]


def render_changes(conn: sa.Connection, comparison: Comparison) -> list[Change]:
    """The SQL of every change of ``comparison``: creates, alters, conversions, renames,
    then drops."""
    renderer = _Renderer(conn, comparison.retypes)
    # Value conversions run on the altered tables, before renames change their names.
    later = [
        Change((r.update(conn.dialect),), r.table, (r.column,), loss=r.loss, rows=r.rows)
        for r in comparison.retypes
        if r.rows
    ]
    later += [Change((c.sql,), c.table, lossy_columns=(c.column,)) for c in comparison.conversions]
    later += [Change((render_rename(r, conn.dialect),), r.table) for r in comparison.renames]
    changes: list[Change] = []
    for op in comparison.ops:
        if isinstance(op, ops.DropTableOp) and later:
            changes += later
            later = []
        changes += renderer.change(op)
    return changes + later


def create_ddl(metadata: sa.MetaData, dialect: sa.Dialect) -> list[str]:
    """``CREATE TABLE`` and ``CREATE INDEX`` for every table of ``metadata``, FK order."""
    unescape = dialect.paramstyle in ("format", "pyformat")
    out = []
    with quiet_cycles():
        tables = metadata.sorted_tables
    for table in tables:
        elements: list[Any] = [sa.schema.CreateTable(table)]
        elements += [sa.schema.CreateIndex(i) for i in sorted_constraints(table.indexes)]
        for element in elements:
            sql = str(element.compile(dialect=dialect)).strip()
            out.append(sql.replace("%%", "%") if unescape else sql)
    return out
