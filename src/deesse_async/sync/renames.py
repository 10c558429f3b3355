"""``renamed_from=``: rename tables and columns in place instead of dropping and re-adding.

The diff is computed against a copy of the target ``MetaData`` in which every rename
that applies to the live database still carries its old name. Alembic then reports only
the other changes, addressed to the names the database has today; the renames run
last. Constraint and index names are kept as the new schema spells them, so after the
renames the database matches the collections exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql import visitors

from ..compile.schema import CompiledCollection, Schema
from ..schema.fields import Relation
from .canonical import sorted_constraints

__all__ = ["Rename", "RenameMap", "find_renames", "metadata_with_old_names", "render_rename"]


@dataclass(frozen=True, slots=True)
class Rename:
    """One rename to run: a table (``column`` is None) or a column of ``table``.

    ``table`` is the table's name before any table rename of the same plan.
    """

    kind: Literal["table", "column"]
    table: str
    old: str
    new: str

    def describe(self) -> str:
        """Human words for messages, e.g. ``posts.body -> posts.content``."""
        if self.kind == "table":
            return f"table {self.old} -> {self.new}"
        return f"{self.table}.{self.old} -> {self.table}.{self.new}"


@dataclass(frozen=True, slots=True)
class RenameMap:
    """Which target names the live database still knows under an old name."""

    tables: Mapping[str, str]  # new table name -> old (database) name
    columns: Mapping[str, Mapping[str, str]]  # new table name -> new column -> old column

    @property
    def is_empty(self) -> bool:
        """True when no rename applies."""
        return not self.tables and not any(self.columns.values())

    def table(self, name: str) -> str:
        """The database name of the target table ``name``."""
        return self.tables.get(name, name)

    def column(self, table: str, name: str) -> str:
        """The database name of column ``name`` of the target table ``table``."""
        return self.columns.get(table, {}).get(name, name)

    def renames(self) -> list[Rename]:
        """Column renames first (addressed to the old table name), then table renames."""
        out = [
            Rename("column", self.table(table), old, new)
            for table, columns in self.columns.items()
            for new, old in columns.items()
        ]
        out += [Rename("table", old, old, new) for new, old in self.tables.items()]
        return out


def _declared(cc: CompiledCollection) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Old names declared by one collection: {new table: old}, {new table: {new col: old}}."""
    c = cc.collection
    slug, old_slug = c.slug, c.renamed_from
    tables: dict[str, str] = {slug: old_slug} if old_slug else {}
    columns: dict[str, dict[str, str]] = {slug: {}}
    for name, f in c.fields.items():
        old = f.renamed_from
        if isinstance(f.type, Relation) and f.type.many:
            junction = cc.junctions[name].table.name
            old_junction = f"{old_slug or slug}_{old or name}"
            if old_junction != junction:
                tables[junction] = old_junction
            moved = columns.setdefault(junction, {})
            if old_slug:
                moved[f"{slug}_id"] = f"{old_slug}_id"
            if old:
                moved[f"{name}_id"] = f"{old}_id"
        elif old and isinstance(f.type, Relation):
            columns[slug][f"{name}_id"] = f"{old}_id"
        elif old:
            columns[slug][name] = old
    return tables, columns


def find_renames(schema: Schema, live: Mapping[str, set[str]]) -> RenameMap:
    """The declared renames that apply to a database whose tables and columns are ``live``.

    A rename applies when the database has the old name and not yet the new one, so
    ``renamed_from`` can stay in the code after it ran.
    """
    tables: dict[str, str] = {}
    columns: dict[str, dict[str, str]] = {}
    for cc in schema.collections.values():
        declared_tables, declared_columns = _declared(cc)
        tables.update(
            {new: old for new, old in declared_tables.items() if old in live and new not in live}
        )
        for table, moved in declared_columns.items():
            present = live.get(tables.get(table, table), set())
            applies = {n: o for n, o in moved.items() if o in present and n not in present}
            if applies:
                columns[table] = applies
    return RenameMap(tables, columns)


def _renamed_check(sqltext: sa.ColumnElement[Any], names: Mapping[str, str]) -> Any:
    def replace(element: Any, **kw: Any) -> Any:
        if isinstance(element, sa.ColumnClause) and element.name in names:
            return sa.column(names[element.name])
        return None

    options: dict[str, Any] = {}
    return visitors.replacement_traverse(sqltext, options, replace)


def _copy_table(table: sa.Table, target: sa.MetaData, renames: RenameMap) -> None:
    name = table.name
    col = {c.name: renames.column(name, c.name) for c in table.columns}
    items: list[Any] = []
    for c in table.columns:
        fks = [
            sa.ForeignKey(
                f"{renames.table(fk.column.table.name)}."
                f"{renames.column(fk.column.table.name, fk.column.name)}",
                name=fk.name,
                ondelete=fk.ondelete,
                onupdate=fk.onupdate,
            )
            for fk in c.foreign_keys
        ]
        default: Any = None
        if isinstance(c.server_default, sa.DefaultClause):
            default = c.server_default.arg
        items.append(
            sa.Column(
                col[c.name],
                c.type.copy(),
                *fks,
                primary_key=c.primary_key,
                nullable=c.nullable,
                autoincrement=c.autoincrement,
                server_default=default,
            )
        )
    for const in sorted_constraints(table.constraints):
        if isinstance(const, sa.UniqueConstraint):
            items.append(
                sa.UniqueConstraint(*(col[c.name] for c in const.columns), name=const.name)
            )
        elif isinstance(const, sa.CheckConstraint):
            items.append(sa.CheckConstraint(_renamed_check(const.sqltext, col), name=const.name))
    for index in sorted_constraints(table.indexes):
        columns = [col[c.name] for c in index.columns]
        items.append(sa.Index(index.name, *columns, unique=index.unique))
    sa.Table(renames.table(name), target, *items, **table.kwargs)


def metadata_with_old_names(metadata: sa.MetaData, renames: RenameMap) -> sa.MetaData:
    """A copy of ``metadata`` in which tables and columns still to be renamed keep old names."""
    if renames.is_empty:
        return metadata
    copy = sa.MetaData()
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        _copy_table(table, copy, renames)
    return copy


def render_rename(rename: Rename, dialect: sa.Dialect) -> str:
    """The SQL of one rename; the same syntax works on PostgreSQL, SQLite >= 3.25 and MySQL 8
    / MariaDB 10.5."""
    quote = dialect.identifier_preparer.quote
    if rename.kind == "table":
        return f"ALTER TABLE {quote(rename.old)} RENAME TO {quote(rename.new)}"
    return (
        f"ALTER TABLE {quote(rename.table)} RENAME COLUMN {quote(rename.old)} "
        f"TO {quote(rename.new)}"
    )
