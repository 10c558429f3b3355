"""Strategy ``lateral``: the whole ``with`` tree in ONE statement.

Each related level becomes a JSON value built by the database: rows as positional JSON
arrays, many relations aggregated into an array, in order, limited per parent. With
``Dialect.lateral`` each relation is a ``LEFT JOIN LATERAL``, otherwise a correlated
scalar subquery; how rows become JSON is the dialect's (``json_row``, ``json_rows``,
``json_value``, ``embed_json``): ``json_agg`` on PostgreSQL, ``json_group_array`` on
SQLite, ``JSON_ARRAYAGG(... LIMIT ...)`` on MariaDB.

The JSON comes back as text and is decoded to the declared Python types (``decode.py``),
so rows equal the batched strategy's exactly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import visitors

from .._types import Row
from ..compile.schema import CompiledCollection
from ..dialects import CompiledSQL
from ..drivers.base import Connection
from .aggregate_sql import aggregate_expressions
from .clauses import order_expressions, selected, top_level, value_kinds, value_names
from .context import PlanContext
from .decode import json_form, json_row_decoder
from .filters import FilterCompiler
from .options import QueryNode

__all__ = ["LateralPlan", "plan_lateral"]


@dataclass(frozen=True, slots=True, eq=False)
class LateralPlan:
    """One compiled statement and the decoder of its rows."""

    statement: CompiledSQL
    decode: Callable[[Sequence[Any]], Row]
    strategy: str = "lateral"

    def sql(self) -> str:
        """The statement's SQL."""
        return self.statement.sql

    async def run(self, conn: Connection, params: dict[str, Any]) -> list[Row]:
        """Execute the statement and decode every row."""
        raw = await conn.fetch(self.statement.sql, self.statement.params(params))
        decode = self.decode
        return [decode(r) for r in raw]

    async def chunks(
        self, conn: Connection, params: dict[str, Any], size: int
    ) -> AsyncGenerator[list[Row], None]:
        """The decoded rows ``size`` at a time, read through a server-side cursor."""
        decode = self.decode
        cursor = conn.cursor(self.statement.sql, self.statement.params(params), size)
        async with aclosing(cursor) as raw_chunks:
            async for raw in raw_chunks:
                yield [decode(r) for r in raw]


def plan_lateral(node: QueryNode, ctx: PlanContext) -> LateralPlan:
    """Compile a query tree into one statement."""
    builder = _Builder(ctx, ctx.compiler())
    cc = ctx.schema[node.slug]
    table = builder.compiler.alias(cc)
    computed = aggregate_expressions(node, cc, table, builder.compiler, ctx.dialect)
    columns = selected(node, table, computed)
    rel_columns, source = builder.relation_columns(node, table, table)
    stmt = sa.select(*columns, *rel_columns).select_from(source)
    stmt = top_level(stmt, node, table, builder.compiler, ctx)
    return LateralPlan(ctx.compile(stmt), _top_decoder(node, ctx))


def _top_decoder(node: QueryNode, ctx: PlanContext) -> Callable[[Sequence[Any]], Row]:
    cc = ctx.schema[node.slug]
    names = value_names(node)
    decode_values = ctx.codecs.dict_decoder(names, value_kinds(node, cc))
    relations = [
        (name, json_row_decoder(child, ctx.schema, ctx.codecs)) for name, child in node.relations
    ]
    loads = json.loads
    start = len(names)

    def decode(raw: Sequence[Any]) -> Row:
        row = decode_values(raw)
        for i, (name, decode_relation) in enumerate(relations, start):
            data = raw[i]
            if isinstance(data, str | bytes):
                data = loads(data)
            row[name] = decode_relation(data)
        return row

    return decode


