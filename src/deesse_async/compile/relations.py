"""The relation graph built from ``relation(...)`` fields.

``author = relation("users", related_name="posts")`` on ``posts`` gives ``posts.author``
(one, via ``author_id``) and ``users.posts`` (many, the reverse). A ``many=True`` field
gives a many-to-many relation both ways through its junction table.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..schema.collection import Collection
from ..schema.fields import Relation
from .schema import Junction, RelationInfo, Through

__all__ = ["build_relations"]


def build_relations(
    by_slug: dict[str, Collection], junctions: dict[str, dict[str, Junction]]
) -> dict[str, dict[str, RelationInfo]]:
    """Every collection's relations by name; clashing names raise ``ConfigError``."""
    graph: dict[str, dict[str, RelationInfo]] = {slug: {} for slug in by_slug}
    for slug, c in by_slug.items():
        for name, f in c.fields.items():
            if not isinstance(f.type, Relation):
                continue
            rel = f.type
            if rel.many:
                j = junctions[slug][name]
                src, dst = (j.source_column,), (j.target_column,)
                forward = RelationInfo(
                    name,
                    slug,
                    rel.target,
                    "many",
                    ("id",),
                    ("id",),
                    through=Through(j.table, src, dst, order=dst),
                )
                back = RelationInfo(
                    rel.related_name or "", rel.target, slug, "many", ("id",), ("id",),
                    through=Through(j.table, dst, src, order=src),
                )  # fmt: skip
            else:
                forward = RelationInfo(
                    name, slug, rel.target, "one", (f"{name}_id",), ("id",), optional=not f.required
                )
                back = RelationInfo(
                    rel.related_name or "", rel.target, slug, "many", ("id",), (f"{name}_id",)
                )
            _add(graph, by_slug, forward, origin=f"field {name!r}")
            if rel.related_name:
                _add(graph, by_slug, back, origin=f"related_name of {slug}.{name}")
    return graph


def _add(
    graph: dict[str, dict[str, RelationInfo]],
    by_slug: dict[str, Collection],
    info: RelationInfo,
    origin: str,
) -> None:
    owner = by_slug[info.source]
    where = f"collection {info.source!r}: relation {info.name!r} ({origin})"
    if info.name in graph[info.source]:
        raise ConfigError(f"{where} is defined twice; relation names must be unique per collection")
    # A relation shares the row's key space with the columns: the names must differ.
    columns = set(owner.system_fields) | {
        f"{n}_id"
        for n, f in owner.fields.items()
        if isinstance(f.type, Relation) and not f.type.many
    }
    if origin.startswith("related_name"):
        columns |= set(owner.fields)
    else:
        columns |= {n for n in owner.fields if n != info.name}
    if info.name in columns:
        raise ConfigError(f"{where} clashes with the field {info.name!r}; choose another name")
    graph[info.source][info.name] = info
