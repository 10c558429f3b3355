"""The live database against the collections: alembic's autogenerate comparison, tamed.

``compare(connection, schema)`` runs on a synchronous SQLAlchemy connection (call it
through ``AsyncConnection.run_sync``) and returns the alembic operations that bring the
database to the collections, in an order every backend accepts, plus the renames
declared with ``renamed_from=`` and hints about probable renames.

What is compared: the tables of the database's default schema (PostgreSQL: the
``?schema=`` one) that are ours (``tables``, a filter from sync/registry.py: declared by
the collections, created by this library, or taken in by ``manage=``). One of ours that
no collection declares any more is dropped; the risk classifier marks that destructive.
Any other table (another app's, alembic's ``alembic_version``) is never looked at.
Columns (type, nullability, server default), unique constraints, indexes and foreign
keys come from alembic; CHECK constraints come from ``checks.py``, because alembic
does not compare them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import ops

from ..compile.schema import Schema
from ..dialects import Dialect, dialect_for
from .canonical import canonical_ops, canonical_sub_ops, sorted_constraints
from .checks import check_ops
from .conversions import Conversion, Retype, find_conversions, find_retypes, type_family
from .registry import TableFilter, table_filter
from .renames import Rename, find_renames, metadata_with_old_names

__all__ = [
    "IGNORED_TABLES",
    "Comparison",
    "compare",
    "comparison_options",
    "order_ops",
]

IGNORED_TABLES = frozenset({"alembic_version"})
_TRUE = frozenset({"1", "true", "'1'", "'true'", "b'1'"})
_FALSE = frozenset({"0", "false", "'0'", "'false'", "b'0'"})


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    return not (type_ == "table" and name in IGNORED_TABLES)


def _compare_server_default(
    context: MigrationContext,
    inspected_column: sa.Column[Any],
    metadata_column: sa.Column[Any],
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    # MySQL/MariaDB store BOOL as TINYINT(1) and reflect DEFAULT true as '1'; alembic
    # would report that as a change on every plan.
    if isinstance(metadata_column.type, sa.Boolean) and inspected_default is not None:
        rendered = (rendered_metadata_default or "").strip().lower()
        wanted = _TRUE if rendered in _TRUE else _FALSE if rendered in _FALSE else None
        if wanted is not None:
            return inspected_default.strip().lower() not in wanted
    if inspected_default is None or rendered_metadata_default is None:
        return None
    if type_family(inspected_column.type) != type_family(metadata_column.type):
        # A retyped column: alembic's PostgreSQL comparison would evaluate the new default
        # against the old type in the database (SELECT 'x' = false fails).
        return _unquoted(inspected_default) != _unquoted(rendered_metadata_default)
    numbers = _number(inspected_default), _number(rendered_metadata_default)
    if (
        type_family(metadata_column.type) == "number" and None not in numbers
    ):  # MySQL reflects DEFAULT 0.0 on a DOUBLE as '0'
        return numbers[0] != numbers[1]
    return None  # alembic's own comparison decides


def _unquoted(sql: str) -> str:
    text = sql.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return text.split("::")[0].strip("'")


def _number(sql: str) -> float | None:
    try:
        return float(_unquoted(sql))
    except ValueError:
        return None


def _include_name(tables: TableFilter) -> Callable[[str | None, str, Any], bool]:
    # alembic's include_name hook: a table that is not ours is not even reflected.
    def include(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name is None or tables(name)

    return include


def comparison_options(dialect: Dialect, tables: TableFilter | None = None) -> dict[str, Any]:
    """The alembic ``MigrationContext`` options of both dev sync and migrations.

    ``tables`` says which live tables are ours (sync/registry.py); None: all of them.
    """
    extra = {} if tables is None else {"include_name": _include_name(tables)}
    return {
        **extra,
        "compare_type": True,
        "compare_server_default": _compare_server_default,
        "include_object": _include_object,
        # SQLite cannot ALTER most things: alembic rebuilds the table (copying its rows).
        "render_as_batch": dialect.batch_alter,
    }


@dataclass(frozen=True, slots=True)
class Comparison:
    """What ``compare`` found."""

    ops: list[ops.MigrateOperation]  # ordered; the renames are not included
    renames: list[Rename]  # to run after ``ops``
    hints: list[str]
    live_columns: dict[str, list[str]]  # the columns each existing table has now
    # Values a type change the database cannot see would leave unreadable (after ``ops``).
    conversions: list[Conversion] = field(default_factory=list)
    # SQLite rebuilds into timestamp/date/uuid: converted in the copy, the rest NULLed.
    retypes: list[Retype] = field(default_factory=list)


def _live(inspector: sa.Inspector, tables: TableFilter) -> dict[str, list[str]]:
    names = [t for t in inspector.get_table_names() if t not in IGNORED_TABLES and tables(t)]
    return {t: [c["name"] for c in inspector.get_columns(t)] for t in names}


def compare(conn: sa.Connection, schema: Schema, tables: TableFilter | None = None) -> Comparison:
    """Compare the database behind ``conn`` with ``schema`` (runs inside ``run_sync``).

    ``tables``: which live tables are ours (default: declared or created by this library).
    """
    tables = tables or table_filter(conn, schema, None)
    inspector = sa.inspect(conn)
    live = _live(inspector, tables)
    renames = find_renames(schema, {t: set(cols) for t, cols in live.items()})
    target = metadata_with_old_names(schema.metadata, renames)
    if not live:
        with quiet_cycles():
            created = _create_everything(target)
        return Comparison(break_cycles(canonical_ops(created, target), target, conn), [], [], live)
    dialect = dialect_for(conn.dialect.name)
    context = MigrationContext.configure(conn, opts=comparison_options(dialect, tables))
    with quiet_cycles():
        script = produce_migrations(context, target)
    upgrade = script.upgrade_ops
    assert upgrade is not None  # produce_migrations always fills it
    found = order_ops(upgrade.ops, conn, target)
    hints = probable_renames(found, context, schema)
    conversions = find_conversions(conn, target, live)
    retypes = find_retypes(conn, found, live)
    return Comparison(found, renames.renames(), hints, live, conversions, retypes)


def _create_everything(target: sa.MetaData) -> list[ops.MigrateOperation]:
    """An empty database: the operations autogenerate would produce, without comparing."""
    found: list[ops.MigrateOperation] = []
    for table in target.sorted_tables:
        found.append(ops.CreateTableOp.from_table(table))
        indexes = sorted_constraints(table.indexes)
        if indexes:
            found.append(
                ops.ModifyTableOps(table.name, [ops.CreateIndexOp.from_index(i) for i in indexes])
            )
    return found


# --------------------------------------------------------------------------- ordering

# Inside one table: constraints go before the columns they use, foreign keys before the
# indexes MySQL needs for them, and dropped columns last.
_SUB_ORDER: tuple[tuple[type[ops.MigrateOperation], int], ...] = (
    (ops.DropIndexOp, 2),
    (ops.AddColumnOp, 3),
    (ops.AlterColumnOp, 4),
    (ops.CreateIndexOp, 5),
    (ops.CreateForeignKeyOp, 7),
    (ops.AddConstraintOp, 6),
    (ops.DropColumnOp, 8),
)


def _sub_rank(op: ops.MigrateOperation) -> int:
    if isinstance(op, ops.DropConstraintOp):
        return 0 if op.constraint_type == "foreignkey" else 1
    return next((rank for kind, rank in _SUB_ORDER if isinstance(op, kind)), 9)


def _drop_order(drops: list[ops.DropTableOp], inspector: sa.Inspector) -> list[ops.DropTableOp]:
    """Drop referencing tables before the tables they reference."""
    names = {op.table_name for op in drops}
    refs = {
        op.table_name: {fk["referred_table"] for fk in inspector.get_foreign_keys(op.table_name)}
        & names - {op.table_name}
        for op in drops
    }
    ordered: list[ops.DropTableOp] = []
    pending = list(drops)
    while pending:
        pending_names = {op.table_name for op in pending}
        ready = [
            op
            for op in pending
            if not any(op.table_name in refs[other] for other in pending_names - {op.table_name})
        ] or pending[:1]  # a reference cycle: keep alembic's order
        ordered += ready
        pending = [op for op in pending if op not in ready]
    return ordered


def _foreign_key_renames(
    inspector: sa.Inspector, table: sa.Table, found: Sequence[ops.MigrateOperation]
) -> list[ops.MigrateOperation]:
    """Drop + create of foreign keys that only changed name (after a ``renamed_from``).

    Alembic matches foreign keys by their columns, not their names; the names matter
    here because errors name the field through them, and MySQL needs the old key
    gone before its index can be dropped.
    """
    handled = {
        str(op.constraint_name)
        for op in found
        if isinstance(op, ops.DropConstraintOp | ops.CreateForeignKeyOp)
    }
    live = {
        tuple(fk["constrained_columns"]): fk
        for fk in inspector.get_foreign_keys(table.name)
        if fk.get("name")
    }
    out: list[ops.MigrateOperation] = []
    for fk in sorted_constraints(table.foreign_key_constraints):
        old = live.get(tuple(fk.column_keys))
        if old is None or fk.name is None or old["name"] == fk.name:
            continue
        if {str(old["name"]), str(fk.name)} & handled:
            continue
        drop = ops.DropConstraintOp.from_constraint(_reflected_foreign_key(table.name, old))
        out += [drop, ops.CreateForeignKeyOp.from_constraint(fk)]
    return out


def _reflected_foreign_key(table: str, info: Any) -> sa.ForeignKeyConstraint:
    """A constraint object for a reflected foreign key (so its drop can be reversed)."""
    holder = sa.MetaData()
    referred = str(info["referred_table"])
    columns, targets = list(info["constrained_columns"]), list(info["referred_columns"])
    # A self-reference needs the referred columns on the owner itself.
    own = columns + [c for c in targets if referred == table and c not in columns]
    owner = sa.Table(table, holder, *(sa.Column(c, sa.Integer()) for c in own))
    if referred != table:
        sa.Table(referred, holder, *(sa.Column(c, sa.Integer()) for c in targets))
    constraint = sa.ForeignKeyConstraint(
        columns,
        [f"{referred}.{c}" for c in targets],
        name=info["name"],
        ondelete=(info.get("options") or {}).get("ondelete"),
    )
    owner.append_constraint(constraint)
    return constraint


def order_ops(
    found: Sequence[ops.MigrateOperation], conn: sa.Connection, target: sa.MetaData
) -> list[ops.MigrateOperation]:
    """Creates first, then per-table changes (with CHECKs), then drops in FK order."""
    inspector = sa.inspect(conn)
    found = canonical_ops(found, target)
    # Alembic finds dropped tables by set difference: sort them before ordering by FKs.
    drops = sorted(
        (op for op in found if isinstance(op, ops.DropTableOp)), key=lambda op: op.table_name
    )
    dropped = {op.table_name for op in drops}
    created = {op.table_name for op in found if isinstance(op, ops.CreateTableOp)}
    creates: list[ops.MigrateOperation] = []
    changes: dict[str, list[ops.MigrateOperation]] = {}
    for op in found:
        if isinstance(op, ops.CreateTableOp):
            creates.append(op)
        elif isinstance(op, ops.ModifyTableOps) and op.table_name not in dropped:
            changes.setdefault(op.table_name, []).extend(op.ops)
        elif not isinstance(op, ops.ModifyTableOps | ops.DropTableOp):
            creates.append(op)  # nothing else is produced today; keep it early
    for table in sorted(target.tables.values(), key=lambda t: t.name):
        if table.name in created:
            continue
        removed, added = check_ops(conn, table)
        renamed = _foreign_key_renames(inspector, table, changes.get(table.name, []))
        if removed or added or renamed:
            changes.setdefault(table.name, []).extend(removed + added + renamed)
    modify: list[ops.MigrateOperation] = []
    for name, sub in sorted(changes.items()):
        # Stable: within one rank, canonical_ops' order (column order, then names) stays.
        target_ops = sorted(canonical_sub_ops(name, sub, target), key=_sub_rank)
        (creates if name in created else modify).append(ops.ModifyTableOps(name, target_ops))
    return break_cycles(creates, target, conn) + modify + list(_drop_order(drops, inspector))


# --------------------------------------------------------------------------- FK cycles


@contextmanager
def quiet_cycles() -> Iterator[None]:
    """Silence SQLAlchemy's warning about FK cycles: ``break_cycles`` handles them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Cannot correctly sort tables", sa.exc.SAWarning)
        yield


