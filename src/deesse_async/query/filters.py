"""where-dicts -> SQLAlchemy boolean expressions, for one collection's table.

``{column: value}`` is equality (``None`` is ``IS NULL``); ``{column: {op: value}}``
uses an operator; ``AND``/``OR``/``NOT`` combine; ``RAW`` takes a callable. Every key is
checked against the schema and every value becomes a bound parameter, encoded for
the driver by the column's codec. Mistakes raise ``QueryError`` naming the path.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ..compile.schema import ColumnInfo
from ..drivers.base import Codecs
from ..errors import QueryError

__all__ = ["OPERATORS", "FilterTarget", "build_where", "did_you_mean"]

Expression = ColumnElement[bool]

# Extension point for relation filters (EXISTS), filled in by the query planner.
RelationFilter = Callable[[str, Any, str], Expression]


@dataclass(frozen=True, slots=True)
class FilterTarget:
    """What a where-dict is checked and compiled against."""

    slug: str
    table: sa.FromClause
    columns: Mapping[str, ColumnInfo]
    codecs: Codecs
    relations: Mapping[str, object] | None = None
    relation_filter: RelationFilter | None = None


def did_you_mean(name: str, options: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` when a close option exists, else ``""``."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _compare(op: str) -> Callable[[Any, Any], Expression]:
    return {
        "eq": lambda c, v: c == v,
        "ne": lambda c, v: c != v,
        "gt": lambda c, v: c > v,
        "gte": lambda c, v: c >= v,
        "lt": lambda c, v: c < v,
        "lte": lambda c, v: c <= v,
        "like": lambda c, v: c.like(v),
        "ilike": lambda c, v: c.ilike(v),
        "not_like": lambda c, v: c.not_like(v),
        "not_ilike": lambda c, v: c.not_ilike(v),
    }[op]


OPERATORS = (
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in",
    "like", "ilike", "not_like", "not_ilike", "is_null", "is_not_null",
)  # fmt: skip
_TEXT_OPERATORS = ("like", "ilike", "not_like", "not_ilike")
_COMBINATORS = ("AND", "OR", "NOT")


def build_where(where: Any, target: FilterTarget, path: str = "where") -> Expression:
    """Compile a where-dict into one boolean expression.

    >>> # {"name": {"ilike": "a%"}, "OR": [{"id": {"gt": 10}}, {"email": None}]}
    """
    if not isinstance(where, Mapping):
        raise QueryError(f"expected a dict, got {type(where).__name__}", path=path)
    parts: list[Expression] = []
    for key, value in where.items():
        sub = f"{path}.{key}"
        if not isinstance(key, str):
            raise QueryError(f"keys must be strings, got {key!r}", path=path)
        if key in _COMBINATORS:
            parts.append(_combinator(key, value, target, sub))
        elif key == "RAW":
            parts.append(_raw(value, target, sub))
        elif key in target.columns:
            parts.append(_column_filter(key, value, target, sub))
        elif target.relations is not None and key in target.relations:
            if target.relation_filter is None:
                raise QueryError("relation filters are not available here", path=sub)
            parts.append(target.relation_filter(key, value, sub))
        else:
            raise _unknown_key(key, target, sub)
    return sa.and_(*parts) if parts else sa.true()


def _unknown_key(key: str, target: FilterTarget, path: str) -> QueryError:
    options = [*target.columns, *(target.relations or {}), *_COMBINATORS, "RAW"]
    return QueryError(
        f"unknown column or relation {key!r} on {target.slug!r}" + did_you_mean(key, options),
        path=path,
    )


def _combinator(key: str, value: Any, target: FilterTarget, path: str) -> Expression:
    if key == "NOT":
        return sa.not_(build_where(value, target, path))
    items = _list(value, path)
    if not items:
        # AND of nothing is true, OR of nothing is false (as in Drizzle).
        return sa.true() if key == "AND" else sa.false()
    exprs = [build_where(item, target, f"{path}[{i}]") for i, item in enumerate(items)]
    return sa.and_(*exprs) if key == "AND" else sa.or_(*exprs)


def _raw(value: Any, target: FilterTarget, path: str) -> Expression:
    if not callable(value):
        raise QueryError("RAW takes a callable table -> SQLAlchemy expression", path=path)
    expr = value(target.table)
    if not isinstance(expr, ColumnElement):
        raise QueryError(
            f"RAW callable returned {type(expr).__name__}, not a SQLAlchemy expression", path=path
        )
    return expr


def _list(value: Any, path: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    raise QueryError(f"expected a list, got {type(value).__name__}", path=path)


def _column_filter(name: str, value: Any, target: FilterTarget, path: str) -> Expression:
    column = target.table.c[name]
    info = target.columns[name]
    if isinstance(value, Mapping):
        return _operator_dict(column, info, value, target, path)
    return _apply("eq", column, info, value, target, path)


def _operator_dict(
    column: Any, info: ColumnInfo, ops: Mapping[Any, Any], target: FilterTarget, path: str
) -> Expression:
    parts: list[Expression] = []
    for op, value in ops.items():
        sub = f"{path}.{op}"
        if op in _COMBINATORS:
            parts.append(_column_combinator(op, column, info, value, target, sub))
        elif op in OPERATORS:
            parts.append(_apply(op, column, info, value, target, sub))
        else:
            raise QueryError(
                f"unknown operator {op!r}" + did_you_mean(str(op), [*OPERATORS, *_COMBINATORS]),
                path=sub,
            )
    if not parts:
        raise QueryError("empty operator dict; give an operator such as {'eq': ...}", path=path)
    return sa.and_(*parts)


def _column_combinator(
    key: str, column: Any, info: ColumnInfo, value: Any, target: FilterTarget, path: str
) -> Expression:
    """``{"id": {"OR": [{"lt": 3}, 90]}}``: items are operator dicts or plain values."""

    def one(item: Any, sub: str) -> Expression:
        if isinstance(item, Mapping):
            return _operator_dict(column, info, item, target, sub)
        return _apply("eq", column, info, item, target, sub)

    if key == "NOT":
        return sa.not_(one(value, path))
    items = _list(value, path)
    if not items:
        return sa.true() if key == "AND" else sa.false()
    exprs = [one(item, f"{path}[{i}]") for i, item in enumerate(items)]
    return sa.and_(*exprs) if key == "AND" else sa.or_(*exprs)


def _apply(
    op: str, column: Any, info: ColumnInfo, value: Any, target: FilterTarget, path: str
) -> Expression:
    if op in ("is_null", "is_not_null"):
        if not isinstance(value, bool):
            raise QueryError(f"{op} takes True or False, got {value!r}", path=path)
        is_null = (op == "is_null") == value
        expr: Expression = column.is_(None) if is_null else column.is_not(None)
        return expr
    if op in ("in", "not_in"):
        if not isinstance(value, list | tuple | set | frozenset):
            raise QueryError(f"{op} takes a list, got {type(value).__name__}", path=path)
        values = [_bind(info, v, target, f"{path}[{i}]") for i, v in enumerate(value)]
        expr = column.in_(values) if op == "in" else column.not_in(values)
        return expr
    if value is None:
        if op == "eq":
            return column.is_(None)  # type: ignore[no-any-return]
        if op == "ne":
            return column.is_not(None)  # type: ignore[no-any-return]
        raise QueryError(f"{op} cannot compare with None; use is_null", path=path)
    if op in _TEXT_OPERATORS and not isinstance(value, str):
        raise QueryError(f"{op} takes a string pattern, got {type(value).__name__}", path=path)
    return _compare(op)(column, _bind(info, value, target, path))


def _bind(info: ColumnInfo, value: Any, target: FilterTarget, path: str) -> Any:
    if isinstance(value, sa.sql.elements.BindParameter):
        return value  # a placeholder: its value comes at execution time
    try:
        encoded = target.codecs.encode(info.kind, _coerce(info, value))
    except (TypeError, ValueError, AttributeError) as exc:
        raise QueryError(
            f"value {value!r} does not fit column {info.name!r} ({info.kind}): {exc}", path=path
        ) from None
    return sa.literal(encoded, type_=target.table.c[info.name].type)


def _coerce(info: ColumnInfo, value: Any) -> Any:
    """Check a filter value's Python type against the column's kind."""
    from .values import coerce_value

    return coerce_value(info.kind, value)
