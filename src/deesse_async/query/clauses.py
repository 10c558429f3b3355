"""The SELECT pieces both strategies share: what a level selects (columns, extras,
aggregates and how their values decode), its ORDER BY with the primary-key tiebreak,
and the top level's WHERE / LIMIT / OFFSET."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..compile.coercion import type_kind
from ..compile.schema import CompiledCollection, Kind
from ..errors import QueryError
from .filters import FilterCompiler
from .options import QueryNode

if TYPE_CHECKING:
    from .context import PlanContext

__all__ = [
    "extra_kinds",
    "order_expressions",
    "selected",
    "top_level",
    "value_kinds",
    "value_names",
]

_NONE: Mapping[str, Any] = {}


def order_expressions(
    node: QueryNode,
    table: sa.FromClause,
    computed: Mapping[str, Any] = _NONE,
    *,
    nulls_low: bool = False,
) -> list[Any]:
    """The level's ORDER BY: the caller's order, then the primary key as tiebreak.

    ``computed``: the level's aggregates over ``table`` (``aggregate_expressions``).
    The tiebreak makes every result deterministic (and equal across strategies). NULL
    sorts above every value on every backend (last in ASC, first in DESC): on a backend
    that sorts it below (``nulls_low``, ``Dialect.nulls_sort_low``) a nullable column or
    aggregate is preceded by ``<it> IS NULL`` in the same direction.
    """
    if callable(node.order_by):
        given = node.order_by(table)
        exprs = list(given) if isinstance(given, list | tuple) else [given]
    else:
        exprs = []
        nullable_aggregates = {name for name, a in node.aggregates if a.nullable}
        for c, desc in node.order_by:
            if c in computed:
                expr, nullable = computed[c], c in nullable_aggregates
            else:
                expr = table.c[c]
                nullable = expr.nullable
            keys = [expr.is_(None), expr] if nulls_low and nullable else [expr]
            exprs += [k.desc() if desc else k.asc() for k in keys]
        if any(c == "id" for c, _ in node.order_by):
            return exprs  # the caller's order already ends every tie
    return [*exprs, table.c.id.asc()]


def selected(
    node: QueryNode, table: sa.FromClause, computed: Mapping[str, Any] = _NONE
) -> list[Any]:
    """Selected columns, then extras and aggregates (labelled with their names)."""
    out: list[Any] = [table.c[c] for c in node.columns]
    for name, build in node.extras:
        expr = build(table)
        if not isinstance(expr, sa.ColumnElement):
            raise QueryError(
                f"extras.{name}: the callable returned {type(expr).__name__}, "
                "not a SQLAlchemy expression"
            )
        out.append(expr.label(name))
    out += [computed[name].label(name) for name, _ in node.aggregates]
    return out


def value_names(node: QueryNode) -> list[str]:
    """The row keys ``selected`` gives values for, in order."""
    return [*node.columns, *(n for n, _ in node.extras), *(n for n, _ in node.aggregates)]


def value_kinds(node: QueryNode, cc: CompiledCollection) -> list[Kind | None]:
    """How each of ``selected``'s values decodes, in order."""
    return [
        *(cc.columns[c].kind for c in node.columns),
        *extra_kinds(node, cc),
        *(a.kind for _, a in node.aggregates),
    ]


def extra_kinds(node: QueryNode, cc: CompiledCollection) -> list[Kind | None]:
    """Decoding kind of each extra, from the SQLAlchemy type of its expression.

    So that ``t.c.id > 5`` is a ``bool`` on SQLite and MySQL too (they return 1/0), in
    both strategies. An expression of unknown type is passed through as it comes.
    """
    return [type_kind(getattr(build(cc.table), "type", None)) for _, build in node.extras]


def top_level(
    stmt: Any, node: QueryNode, table: sa.FromClause, compiler: FilterCompiler, ctx: PlanContext
) -> Any:
    """The top level's WHERE, ORDER BY, LIMIT (1 for find_first) and OFFSET."""
    if node.where is not None:
        stmt = stmt.where(compiler.compile(node.where, ctx.schema[node.slug], table))
    computed = compiler.computed.get(id(table), _NONE)
    stmt = stmt.order_by(
        *order_expressions(node, table, computed, nulls_low=ctx.dialect.nulls_sort_low)
    )
    if node.single:
        stmt = stmt.limit(1)
    elif node.limit is not None:
        stmt = stmt.limit(ctx.limit_bind(node.limit))
    if node.offset is not None:
        stmt = stmt.offset(ctx.limit_bind(node.offset))
    return stmt
