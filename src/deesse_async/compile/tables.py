"""Collections -> SQLAlchemy ``Table``s on one ``MetaData``, with named constraints.

Every constraint and index gets an explicit, stable name (``uq_posts_title``,
``fk_posts_author_id``...) so that the schema diff is deterministic and driver errors,
which quote constraint names, can be mapped back to the field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..dialects import DIALECTS
from ..dialects.base import ColumnType
from ..errors import ConfigError
from ..schema.collection import Collection
from ..schema.fields import Field, Integer, Number, Relation, Select, Text
from .schema import ColumnInfo, Junction, Kind, field_kind

__all__ = ["BuiltTables", "build_tables", "constraint_name"]

MAX_IDENTIFIER = 60


def constraint_name(prefix: str, table: str, column: str) -> str:
    """A stable constraint name that fits every backend's identifier limit.

    >>> constraint_name("uq", "posts", "title")
    'uq_posts_title'
    """
    name = f"{prefix}_{table}_{column}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def _portable(portable: sa.types.TypeEngine[Any], which: ColumnType) -> sa.types.TypeEngine[Any]:
    """``portable`` plus every registered dialect's own variant of ``which``."""
    out = portable
    for dialect in DIALECTS.values():
        variant = dialect.column_variants().get(which)
        if variant is not None:
            out = out.with_variant(variant, *dialect.sa_names)
    return out


def _table_options() -> dict[str, str]:
    """Every dialect's table options (each prefixed with its own dialect name)."""
    return {k: v for d in DIALECTS.values() for k, v in d.table_options.items()}


def _timestamp_type() -> sa.types.TypeEngine[Any]:
    return _portable(sa.DateTime(timezone=True), "timestamp")


def _id_type(kind: Kind) -> sa.types.TypeEngine[Any]:
    if kind == "uuid":
        return sa.Uuid()
    return _portable(sa.BigInteger(), "int_id")


def _sql_type(f: Field, kind: Kind) -> sa.types.TypeEngine[Any]:
    t = f.type
    if isinstance(t, Text):
        if t.max is not None:
            return sa.String(t.max)
        if f.unique or f.index:
            return _portable(sa.Text(), "indexed_text")
        return sa.Text()
    if isinstance(t, Select):
        return sa.String(max(len(c) for c in t.choices))
    simple: dict[Kind, sa.types.TypeEngine[Any]] = {
        "str": sa.String(320),  # email: RFC 5321 maximum
        "float": sa.Double(),
        "int": sa.BigInteger(),
        "bool": sa.Boolean(),
        "datetime": _timestamp_type(),
        "date": sa.Date(),
        "uuid": sa.Uuid(),
        "json": _portable(sa.JSON(), "json"),
    }
    return simple[kind]


def _server_default(f: Field) -> Any:
    """A literal default also lives in the DDL (so ADD COLUMN is safe); callables do not."""
    d = f.default
    if d is None or callable(d) or isinstance(f.type, Relation):
        return None
    if isinstance(d, bool):
        return sa.true() if d else sa.false()
    if isinstance(d, int | float):
        return sa.text(repr(d))
    if isinstance(d, str) and f.type.kind in ("text", "email", "select"):
        return d
    return None


def _checks(slug: str, name: str, column: str, f: Field) -> list[sa.CheckConstraint]:
    t = f.type
    col: sa.ColumnClause[Any] = sa.column(column)
    if isinstance(t, Select):
        return [sa.CheckConstraint(col.in_(t.choices), name=constraint_name("ck", slug, name))]
    if isinstance(t, Number | Integer):
        lo, hi = t.min, t.max
        parts = ([col >= lo] if lo is not None else []) + ([col <= hi] if hi is not None else [])
        if parts:
            return [sa.CheckConstraint(sa.and_(*parts), name=constraint_name("ck", slug, name))]
    return []


@dataclass
class BuiltTables:
    """The output of ``build_tables``."""

    metadata: sa.MetaData
    tables: dict[str, sa.Table]
    columns: dict[str, dict[str, ColumnInfo]]
    junctions: dict[str, dict[str, Junction]]
    constraints: dict[str, tuple[str, str]]


def build_tables(by_slug: dict[str, Collection], id_kinds: dict[str, Kind]) -> BuiltTables:
    """Build one ``Table`` per collection plus one per many-to-many junction."""
    out = BuiltTables(sa.MetaData(), {}, {}, {}, {})
    for slug, c in by_slug.items():
        out.tables[slug], out.columns[slug] = _collection_table(out, c, id_kinds)
    for slug, c in by_slug.items():
        out.junctions[slug] = {
            name: _junction(out, c, name, f.type, id_kinds)
            for name, f in c.fields.items()
            if isinstance(f.type, Relation) and f.type.many
        }
    return out