def break_cycles(
    creates: list[ops.MigrateOperation], target: sa.MetaData, conn: sa.Connection
) -> list[ops.MigrateOperation]:
    """Tables created together that reference each other (users <-> posts): their
    cyclic foreign keys are added after every CREATE TABLE (``use_alter``), because
    PostgreSQL and MySQL refuse a reference to a table that does not exist yet. SQLite
    checks references only when rows are written and cannot add a constraint later.
    """
    if not conn.dialect.supports_alter:
        return creates
    created = {op.table_name for op in creates if isinstance(op, ops.CreateTableOp)}
    tables = list(target.tables.values())
    cyclic = sa.schema.sort_tables_and_constraints(tables)[-1][1]  # type: ignore[no-untyped-call]
    later = sorted(
        (fk for fk in cyclic if fk.table.name in created and fk.referred_table.name in created),
        key=lambda fk: str(fk.name),
    )
    for fk in later:
        fk.use_alter = True
        for element in fk.elements:
            element.use_alter = True
    add = [ops.CreateForeignKeyOp.from_constraint(fk) for fk in later]
    return creates + (
        [ops.ModifyTableOps(fk.table.name, [a]) for fk, a in zip(later, add, strict=True)]
    )


# --------------------------------------------------------------------------- hints


def _field_name(schema: Schema, table: str, column: str) -> str:
    cc = schema.collections.get(table)
    info = cc.columns.get(column) if cc is not None else None
    return info.field if info is not None and info.field else column


