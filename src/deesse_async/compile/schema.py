"""The compiled schema: what every other layer (runtime, query, sync) reads.

``compile_schema(collections)`` checks what needs all collections at once (unknown
relation targets, duplicate slugs, clashing relation names), then builds the
SQLAlchemy tables, the pydantic models and the relation graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from ..errors import ConfigError, did_you_mean
from ..schema.collection import Collection
from ..schema.fields import Field, Relation
from ..schema.relations import Relations

__all__ = [
    "ColumnInfo",
    "CompiledCollection",
    "Junction",
    "Kind",
    "RelationInfo",
    "Schema",
    "compile_schema",
]

# How a column's values travel between Python and the driver (drivers/ has one codec each).
Kind = Literal["str", "float", "int", "bool", "datetime", "date", "uuid", "json"]

FIELD_KINDS: dict[str, Kind] = {
    "text": "str",
    "email": "str",
    "select": "str",
    "number": "float",
    "integer": "int",
    "boolean": "bool",
    "timestamp": "datetime",
    "date": "date",
    "uuid": "uuid",
    "json": "json",
}


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One column of a collection's table as the runtime sees it."""

    name: str
    kind: Kind
    field: str | None  # the DSL field it comes from; None for id/created_at/updated_at
    nullable: bool


@dataclass(frozen=True, slots=True, eq=False)
class Junction:
    """The junction table behind a ``relation(..., many=True)`` field."""

    field: str
    table: sa.Table
    source_column: str
    target_column: str
    target: str
    target_kind: Kind


@dataclass(frozen=True, slots=True, eq=False)
class Through:
    """A junction between two collections: ``source_columns`` match the source's key
    columns, ``target_columns`` the target's."""

    table: sa.Table
    source_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    # Column order that decides "the first linked row" of a one-through relation.
    order: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class RelationInfo:
    """An edge of the relation graph (used by queries). Compared by identity."""

    name: str
    source: str
    target: str
    cardinality: Literal["one", "many"]
    source_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    through: Through | None = None
    optional: bool = True
    where: Mapping[str, Any] | None = None  # predefined filter on the target
    alias: str | None = None


@dataclass(frozen=True, eq=False, slots=True)
class CompiledCollection:
    """A collection with its table, column codecs, junctions, models and relations."""

    collection: Collection
    table: sa.Table
    columns: dict[str, ColumnInfo]
    junctions: dict[str, Junction]
    relations: dict[str, RelationInfo]
    create_model: type[BaseModel]
    update_model: type[BaseModel]
    read_model: type[BaseModel]

    @property
    def slug(self) -> str:
        """The collection's slug (its table name)."""
        return self.collection.slug

    @property
    def id_kind(self) -> Kind:
        """Codec kind of the primary key."""
        return self.columns["id"].kind


@dataclass(frozen=True, eq=False, slots=True)
class Schema:
    """Everything compiled from the collections of one ``define_config`` call."""

    metadata: sa.MetaData
    collections: dict[str, CompiledCollection]
    # Constraint and index names -> (collection slug, field), to name fields in errors.
    constraints: dict[str, tuple[str, str]]

    def __getitem__(self, slug: str) -> CompiledCollection:
        return self.collections[slug]


def field_kind(f: Field, id_kinds: dict[str, Kind]) -> Kind:
    """The codec kind of a field's column (a one relation takes its target's id kind)."""
    if isinstance(f.type, Relation):
        return id_kinds[f.type.target]
    return FIELD_KINDS[f.type.kind]


def check_collections(collections: Sequence[Collection]) -> dict[str, Collection]:
    """Cross-collection checks: duplicates, unknown targets, bad references."""
    by_slug: dict[str, Collection] = {}
    for c in collections:
        if not isinstance(c, Collection):
            raise ConfigError(
                f"define_config(collections=...) expects collection(...) items, got {c!r}"
            )
        if c.slug in by_slug:
            raise ConfigError(f"duplicate collection slug {c.slug!r}: each slug names one table")
        by_slug[c.slug] = c
    for c in collections:
        for name, f in c.fields.items():
            _check_target(c, name, f, by_slug)
    return by_slug


def _check_target(c: Collection, name: str, f: Field, by_slug: dict[str, Collection]) -> None:
    where = f"collection {c.slug!r}, field {name!r}"
    if isinstance(f.type, Relation):
        if f.type.target not in by_slug:
            raise ConfigError(
                f"{where}: relation to unknown collection {f.type.target!r}"
                + did_you_mean(f.type.target, by_slug)
            )
        return
    if f.references is None:
        return
    target_slug, column = f.references.split(".")
    target = by_slug.get(target_slug)
    if target is None:
        raise ConfigError(
            f"{where}: references unknown collection {target_slug!r}"
            + did_you_mean(target_slug, by_slug)
        )
    known = set(target.system_fields) | {
        n for n, tf in target.fields.items() if not isinstance(tf.type, Relation)
    }
    if column not in known:
        raise ConfigError(f"{where}: references unknown column {column!r} of {target_slug!r}")


def compile_schema(collections: Sequence[Collection], relations: Relations | None = None) -> Schema:
    """Compile collections into tables, pydantic models and the relation graph.

    >>> from deesse_async import collection, field, text
    >>> schema = compile_schema([collection(slug="tags", fields={"name": field(type=text())})])
    >>> [c.name for c in schema["tags"].table.columns]
    ['id', 'name', 'created_at', 'updated_at']
    """
    from .explicit import add_explicit_relations
    from .models import build_models
    from .relations import build_relations
    from .tables import build_tables

    by_slug = check_collections(collections)
    id_kinds: dict[str, Kind] = {
        s: ("uuid" if c.id_type == "uuid" else "int") for s, c in by_slug.items()
    }
    built = build_tables(by_slug, id_kinds)
    graph = build_relations(by_slug, built.junctions)
    compiled: dict[str, CompiledCollection] = {}
    for slug, c in by_slug.items():
        models = build_models(c, built.columns[slug], built.junctions[slug])
        compiled[slug] = CompiledCollection(
            collection=c,
            table=built.tables[slug],
            columns=built.columns[slug],
            junctions=built.junctions[slug],
            relations=graph[slug],
            create_model=models[0],
            update_model=models[1],
            read_model=models[2],
        )
    if relations is not None:
        add_explicit_relations(relations, compiled, built.metadata)
    return Schema(metadata=built.metadata, collections=compiled, constraints=built.constraints)
