"""Relation aggregates: ``aggregates={"post_count": agg.count("posts"), ...}``.

``agg.count/sum/avg/min/max`` make an ``Aggregate`` (what the caller asked for, checked
when the query is parsed); ``options.py`` turns it into an ``AggregateNode`` of the query
tree (hashable, values lifted into slots). Here each node becomes a correlated scalar
subquery over the parent row's related rows::

    (SELECT count(*) FROM posts AS p WHERE p.author_id = users.id AND <where> AND <rule>)

usable in the SELECT list, in WHERE and in ORDER BY, on every backend and in both
strategies (the lateral strategy embeds it in its JSON rows like a column).

Result types are the same everywhere: ``count`` an ``int`` (0 over no rows); ``sum`` an
``int`` over an integer column (cast back from PostgreSQL's NUMERIC and MySQL's
DECIMAL), a ``float`` over a number column; ``min``/``max`` the column's own type;
``avg`` a ``float``, computed as ``CAST(SUM(x) AS DOUBLE) / COUNT(x)`` so that the
exact integer sum is rounded once, alike on every backend (MySQL's own ``AVG`` keeps
4 decimals). All but ``count`` are ``None`` over no rows (or only NULL values).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from ..compile.schema import CompiledCollection, Kind, RelationInfo, Schema
from ..dialects import Dialect

if TYPE_CHECKING:
    from .filters import FilterCompiler
    from .options import Filter

__all__ = [
    "AGGREGATE_KINDS",
    "Aggregate",
    "AggregateFunction",
    "AggregateFunctions",
    "AggregateNode",
    "agg",
    "aggregate_expressions",
]

AggregateFunction = Literal["count", "sum", "avg", "min", "max"]

# Column kinds each function takes (PostgreSQL has no min(boolean) nor min(uuid)).
AGGREGATE_KINDS: dict[str, tuple[Kind, ...]] = {
    "sum": ("int", "float"),
    "avg": ("int", "float"),
    "min": ("int", "float", "str", "datetime", "date"),
    "max": ("int", "float", "str", "datetime", "date"),
}

_PYTHON_TYPES: dict[Kind, type] = {
    "int": int,
    "float": float,
    "str": str,
    "datetime": dt.datetime,
    "date": dt.date,
}


@dataclass(frozen=True, slots=True)
class Aggregate:
    """An aggregate over a relation's rows, as ``agg.count(...)`` & co. make it.

    Checked against the schema when the query is parsed (unknown relation or column,
    a column that does not fit the function: ``QueryError`` naming the option path).
    """

    function: AggregateFunction
    relation: str
    column: str | None = None
    where: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        args = [repr(self.relation)]
        if self.column is not None:
            args.append(repr(self.column))
        if self.where is not None:
            args.append(f"where={self.where!r}")
        return f"agg.{self.function}({', '.join(args)})"


class AggregateFunctions:
    """``agg``: aggregates of a relation's rows, for the ``aggregates`` query option.

    >>> from deesse_async import agg
    >>> agg.count("posts", where={"status": "published"})
    agg.count('posts', where={'status': 'published'})
    >>> agg.sum("posts", "views")
    agg.sum('posts', 'views')
    """

    def count(self, relation: str, where: Mapping[str, Any] | None = None) -> Aggregate:
        """How many related rows (matching ``where``) each row has; ``0`` when none.

        >>> # await db.query.users.find_many(aggregates={"n": agg.count("posts")})
        """
        return Aggregate("count", relation, None, where)

    def sum(self, relation: str, column: str, where: Mapping[str, Any] | None = None) -> Aggregate:
        """The sum of an integer or number column over the related rows (``None`` when
        there are none); an ``int`` for an integer column, a ``float`` for a number.

        >>> # aggregates={"total_views": agg.sum("posts", "views")}
        """
        return Aggregate("sum", relation, column, where)

    def avg(self, relation: str, column: str, where: Mapping[str, Any] | None = None) -> Aggregate:
        """The mean of an integer or number column over the related rows, a ``float``
        (``None`` when there are none).

        >>> # aggregates={"mean_views": agg.avg("posts", "views")}
        """
        return Aggregate("avg", relation, column, where)

    def min(self, relation: str, column: str, where: Mapping[str, Any] | None = None) -> Aggregate:
        """The smallest value of a column (number, text, date or timestamp) over the
        related rows, of the column's type (``None`` when there are none).

        >>> # aggregates={"first_post_at": agg.min("posts", "created_at")}
        """
        return Aggregate("min", relation, column, where)

    def max(self, relation: str, column: str, where: Mapping[str, Any] | None = None) -> Aggregate:
        """The largest value of a column (number, text, date or timestamp) over the
        related rows, of the column's type (``None`` when there are none).

        >>> # aggregates={"top_views": agg.max("posts", "views")}
        """
        return Aggregate("max", relation, column, where)

    def __repr__(self) -> str:
        return "agg"


agg = AggregateFunctions()


@dataclass(frozen=True, slots=True)
class AggregateNode:
    """A parsed aggregate in the query tree: over ``relation`` of the level's collection,
    ``column`` of its target (None for count), the target rows filtered by ``where``;
    ``kind`` is how its value decodes."""

    function: AggregateFunction
    relation: str
    column: str | None
    where: Filter | None
    kind: Kind

    @property
    def python_type(self) -> type:
        """The Python type of the value (``int`` for count; see ``nullable``)."""
        return _PYTHON_TYPES[self.kind]

    @property
    def nullable(self) -> bool:
        """Whether the value may be ``None`` (no related rows): all but ``count``."""
        return self.function != "count"


# -- SQL ---------------------------------------------------------------------------------


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