def _collection_table(
    out: BuiltTables, c: Collection, id_kinds: dict[str, Kind]
) -> tuple[sa.Table, dict[str, ColumnInfo]]:
    slug = c.slug
    items: list[Any] = [
        sa.Column(
            "id",
            _id_type(id_kinds[slug]),
            primary_key=True,
            autoincrement=id_kinds[slug] == "int",
        )
    ]
    columns = {"id": ColumnInfo("id", id_kinds[slug], None, False)}
    for name, f in c.fields.items():
        if isinstance(f.type, Relation) and f.type.many:
            continue
        column, extra = _field_column(out, slug, name, f, id_kinds)
        items.append(column)
        items.extend(extra)
        columns[column.name] = ColumnInfo(
            column.name, field_kind(f, id_kinds), name, not f.required
        )
    if c.timestamps:
        for name in ("created_at", "updated_at"):
            items.append(sa.Column(name, _timestamp_type(), nullable=False))
            columns[name] = ColumnInfo(name, "datetime", None, False)
    table = sa.Table(slug, out.metadata, *items, **_table_options())  # type: ignore[call-overload]
    return table, columns


def _field_column(
    out: BuiltTables, slug: str, name: str, f: Field, id_kinds: dict[str, Kind]
) -> tuple[sa.Column[Any], list[Any]]:
    t = f.type
    extra: list[Any] = []
    if isinstance(t, Relation):
        column_name = f"{name}_id"
        sql_type = _id_type(id_kinds[t.target])
        on_delete = t.on_delete or ("restrict" if f.required else "set null")
        fk_name = constraint_name("fk", slug, column_name)
        fk: sa.ForeignKey | None = sa.ForeignKey(
            f"{t.target}.id", name=fk_name, ondelete=on_delete.upper()
        )
        out.constraints[fk_name] = (slug, column_name)
        index = True  # batched relation loads filter on it
    else:
        column_name = name
        sql_type = _sql_type(f, field_kind(f, id_kinds))
        fk = None
        if f.references is not None:
            target, target_col = f.references.split(".")
            fk_name = constraint_name("fk", slug, column_name)
            fk = sa.ForeignKey(f"{target}.{target_col}", name=fk_name)
            out.constraints[fk_name] = (slug, column_name)
        index = f.index or f.references is not None
        extra += _checks(slug, name, column_name, f)
        for ck in extra:
            out.constraints[str(ck.name)] = (slug, name)
    args: list[Any] = [fk] if fk is not None else []
    column = sa.Column(
        column_name, sql_type, *args, nullable=not f.required, server_default=_server_default(f)
    )
    if f.unique:
        uq = constraint_name("uq", slug, column_name)
        extra.append(sa.UniqueConstraint(column_name, name=uq))
        out.constraints[uq] = (slug, column_name)
    elif index:
        ix = constraint_name("ix", slug, column_name)
        extra.append(sa.Index(ix, column_name))
        out.constraints[ix] = (slug, column_name)
    return column, extra


def _junction(
    out: BuiltTables, c: Collection, name: str, rel: Relation, id_kinds: dict[str, Kind]
) -> Junction:
    slug = c.slug
    table_name = f"{slug}_{name}"
    source_col, target_col = f"{slug}_id", f"{name}_id"
    if table_name in out.tables or table_name in out.metadata.tables:
        raise ConfigError(
            f"collection {slug!r}, field {name!r}: its junction table {table_name!r} clashes "
            "with another table; rename the field"
        )
    if source_col == target_col:
        raise ConfigError(
            f"collection {slug!r}, field {name!r}: a many=True field may not be named like its "
            f"collection (both junction columns would be {source_col!r})"
        )
    table = sa.Table(  # type: ignore[call-overload]
        table_name,
        out.metadata,
        sa.Column(
            source_col,
            _id_type(id_kinds[slug]),
            sa.ForeignKey(
                f"{slug}.id", name=constraint_name("fk", table_name, source_col), ondelete="CASCADE"
            ),
            primary_key=True,
        ),
        sa.Column(
            target_col,
            _id_type(id_kinds[rel.target]),
            sa.ForeignKey(
                f"{rel.target}.id",
                name=constraint_name("fk", table_name, target_col),
                ondelete="CASCADE",
            ),
            primary_key=True,
        ),
        sa.Index(constraint_name("ix", table_name, target_col), target_col),
        **_table_options(),
    )
    # Primary keys keep the database's own name (MySQL ignores a given one); PostgreSQL
    # calls it <table>_pkey.
    out.constraints[constraint_name("fk", table_name, target_col)] = (slug, name)
    out.constraints[f"{table_name}_pkey"] = (slug, name)
    out.tables[table_name] = table
    return Junction(name, table, source_col, target_col, rel.target, id_kinds[rel.target])
