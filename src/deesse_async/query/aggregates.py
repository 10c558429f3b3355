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
from typing import Any, Literal

from ..compile.schema import Kind

__all__ = [
    "AGGREGATE_KINDS",
    "PYTHON_TYPES",
    "Aggregate",
    "AggregateFunction",
    "AggregateFunctions",
    "agg",
]

AggregateFunction = Literal["count", "sum", "avg", "min", "max"]

# Column kinds each function takes (PostgreSQL has no min(boolean) nor min(uuid)).
AGGREGATE_KINDS: dict[str, tuple[Kind, ...]] = {
    "sum": ("int", "float"),
    "avg": ("int", "float"),
    "min": ("int", "float", "str", "datetime", "date"),
    "max": ("int", "float", "str", "datetime", "date"),
}

PYTHON_TYPES: dict[Kind, type] = {
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
