"""Strategy ``lateral``: the whole ``with`` tree in ONE statement.

Each related level becomes a JSON value built by the database: rows as positional JSON
arrays (``json_build_array`` measured ~30% cheaper than ``json_build_object``), many
relations aggregated into an array, in order, limited per parent.

- PostgreSQL: ``LEFT JOIN LATERAL (SELECT coalesce(json_agg(... ORDER BY ...), '[]'))``
  per relation (``json_agg`` measured ~2x cheaper than ``jsonb_agg``).
- SQLite: correlated scalar subqueries with ``json_group_array``/``json_array`` over an
  ordered, limited subquery.
- MariaDB (no LATERAL, no outer references in derived tables): correlated scalar
  subqueries with ``JSON_ARRAYAGG(... ORDER BY ... LIMIT ...)``.

The JSON comes back as text and is decoded to the declared Python types (``decode.py``),
so rows equal the batched strategy's exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.functions import FunctionElement

from .._types import Row
from ..compile.schema import CompiledCollection, RelationInfo
from ..dialects import CompiledSQL
from ..drivers.base import Connection
from .common import PlanContext, extra_kinds, limit_bind, order_expressions, selected, top_level
from .decode import json_row_decoder
from .filters import FilterCompiler, join_condition
from .options import QueryNode

__all__ = ["LateralPlan", "plan_lateral"]

# MariaDB needs a row count with OFFSET; this is "no limit".
_NO_LIMIT = 18446744073709551615


class JsonArrayAgg(FunctionElement[Any]):
    """MariaDB's ``JSON_ARRAYAGG(expr ORDER BY ... LIMIT n OFFSET m)``."""

    name = "json_arrayagg"
    inherit_cache = False

    def __init__(self, expr: Any, order_by: Sequence[Any], limit: Any, offset: Any) -> None:
        self.expr, self.order, self.limit, self.offset = expr, list(order_by), limit, offset
        super().__init__(expr)


@compiles(JsonArrayAgg)
def _compile_json_arrayagg(element: JsonArrayAgg, compiler: Any, **kw: Any) -> str:
    sql = f"JSON_ARRAYAGG({compiler.process(element.expr, **kw)}"
    if element.order:
        sql += " ORDER BY " + ", ".join(compiler.process(o, **kw) for o in element.order)
    if element.limit is not None or element.offset is not None:
        limit = compiler.process(element.limit, **kw) if element.limit is not None else _NO_LIMIT
        sql += f" LIMIT {limit}"
        if element.offset is not None:
            sql += f" OFFSET {compiler.process(element.offset, **kw)}"
    return sql + ")"


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


def plan_lateral(node: QueryNode, ctx: PlanContext) -> LateralPlan:
    """Compile a query tree into one statement."""
    builder = _Builder(ctx, ctx.compiler())
    cc = ctx.schema[node.slug]
    table = builder.compiler.alias(cc)
    columns = selected(node, table)
    rel_columns, source = builder.relation_columns(node, table, table)
    stmt = sa.select(*columns, *rel_columns).select_from(source)
    stmt = top_level(stmt, node, table, builder.compiler, ctx)
    return LateralPlan(ctx.compile(stmt), _top_decoder(node, ctx))


def _top_decoder(node: QueryNode, ctx: PlanContext) -> Callable[[Sequence[Any]], Row]:
    cc = ctx.schema[node.slug]
    names = [*node.columns, *(n for n, _ in node.extras)]
    kinds = [*(cc.columns[c].kind for c in node.columns), *extra_kinds(node, cc)]
    decode_values = ctx.codecs.dict_decoder(names, kinds)
    relations = [(name, json_row_decoder(child, ctx.schema)) for name, child in node.relations]
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


def _split_order(expr: Any) -> tuple[Any, bool]:
    """(expression, descending) of an ORDER BY item."""
    modifier = getattr(expr, "modifier", None)
    if modifier is operators.desc_op:
        return expr.element, True
    if modifier is operators.asc_op:
        return expr.element, False
    return expr, False


