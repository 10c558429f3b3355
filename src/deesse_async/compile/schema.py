"""The compiled schema: what every other layer (runtime, query, sync) reads.

Plain frozen data (``Schema``, ``CompiledCollection``, ``ColumnInfo``, ``RelationInfo``
...), built by ``compile_schema`` (compile/compiler.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from ..schema.collection import Collection
from ..schema.fields import Field, Relation

__all__ = [
    "ColumnInfo",
    "CompiledCollection",
    "Junction",
    "Kind",
    "RelationInfo",
    "Schema",
]

# How a column's values travel between Python and the driver (drivers/ has one codec each).
# "decimal" is no field's: it is the kind of an extra typed sa.Numeric (a Decimal).
Kind = Literal["str", "float", "int", "bool", "datetime", "date", "uuid", "json", "decimal"]

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