class _Builder:
    def __init__(self, ctx: PlanContext, compiler: FilterCompiler) -> None:
        self.ctx = ctx
        self.compiler = compiler
        self.dialect = ctx.dialect

    def relation_columns(
        self, node: QueryNode, table: sa.FromClause, source: Any
    ) -> tuple[list[Any], Any]:
        """One JSON column per relation of ``node``, and the FROM clause to select from."""
        out = []
        for name, child in node.relations:
            subquery = self.relation(child, table)
            if self.dialect.lateral:
                lat = subquery.lateral(self.compiler.fresh(f"r_{name[:20]}"))
                source = source.outerjoin(lat, sa.true())
                out.append(lat.c.data)
            else:
                out.append(subquery.scalar_subquery())
        return out, source

    def relation(self, node: QueryNode, parent: sa.FromClause) -> Any:
        """SELECT <JSON of the related rows of one parent row> AS data."""
        rel = node.relation
        assert rel is not None
        cc = self.ctx.schema[node.slug]
        target = self.compiler.alias(cc)
        related = self.compiler.related(rel, target)
        computed = aggregate_expressions(node, cc, target, self.compiler, self.dialect)
        conditions = [related.of(parent)]
        conditions += self.compiler.target_filters(rel, cc, target, node.where)
        order = list(related.order) or order_expressions(
            node, target, computed, nulls_low=self.dialect.nulls_sort_low
        )
        rows = sa.select().select_from(related.source).where(*conditions).correlate(parent)
        limit, offset = self.ctx.limit_bind(node.limit), self.ctx.limit_bind(node.offset)
        view, source = target, related.source
        picked = offset is not None or (limit is not None if not node.single else _several(rel))
        if node.relations and picked:
            # Limit first, then nest: ORDER BY / LIMIT / OFFSET pick the kept rows in an
            # inner query, and the nested relations are built over those rows only (else
            # the database builds them for every related row, or picks a plan that
            # avoids it, such as scanning the whole table in order).
            keep = _referenced(node, cc, target, order)
            name = self.compiler.fresh(f"k_{node.slug[:20]}")
            if node.single:  # the first candidate of a one relation
                limit = sa.literal(1, sa.BigInteger())
            view, source, order = self.dialect.kept_rows(
                rows, target, keep, order, limit, offset, name
            )
            if node.single:
                order = []  # one row kept (its order may name junction columns, now gone)
            limit = offset = None
        nested, source = self.relation_columns(node, view, source)
        if view is not target:  # the aggregates of the kept rows
            computed = aggregate_expressions(node, cc, view, self.compiler, self.dialect)
        values = [
            *self.values(node, cc, view, computed),
            *(self.dialect.embed_json(n) for n in nested),
        ]
        if view is target:
            rows = sa.select().select_from(source).where(*conditions).correlate(parent)
        else:
            rows = sa.select().select_from(source)
        if node.single:
            return self.one(values, rows, order, offset)
        return self.dialect.json_rows(values, rows, order, limit, offset)

    def values(
        self,
        node: QueryNode,
        cc: CompiledCollection,
        target: sa.FromClause,
        computed: dict[str, Any],
    ) -> list[Any]:
        """The row's values in JSON-safe form (as the dialect embeds each kind)."""
        exprs = [
            *(target.c[c] for c in node.columns),
            *(build(target) for _, build in node.extras),
            *(computed[name] for name, _ in node.aggregates),
        ]
        dialect = self.dialect
        return [json_form(dialect, k, e) for e, k in zip(exprs, value_kinds(node, cc), strict=True)]

    def one(self, values: list[Any], rows: Any, order: list[Any], offset: Any) -> Any:
        """SELECT <the first related row as JSON> AS data (NULL when there is none)."""
        stmt = rows.add_columns(self.dialect.json_row(values).label("data"))
        stmt = stmt.order_by(*order).limit(1)
        if offset is not None:
            stmt = stmt.offset(offset)
        return stmt


def _several(rel: Any) -> bool:
    """Whether a one relation may find several candidate rows (through a junction, or
    keyed on other columns than the target's primary key): its first is picked."""
    return rel.through is not None or tuple(rel.target_columns) != ("id",)


def _referenced(
    node: QueryNode, cc: CompiledCollection, target: sa.FromClause, order: list[Any]
) -> list[str]:
    """The columns of ``target`` a level reads once its rows are picked: its own columns,
    the columns its extras and ORDER BY use, and the keys its nested relations and
    aggregates join on."""
    exprs = [*(build(target) for _, build in node.extras), *order]
    used = {id(e) for expr in exprs for e in visitors.iterate(expr)}
    names = dict.fromkeys(node.columns)
    names.update(dict.fromkeys(c.key for c in target.c if id(c) in used))
    for _, child in node.relations:
        assert child.relation is not None
        names.update(dict.fromkeys(child.relation.source_columns))
    for _, a in node.aggregates:
        names.update(dict.fromkeys(cc.relations[a.relation].source_columns))
    return list(names)