class _Builder:
    def __init__(self, ctx: PlanContext, compiler: FilterCompiler) -> None:
        self.ctx = ctx
        self.compiler = compiler
        self.lateral = ctx.dialect.lateral
        self.name = ctx.dialect.name

    def relation_columns(
        self, node: QueryNode, table: sa.FromClause, source: Any
    ) -> tuple[list[Any], Any]:
        """One JSON column per relation of ``node``, and the FROM clause to select from."""
        out = []
        for name, child in node.relations:
            subquery = self.relation(child, table)
            if self.lateral:
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
        source, conditions, first_order = self.link(rel, parent, target)
        conditions += self.compiler.target_filters(rel, cc, target, node.where)
        order = first_order or order_expressions(node, target)
        nested, source = self.relation_columns(node, target, source)
        values = [*self.values(node, cc, target), *(self.embed(n) for n in nested)]
        if node.single:
            return self.one(values, source, conditions, order, node).correlate(parent)
        return self.many(values, source, conditions, order, node, parent)

    def link(
        self, rel: RelationInfo, parent: sa.FromClause, target: sa.FromClause
    ) -> tuple[Any, list[Any], list[Any]]:
        if rel.through is None:
            return target, self.compiler.link(rel, parent, target), []
        through = rel.through
        junction = through.table.alias(self.compiler.fresh("j"))
        source = junction.join(
            target, join_condition(junction, through.target_columns, target, rel.target_columns)
        )
        conditions = [join_condition(junction, through.source_columns, parent, rel.source_columns)]
        order = []
        if rel.cardinality == "one":  # the first linked row: junction order, then target id
            order = [*(junction.c[c].asc() for c in through.order), target.c.id.asc()]
        return source, conditions, order

    def values(self, node: QueryNode, cc: CompiledCollection, target: sa.FromClause) -> list[Any]:
        """The row's values in JSON-safe form (lossless floats on SQLite, JSON as JSON)."""
        out = [self.json_value(cc.columns[c].kind, target.c[c]) for c in node.columns]
        kinds = extra_kinds(node, cc)
        out += [
            self.json_value(k, build(target))
            for (_, build), k in zip(node.extras, kinds, strict=True)
        ]
        return out

    def json_value(self, kind: str | None, expr: Any) -> Any:
        if self.name != "sqlite":
            return expr
        if kind == "float":  # SQLite's JSON keeps 15 digits; 17 round-trip a double
            return sa.case((expr.is_(None), None), else_=sa.func.printf("%!.17g", expr))
        if kind == "json":  # stored as TEXT: embed it as JSON, not as a string
            return sa.func.json(expr)
        return expr

    def embed(self, value: Any) -> Any:
        # SQLite loses the JSON subtype across a subquery: json() restores it.
        return sa.func.json(value) if self.name == "sqlite" else value

    def row(self, values: list[Any]) -> Any:
        if self.name == "postgresql":
            return sa.func.json_build_array(*values)
        return sa.func.json_array(*values)

    def one(
        self,
        values: list[Any],
        source: Any,
        conditions: list[Any],
        order: list[Any],
        node: QueryNode,
    ) -> Any:
        stmt = sa.select(self.row(values).label("data")).select_from(source).where(*conditions)
        stmt = stmt.order_by(*order).limit(1)
        if node.offset is not None:
            stmt = stmt.offset(limit_bind(node.offset, self.ctx))
        return stmt

    def many(
        self,
        values: list[Any],
        source: Any,
        conditions: list[Any],
        order: list[Any],
        node: QueryNode,
        parent: sa.FromClause,
    ) -> Any:
        limit = limit_bind(node.limit, self.ctx)
        offset = limit_bind(node.offset, self.ctx)
        if self.name == "mysql":
            agg = JsonArrayAgg(self.row(values), order, limit, offset)
            data = sa.func.coalesce(agg, sa.func.json_array())
            stmt = sa.select(data.label("data")).select_from(source).where(*conditions)
            return stmt.correlate(parent)
        if self.name == "sqlite":
            rows = sa.select(self.row(values).label("r")).select_from(source).where(*conditions)
            ordered = rows.order_by(*order).limit(limit).offset(offset).correlate(parent)
            s = ordered.subquery("s")
            return sa.select(sa.func.json_group_array(sa.func.json(s.c.r)).label("data"))
        return self.pg_many(values, source, conditions, order, limit, offset, parent)

    def pg_many(
        self,
        values: list[Any],
        source: Any,
        conditions: list[Any],
        order: list[Any],
        limit: Any,
        offset: Any,
        parent: sa.FromClause,
    ) -> Any:
        parts = [_split_order(o) for o in order]
        labelled = [v.label(f"c{i}") if hasattr(v, "label") else v for i, v in enumerate(values)]
        keys = [expr.label(f"o{i}") for i, (expr, _) in enumerate(parts)]
        rows = sa.select(*labelled, *keys).select_from(source).where(*conditions)
        inner = rows.order_by(*order).limit(limit).offset(offset).correlate(parent).subquery("s")
        row = sa.func.json_build_array(*(inner.c[f"c{i}"] for i in range(len(values))))
        agg_order = [
            inner.c[f"o{i}"].desc() if desc else inner.c[f"o{i}"].asc()
            for i, (_, desc) in enumerate(parts)
        ]
        data = sa.func.coalesce(
            sa.func.json_agg(aggregate_order_by(row, *agg_order)), sa.text("'[]'::json")
        )
        return sa.select(data.label("data")).select_from(inner)