def _old_field_name(schema: Schema, table: str, new_column: str, old_column: str) -> str:
    relation = _field_name(schema, table, new_column) != new_column
    return old_column.removesuffix("_id") if relation else old_column


def _column_hints(
    table: str, sub: Iterable[ops.MigrateOperation], context: MigrationContext, schema: Schema
) -> list[str]:
    sub = list(sub)
    added = [op.column for op in sub if isinstance(op, ops.AddColumnOp)]
    hints = []
    for drop in (op for op in sub if isinstance(op, ops.DropColumnOp)):
        old = drop.to_column()
        # compare_type() is True when the types differ; a foreign key only pairs with one.
        same = [
            new
            for new in added
            if not context.impl.compare_type(old, new)
            and bool(new.foreign_keys) == bool(old.foreign_keys)
        ]
        if not same:
            continue
        old_field = _old_field_name(schema, table, same[0].name, old.name)
        if len(same) == 1:
            field = _field_name(schema, table, same[0].name)
            hints.append(
                f"{table}.{old.name} was dropped and {table}.{same[0].name} added with the "
                f"same type: if this is a rename, add renamed_from={old_field!r} to the field "
                f"{field!r} to keep the data"
            )
        else:
            names = ", ".join(f"{table}.{c.name}" for c in same)
            hints.append(
                f"{table}.{old.name} was dropped and {names} added with the same type: if one "
                f"of them is a rename, add renamed_from={old_field!r} to that field to keep "
                "the data"
            )
    return hints


def _table_hints(found: Sequence[ops.MigrateOperation]) -> list[str]:
    system = {"id", "created_at", "updated_at"}
    created = {
        op.table_name: {c.name for c in op.columns if isinstance(c, sa.Column)} - system
        for op in found
        if isinstance(op, ops.CreateTableOp)
    }
    hints = []
    for op in found:
        if not isinstance(op, ops.DropTableOp):
            continue
        table = op.to_table()
        columns = {c.name for c in table.columns} - system
        for name, new_columns in created.items():
            if columns and columns == new_columns:
                hints.append(
                    f"table {op.table_name} was dropped and {name} created with the same "
                    f"columns: if this is a rename, add renamed_from={op.table_name!r} to "
                    f"collection(slug={name!r}) to keep the rows"
                )
    return hints


def probable_renames(
    found: Sequence[ops.MigrateOperation], context: MigrationContext, schema: Schema
) -> list[str]:
    """Hints for drop + add pairs that look like renames without ``renamed_from``."""
    hints = _table_hints(found)
    for op in found:
        if isinstance(op, ops.ModifyTableOps):
            hints += _column_hints(op.table_name, op.ops, context, schema)
    return hints
