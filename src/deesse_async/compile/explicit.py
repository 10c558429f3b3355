"""``define_relations`` -> relation graph edges, checked like Drizzle's processRelations.

Every column named must exist, composite keys must pair up, a ``many`` without
``from_``/``to`` must reverse exactly one ``one`` relation, and a name may be used
once per collection (fields' relations included).
"""

from __future__ import annotations

import sqlalchemy as sa

from ..errors import ConfigError, did_you_mean
from ..schema.relations import Relations, RelationSpec
from .schema import CompiledCollection, RelationInfo, Through

__all__ = ["add_explicit_relations"]


def add_explicit_relations(
    relations: Relations,
    compiled: dict[str, CompiledCollection],
    metadata: sa.MetaData,
) -> None:
    """Add the declared relations to each collection's ``relations`` dict (in place)."""
    pending: list[tuple[str, str, RelationSpec]] = []
    for slug, specs in relations.by_source.items():
        if slug not in compiled:
            raise ConfigError(
                f"define_relations: unknown collection {slug!r}" + did_you_mean(slug, compiled)
            )
        for name, spec in specs.items():
            pending.append((slug, name, spec))
    # Explicit edges first, then the reverse inferences that may point at them.
    for slug, name, spec in sorted(pending, key=lambda p: p[2].from_ is None):
        where = f"define_relations: {slug}.{name}"
        if spec.target not in compiled:
            raise ConfigError(
                f"{where}: unknown target collection {spec.target!r}"
                + did_you_mean(spec.target, compiled)
            )
        info = _edge(slug, name, spec, compiled, metadata, where)
        _add(compiled[slug], info, where)


def _edge(
    slug: str,
    name: str,
    spec: RelationSpec,
    compiled: dict[str, CompiledCollection],
    metadata: sa.MetaData,
    where: str,
) -> RelationInfo:
    source, target = compiled[slug], compiled[spec.target]
    if spec.from_ is None or spec.to is None:
        if spec.cardinality == "one":
            raise ConfigError(f"{where}: one() needs from_= and to=")
        return _reverse(slug, name, spec, compiled, where)
    _check_columns(source, spec.from_, where, "from_")
    _check_columns(target, spec.to, where, "to")
    through = None
    if spec.through is not None:
        through = _through(spec, metadata, where)
    elif len(spec.from_) != len(spec.to):
        raise ConfigError(f"{where}: from_ has {len(spec.from_)} columns but to has {len(spec.to)}")
    return RelationInfo(
        name, slug, spec.target, spec.cardinality, spec.from_, spec.to,
        through=through, optional=spec.optional, where=spec.where, alias=spec.alias,
    )  # fmt: skip


def _check_columns(cc: CompiledCollection, columns: tuple[str, ...], where: str, what: str) -> None:
    for column in columns:
        if column not in cc.columns:
            raise ConfigError(
                f"{where}: {what}={column!r} is not a column of {cc.slug!r}"
                + did_you_mean(column, cc.columns)
            )


def _through(spec: RelationSpec, metadata: sa.MetaData, where: str) -> Through:
    assert spec.through is not None and spec.from_ is not None and spec.to is not None
    table = metadata.tables.get(spec.through.table)
    if table is None:
        raise ConfigError(
            f"{where}: through table {spec.through.table!r} is neither a collection nor a junction"
            + did_you_mean(spec.through.table, dict(metadata.tables))
        )
    for column in (*spec.through.from_, *spec.through.to):
        if column not in table.c:
            raise ConfigError(f"{where}: {column!r} is not a column of {table.name!r}")
    if len(spec.through.from_) != len(spec.from_) or len(spec.through.to) != len(spec.to):
        raise ConfigError(f"{where}: through() columns do not pair up with from_/to")
    order = tuple(c.name for c in table.primary_key.columns)
    return Through(table, spec.through.from_, spec.through.to, order=order)


def _reverse(
    slug: str, name: str, spec: RelationSpec, compiled: dict[str, CompiledCollection], where: str
) -> RelationInfo:
    candidates = [
        r
        for r in compiled[spec.target].relations.values()
        if r.cardinality == "one"
        and r.target == slug
        and (spec.alias is None or r.alias == spec.alias)
    ]
    if len(candidates) != 1:
        found = ", ".join(f"{spec.target}.{r.name}" for r in candidates) or "none"
        hint = "pass alias= on both sides" if candidates else "give from_= and to="
        raise ConfigError(
            f"{where}: many({spec.target!r}) without from_/to must reverse exactly one one() "
            f"relation from {spec.target!r} to {slug!r} (found: {found}); {hint}"
        )
    r = candidates[0]
    through = None
    if r.through is not None:
        t = r.through
        through = Through(t.table, t.target_columns, t.source_columns, order=t.order)
    return RelationInfo(
        name, slug, spec.target, "many", r.target_columns, r.source_columns,
        through=through, where=spec.where, alias=spec.alias,
    )  # fmt: skip


def _add(cc: CompiledCollection, info: RelationInfo, where: str) -> None:
    if info.name in cc.relations:
        raise ConfigError(
            f"{where}: the relation name {info.name!r} is already used on {cc.slug!r}"
        )
    if info.name in cc.columns:
        raise ConfigError(f"{where}: the relation name {info.name!r} clashes with a column")
    cc.relations[info.name] = info
