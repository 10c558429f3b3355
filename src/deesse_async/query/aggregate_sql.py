"""Relation aggregates as SQL: each ``AggregateNode`` of a query level becomes a
correlated scalar subquery over the parent row's related rows (see ``aggregates.py`` for
what they mean and the types they return)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..compile.schema import CompiledCollection, RelationInfo, Schema
from ..dialects import Dialect
from .filters import FilterCompiler
from .options import AggregateNode

__all__ = ["aggregate_expressions"]


def _value(node: AggregateNode, target: sa.FromClause, dialect: Dialect) -> Any:
    if node.function == "count":
        # BIGINT: asyncpg binds a compared value as int4 for an Integer (2**31 would fail).
        return sa.func.count(type_=sa.BigInteger())
    assert node.column is not None
    column = target.c[node.column]
    if node.function == "avg":
        # The exact sum rounded once, then divided: the same float on every backend.
        count = sa.func.nullif(sa.func.count(column), sa.literal_column("0"))
        return dialect.as_double(sa.func.sum(column)).op("/", return_type=sa.Double())(count)
    if node.function == "sum" and node.kind == "int":
        # NUMERIC (PostgreSQL) / DECIMAL (MySQL) back to a 64-bit integer.
        return sa.cast(sa.func.sum(column), sa.BigInteger())
    if node.function == "sum":
        return sa.func.sum(column)
    fn = sa.func.min if node.function == "min" else sa.func.max
    return fn(column)


def _first_only(rel: RelationInfo) -> bool:
    """A one relation that may find several candidates: only its first counts."""
    return rel.through is not None or tuple(rel.target_columns) != ("id",)


def aggregate_expressions(
    node: Any,
    cc: CompiledCollection,
    table: sa.FromClause,
    compiler: FilterCompiler,
    dialect: Dialect,
) -> dict[str, Any]:
    """The aggregates of a query level (``node.aggregates``) over ``table`` (the level's
    alias of ``cc``): name -> correlated scalar subquery.

    The compiler learns them too, so that the level's ``where`` can compare them.
    """
    out: dict[str, Any] = {}
    for name, a in node.aggregates:
        out[name] = _expression(a, cc, table, compiler, dialect)
    if out:
        compiler.computed[id(table)] = out
    return out


def _expression(
    a: AggregateNode,
    cc: CompiledCollection,
    parent: sa.FromClause,
    compiler: FilterCompiler,
    dialect: Dialect,
) -> Any:
    schema: Schema = compiler.schema
    rel = cc.relations[a.relation]
    target_cc = schema[rel.target]
    target = compiler.alias(target_cc)
    related = compiler.related(rel, target)
    conditions = [related.of(parent)]
    filters = compiler.target_filters(rel, target_cc, target, a.where)
    if rel.cardinality == "one" and _first_only(rel):
        # As ``with_`` loads it: the first matching candidate (junction order, then id).
        first = compiler.alias(target_cc)
        candidates = compiler.related(rel, first)
        pick = (
            sa.select(first.c.id)
            .select_from(candidates.source)
            .where(candidates.of(parent), *compiler.target_filters(rel, target_cc, first, a.where))
            .order_by(*(candidates.order or (first.c.id.asc(),)))
            .limit(1)
            .correlate(parent)  # two levels up: auto-correlation sees one level only
            .scalar_subquery()
        )
        source: Any = target
        conditions = [target.c.id == pick]
    else:
        source = related.source
        conditions += filters
    value = _value(a, target, dialect)
    return sa.select(value).select_from(source).where(*conditions).scalar_subquery()
