"""Filter trees (``options.py``) -> SQLAlchemy boolean expressions.

A relation filter becomes ``EXISTS`` over the related table (through the junction for
many-to-many relations), with the relation's predefined ``where`` and the nested
filter inside. Values are bind parameters named by their slot; nothing a caller passes
is pasted into SQL text.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ..compile.schema import CompiledCollection, RelationInfo, Schema
from ..errors import QueryError

__all__ = ["FilterCompiler", "Related", "join_condition"]

Expression = ColumnElement[bool]


# PostgreSQL and MySQL escape LIKE patterns with a backslash by default, SQLite not at
# all: say it explicitly so that "\\_" means a literal "_" everywhere.
ESCAPE = "\\"

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: c != v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
    "like": lambda c, v: c.like(v, escape=ESCAPE),
    "ilike": lambda c, v: sa.func.lower(c).like(sa.func.lower(v), escape=ESCAPE),
    "not_like": lambda c, v: c.not_like(v, escape=ESCAPE),
    "not_ilike": lambda c, v: sa.not_(sa.func.lower(c).like(sa.func.lower(v), escape=ESCAPE)),
}


def join_condition(
    left: sa.FromClause, left_cols: Sequence[str], right: sa.FromClause, right_cols: Sequence[str]
) -> Expression:
    """``left.a = right.x AND left.b = right.y`` for (composite) keys."""
    parts = [left.c[a] == right.c[b] for a, b in zip(left_cols, right_cols, strict=True)]
    return parts[0] if len(parts) == 1 else sa.and_(*parts)


class Related(NamedTuple):
    """The rows of a relation, as ``FilterCompiler.related`` builds them."""

    source: sa.FromClause  # the target alias, or the junction joined to it
    keys: tuple[Any, ...]  # the columns holding the parent's key ...
    parent_keys: tuple[str, ...]  # ... equal to these columns of the parent
    order: tuple[Any, ...]  # forced ORDER BY (a one relation through a junction)

    def of(self, parent: sa.FromClause) -> Expression:
        """The rows belonging to one ``parent`` row (a correlated condition)."""
        parts = [k == parent.c[c] for k, c in zip(self.keys, self.parent_keys, strict=True)]
        return parts[0] if len(parts) == 1 else sa.and_(*parts)


@dataclass
class FilterCompiler:
    """Compiles filter trees; ``bind`` turns a slot into a bind parameter."""

    schema: Schema
    bind: Callable[[Any, Any], Any]  # (slot, column type) -> BindParameter
    predefined: Callable[[RelationInfo], Any] | None = None  # relation -> Filter | None
    # Per table alias (by id): the level's aggregates, which its where compares by name
    # like columns (aggregates.py).
    computed: dict[int, dict[str, Any]] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def column(self, table: sa.FromClause, name: str) -> ColumnElement[Any]:
        """A column of ``table``, or an aggregate of its level named ``name``."""
        computed = self.computed.get(id(table))
        if computed is not None and name in computed:
            found: ColumnElement[Any] = computed[name]
            return found
        return table.c[name]

    def alias(self, cc: CompiledCollection) -> sa.FromClause:
        """A fresh alias of a collection's table (unique within the statement)."""
        return cc.table.alias(self.fresh(cc.slug[:20]))

    def fresh(self, prefix: str) -> str:
        """A name unique within the statement, stable from one run to the next."""
        return f"{prefix}_{next(self._names)}"

    def compile(self, f: Any, cc: CompiledCollection, table: sa.FromClause) -> Expression:
        """The boolean expression of filter ``f`` over ``table`` (an alias of ``cc``)."""
        from . import options as o

        if isinstance(f, o.Cmp):
            column = self.column(table, f.column)
            return _COMPARE[f.op](column, self.bind(f.value, column.type))  # type: ignore[no-any-return]
        if isinstance(f, o.InList):
            if not f.values:  # IN () is false, NOT IN () true (even for NULL values)
                return sa.true() if f.negate else sa.false()
            column = self.column(table, f.column)
            binds = [self.bind(s, column.type) for s in f.values]
            return column.not_in(binds) if f.negate else column.in_(binds)
        if isinstance(f, o.IsNull):
            column = self.column(table, f.column)
            return column.is_not(None) if f.negate else column.is_(None)
        if isinstance(f, o.And):
            return sa.and_(*(self.compile(i, cc, table) for i in f.items))
        if isinstance(f, o.Or):
            return sa.or_(*(self.compile(i, cc, table) for i in f.items))
        if isinstance(f, o.Not):
            return sa.not_(self.compile(f.item, cc, table))
        if isinstance(f, o.Const):
            return sa.true() if f.value else sa.false()
        if isinstance(f, o.Raw):
            return _raw(f, table)
        if isinstance(f, o.RelationFilter):
            return self.exists(cc.relations[f.relation], table, f)
        raise TypeError(f"not a filter: {f!r}")  # pragma: no cover

    def exists(self, rel: RelationInfo, parent: sa.FromClause, f: Any) -> Expression:
        """``EXISTS`` (or ``NOT EXISTS``) over the related rows of ``parent``."""
        target_cc = self.schema[rel.target]
        target = self.alias(target_cc)
        related = self.related(rel, target)
        stmt = sa.select(sa.literal(1)).select_from(related.source)
        conditions = [related.of(parent)]
        conditions += self.target_filters(rel, target_cc, target, f.where)
        exists: Expression = stmt.where(*conditions).exists()
        return sa.not_(exists) if f.negate else exists

    def related(self, rel: RelationInfo, target: sa.FromClause) -> Related:
        """Where a relation's rows come from (``target``, or the junction joined to it),
        the columns holding their parent's key, and the forced order of a one relation
        through a junction."""
        through = rel.through
        if through is None:
            keys = tuple(target.c[c] for c in rel.target_columns)
            return Related(target, keys, rel.source_columns, ())
        junction = through.table.alias(self.fresh("j"))
        source = junction.join(
            target, join_condition(junction, through.target_columns, target, rel.target_columns)
        )
        order: tuple[Any, ...] = ()
        if rel.cardinality == "one":  # the first linked row: junction order, then target id
            order = (*(junction.c[c].asc() for c in through.order), target.c.id.asc())
        keys = tuple(junction.c[c] for c in through.source_columns)
        return Related(source, keys, rel.source_columns, order)

    def target_filters(
        self, rel: RelationInfo, cc: CompiledCollection, target: sa.FromClause, where: Any
    ) -> list[Expression]:
        """The relation's predefined filter and the caller's filter, over ``target``."""
        out = []
        predefined = self.predefined(rel) if self.predefined else None
        if predefined is not None:
            out.append(self.compile(predefined, cc, target))
        if where is not None:
            out.append(self.compile(where, cc, target))
        return out


def _raw(f: Any, table: sa.FromClause) -> Expression:
    expr = f.build(table)
    if not isinstance(expr, ColumnElement):
        raise QueryError(
            f"RAW callable returned {type(expr).__name__}, not a SQLAlchemy expression"
        )
    return expr
