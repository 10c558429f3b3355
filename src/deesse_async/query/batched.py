"""Strategy ``batched``: one statement per relation level.

The parent level runs first; its key values are collected and each child level runs
once for all parents, bound as one value (``Dialect.key_filter``: ``WHERE fk = ANY($1)``
on PostgreSQL, ``IN (SELECT ... FROM json_each(?))`` on SQLite),
with ``ROW_NUMBER() OVER (PARTITION BY fk ...)`` when a per-parent limit or offset
applies. Children are stitched onto parents through a dict, in O(rows).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .._types import DriverRow, Row
from ..compile.schema import RelationInfo
from ..dialects import CompiledSQL, Dialect
from ..drivers.base import Connection
from .aggregate_sql import aggregate_expressions
from .clauses import order_expressions, selected, top_level, value_kinds, value_names
from .context import PlanContext
from .options import QueryNode

__all__ = ["BatchedPlan", "plan_batched"]

# The bind holding a child level's parent keys (``Dialect.key_filter``); reserved: "__".
KEYS = "__keys"


@dataclass(frozen=True, slots=True, eq=False)
class Level:
    """One compiled level: its SQL, how to read its rows, and its children."""

    name: str
    sql: CompiledSQL
    decode: Callable[[DriverRow], Row]  # the selected columns and extras, as a dict
    link: Callable[[DriverRow], Any]  # the parent-link value(s) of a child row
    children: tuple[tuple[Level, Callable[[DriverRow], Any]], ...]  # (child, parent key getter)
    single: bool
    many_parents: bool  # a child row may belong to several parents (copy it per parent)


@dataclass(frozen=True, slots=True, eq=False)
class BatchedPlan:
    """A compiled batched plan: run it with bound parameters on one connection."""

    root: Level
    dialect: Dialect
    strategy: str = "batched"

    def sql(self) -> str:
        """Every statement of the plan, parent first."""
        out: list[str] = []
        _collect_sql(self.root, out)
        return ";\n\n".join(out)

    async def run(self, conn: Connection, params: dict[str, Any]) -> list[Row]:
        """Execute every level and return the stitched rows."""
        level = self.root
        raw = await conn.fetch(level.sql.sql, level.sql.params(params))
        rows = _rows(level, raw)
        await _load_children(conn, level, raw, rows, params, self.dialect)
        return rows

    async def chunks(
        self, conn: Connection, params: dict[str, Any], size: int
    ) -> AsyncGenerator[list[Row], None]:
        """The stitched rows ``size`` at a time: the top level through a server-side
        cursor, each chunk's relations loaded (batched) before it is handed out."""
        level = self.root
        cursor = conn.cursor(level.sql.sql, level.sql.params(params), size)
        async with aclosing(cursor) as raw_chunks:
            async for raw in raw_chunks:
                rows = _rows(level, raw)
                await _load_children(conn, level, raw, rows, params, self.dialect)
                yield rows


def _collect_sql(level: Level, out: list[str]) -> None:
    out.append(level.sql.sql)
    for child, _ in level.children:
        _collect_sql(child, out)


def _rows(level: Level, raw: Sequence[DriverRow]) -> list[Row]:
    decode = level.decode
    return [decode(r) for r in raw]


def _getter(positions: Sequence[int]) -> Callable[[DriverRow], Any]:
    """A key getter: the value itself for one column, a tuple for composite keys."""
    if len(positions) == 1:
        (p,) = positions
        return lambda r: r[p]
    return lambda r: tuple(r[i] for i in positions)


async def _load_children(
    conn: Connection,
    level: Level,
    raw: Sequence[DriverRow],
    rows: list[Row],
    params: dict[str, Any],
    dialect: Dialect,
) -> None:
    for child, get_key in level.children:
        keys_per_row = [get_key(r) for r in raw]
        wanted = [k for k in dict.fromkeys(keys_per_row) if not _has_null(k)]
        grouped: dict[Any, list[Row]] = {}
        if wanted:
            bound = {**params, **dialect.encode_keys(wanted, KEYS)}
            child_raw = await conn.fetch(child.sql.sql, child.sql.params(bound))
            child_rows = _rows(child, child_raw)
            await _load_children(conn, child, child_raw, child_rows, params, dialect)
            link = child.link
            for r, row in zip(child_raw, child_rows, strict=True):
                key = link(r)
                found = grouped.get(key)
                if found is None:
                    grouped[key] = [row]
                else:
                    found.append(row)
        _attach(child, rows, keys_per_row, grouped)


def _has_null(key: Any) -> bool:
    return key is None or (isinstance(key, tuple) and None in key)


