"""``compile_schema``: collections -> tables, pydantic models and the relation graph.

It checks what needs all collections at once (unknown relation targets, duplicate slugs,
clashing relation names), then runs the builders: ``tables.py``, ``relations.py``,
``models.py`` and ``explicit.py`` (``define_relations``), each reading and producing the
plain data of ``schema.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConfigError, did_you_mean
from ..schema.collection import Collection
from ..schema.fields import Field, Relation
from ..schema.relations import Relations
from .explicit import add_explicit_relations
from .models import build_models
from .relations import build_relations
from .schema import CompiledCollection, Kind, Schema
from .tables import build_tables

__all__ = ["check_collections", "compile_schema"]


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