def _attach(
    child: Level,
    rows: list[Row],
    keys_per_row: list[Any],
    grouped: dict[Any, list[Row]],
) -> None:
    name, seen = child.name, set()
    for row, key in zip(rows, keys_per_row, strict=True):
        found = grouped.get(key, [])
        if child.many_parents:  # a shared child gets its own dict per parent
            if key in seen:
                found = [dict(r) for r in found]
            seen.add(key)
        if child.single:
            row[name] = found[0] if found else None
        else:
            row[name] = found


# -- planning -------------------------------------------------------------------------


def plan_batched(node: QueryNode, ctx: PlanContext) -> BatchedPlan:
    """Compile a query tree into one statement per level."""
    return BatchedPlan(_root(node, ctx), ctx.dialect)


def _root(node: QueryNode, ctx: PlanContext) -> Level:
    cc = ctx.schema[node.slug]
    compiler = ctx.compiler()
    table = compiler.alias(cc)
    columns = selected(node, table, aggregate_expressions(node, cc, table, compiler, ctx.dialect))
    keys, key_positions = _child_keys(node, table, len(columns))
    stmt = top_level(sa.select(*columns, *keys).select_from(table), node, table, compiler, ctx)
    return _level("", node, stmt, ctx, (), key_positions, many_parents=False)


def _child_keys(
    node: QueryNode, table: sa.FromClause, start: int
) -> tuple[list[Any], list[tuple[int, ...]]]:
    """Hidden key columns the children need, and their positions per child."""
    keys: list[Any] = []
    positions: list[tuple[int, ...]] = []
    for _, child in node.relations:
        rel = child.relation
        assert rel is not None
        pos = []
        for column in rel.source_columns:
            pos.append(start + len(keys))
            keys.append(table.c[column].label(f"__k{len(keys)}"))
        positions.append(tuple(pos))
    return keys, positions


def _level(
    name: str,
    node: QueryNode,
    stmt: Any,
    ctx: PlanContext,
    link: tuple[int, ...],
    key_positions: list[tuple[int, ...]],
    *,
    many_parents: bool,
) -> Level:
    cc = ctx.schema[node.slug]
    names = value_names(node)
    kinds = value_kinds(node, cc)
    children = tuple(
        (_child(child_name, child, ctx), _getter(positions))
        for (child_name, child), positions in zip(node.relations, key_positions, strict=True)
    )
    return Level(
        name=name,
        sql=ctx.compile(stmt),
        decode=ctx.codecs.dict_decoder(names, kinds),
        link=_getter(link),
        children=children,
        single=node.single,
        many_parents=many_parents,
    )


def _child(name: str, node: QueryNode, ctx: PlanContext) -> Level:
    rel = node.relation
    assert rel is not None
    cc = ctx.schema[node.slug]
    compiler = ctx.compiler()
    target = compiler.alias(cc)
    computed = aggregate_expressions(node, cc, target, compiler, ctx.dialect)
    columns = selected(node, target, computed)
    keys, key_positions = _child_keys(node, target, len(columns))
    source, link_columns, _, forced = compiler.related(rel, target)
    link_kinds = [ctx.schema[rel.source].columns[c].kind for c in rel.source_columns]
    filters = [ctx.dialect.key_filter(link_columns, link_kinds, KEYS)]
    filters += compiler.target_filters(rel, cc, target, node.where)
    order = list(forced) or order_expressions(
        node, target, computed, nulls_low=ctx.dialect.nulls_sort_low
    )
    links = [c.label(f"__l{i}") for i, c in enumerate(link_columns)]
    start = len(columns) + len(keys)
    link = tuple(range(start, start + len(links)))
    windowed = node.single or node.limit is not None or node.offset is not None
    if not windowed:
        stmt = (
            sa.select(*columns, *keys, *links).select_from(source).where(*filters).order_by(*order)
        )
        return _level(name, node, stmt, ctx, link, key_positions, many_parents=_shared(rel))
    rn = sa.func.row_number().over(partition_by=link_columns, order_by=order).label("__rn")
    inner = sa.select(*columns, *keys, *links, rn).select_from(source).where(*filters).subquery("w")
    offset = ctx.limit_bind(node.offset) if node.offset is not None else 0
    bounds = [inner.c.__rn > offset]
    if node.single:
        bounds.append(inner.c.__rn <= offset + 1)
    elif node.limit is not None:
        bounds.append(inner.c.__rn <= offset + ctx.limit_bind(node.limit))
    outer_cols = [c for c in inner.c if c.name != "__rn"]
    stmt = (
        sa.select(*outer_cols)
        .where(*bounds)
        .order_by(*(inner.c[link_col.name] for link_col in links), inner.c.__rn)
    )
    return _level(name, node, stmt, ctx, link, key_positions, many_parents=_shared(rel))


def _shared(rel: RelationInfo) -> bool:
    # A one relation through a foreign key on the parent: many parents, one child row.
    return rel.cardinality == "one" and rel.through is None
