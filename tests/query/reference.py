"""A plain-Python evaluator of ``find_many`` / ``find_first`` options: the harness's oracle.

It reads rows exactly as CRUD returned them and walks the relation graph that
``define_config`` compiled (``db.schema[slug].relations``), so it shares no code with
the query implementation it checks. The semantics it encodes (also listed in the
report to the lead):

- ``columns``: ``None``/missing selects every column; a dict with any ``True`` selects
  exactly the ``True`` columns; otherwise every column but the (``False``) keys; ``{}``
  selects no column (Drizzle: only relations and extras remain).
- every level is ordered by its ``order_by`` then by ``id`` ascending; ``limit``/``offset``
  apply per parent; a one relation takes the first matching row (lowest target ``id``)
  after its ``offset``; a many-to-many relation follows the junction links.
- ``where`` follows SQL three-valued logic (``None`` stands for UNKNOWN) and keeps the
  rows whose predicate is TRUE; relation filters are EXISTS / NOT EXISTS (never UNKNOWN).
- ``like``: ``%`` any sequence, ``_`` one character, case-sensitive, no escape character;
  ``ilike`` lower-cases both sides.
- ``aggregates``: over the rows ``with`` would load for the relation (predefined filter,
  the aggregate's ``where``; a one relation: its first row), no limit: ``count`` an int
  (0 when none), ``sum``/``min``/``max`` over the non-NULL values (``None`` when none),
  ``avg`` ``float(sum) / n``. A float sum (or mean) of several values is an ``Approx``:
  databases add in their own order. Aggregate names work in the level's ``where`` and
  ``order_by`` like columns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from deesse_async import Aggregate
from deesse_async.compile.schema import RelationInfo, Schema

__all__ = [
    "Approx",
    "Dataset",
    "Extra",
    "Param",
    "Row",
    "UnsupportedOption",
    "bind_params",
    "evaluate",
    "like",
    "map_params",
]

Row = dict[str, Any]
Truth = bool | None  # None is SQL's UNKNOWN

OPTION_KEYS = ("columns", "with", "where", "order_by", "limit", "offset", "extras", "aggregates")
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte")
PATTERNS = ("like", "ilike", "not_like", "not_ilike")
# filters.py renders ESCAPE '\\' on every backend: a backslash makes % and _ literal.
LIKE_ESCAPE: str | None = "\\"  # the library escapes LIKE patterns with a backslash


class UnsupportedOption(Exception):
    """The tree is outside what the harness generates (a bug in the generator or a case)."""


@dataclass(frozen=True, slots=True)
class Param:
    """A placeholder in a harness tree; becomes ``placeholder(name)`` or its value."""

    name: str


@dataclass(frozen=True, eq=False, slots=True)
class Extra:
    """A known extra: the SQLAlchemy expression for the library, its Python twin here."""

    name: str
    sql: Callable[[Any], Any]
    python: Callable[[Row], Any]

    def __call__(self, table: Any) -> Any:
        return self.sql(table)

    def __repr__(self) -> str:
        return f"<extra {self.name}>"


class Approx(float):
    """A float the library may compute in another order (a sum of floats): compared
    with a relative tolerance, its type must still be ``float``."""

    def __repr__(self) -> str:
        return f"Approx({float(self)!r})"


def map_params(tree: Any, replace: Callable[[Param], Any]) -> Any:
    """A copy of ``tree`` with every ``Param`` replaced by ``replace(param)``."""
    if isinstance(tree, Param):
        return replace(tree)
    if isinstance(tree, Aggregate) and tree.where is not None:
        return dataclasses.replace(tree, where=map_params(tree.where, replace))
    if isinstance(tree, Mapping):
        return {k: map_params(v, replace) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(map_params(v, replace) for v in tree)
    return tree


def bind_params(tree: Any, values: Mapping[str, Any]) -> Any:
    """A copy of ``tree`` with every ``Param`` replaced by its value from ``values``."""
    return map_params(tree, lambda p: values[p.name])


@dataclass(frozen=True, slots=True)
class Dataset:
    """Rows per collection (real columns only), the relation graph and junction links."""

    rows: Mapping[str, tuple[Row, ...]]
    columns: Mapping[str, tuple[str, ...]]
    kinds: Mapping[str, Mapping[str, str]]
    relations: Mapping[str, Mapping[str, RelationInfo]]
    links: Mapping[str, tuple[Row, ...]]  # junction table name -> {column: id} rows

    @classmethod
    def from_schema(cls, schema: Schema, created: Mapping[str, Sequence[Row]]) -> Dataset:
        """Keep the columns of CRUD rows; turn many-to-many id lists into junction links."""
        rows: dict[str, tuple[Row, ...]] = {}
        links: dict[str, list[Row]] = {}
        for slug, cc in schema.collections.items():
            columns = tuple(cc.columns)
            rows[slug] = tuple({c: r[c] for c in columns} for r in created.get(slug, ()))
            for name, j in cc.junctions.items():
                table = links.setdefault(j.table.name, [])
                for r in created.get(slug, ()):
                    table.extend({j.source_column: r["id"], j.target_column: t} for t in r[name])
        return cls(
            rows=rows,
            columns={s: tuple(cc.columns) for s, cc in schema.collections.items()},
            kinds={
                s: {n: c.kind for n, c in cc.columns.items()}
                for s, cc in schema.collections.items()
            },
            relations={s: dict(cc.relations) for s, cc in schema.collections.items()},
            links={name: tuple(rs) for name, rs in links.items()},
        )

    def related(self, rel: RelationInfo, row: Row) -> list[Row]:
        """The target rows linked to ``row`` by ``rel`` (unordered, before any filter)."""
        key = tuple(row[c] for c in rel.source_columns)
        if any(k is None for k in key):
            return []  # NULL never joins
        targets = self.rows[rel.target]
        if rel.through is None:
            found = [t for t in targets if tuple(t[c] for c in rel.target_columns) == key]
        else:
            source_cols, target_cols = junction_columns(rel.through)
            linked = {
                tuple(link[c] for c in target_cols)
                for link in self.links[rel.through.table.name]
                if tuple(link[c] for c in source_cols) == key
            }
            found = [t for t in targets if tuple(t[c] for c in rel.target_columns) in linked]
        predefined = getattr(rel, "where", None)  # define_relations(..., where=...)
        if predefined:
            found = [t for t in found if _where(self, rel.target, t, predefined, rel.name) is True]
        return found


def junction_columns(through: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(columns matching the source key, columns matching the target key) of a junction."""
    if hasattr(through, "source_columns"):
        return tuple(through.source_columns), tuple(through.target_columns)
    return (through.source_column,), (through.target_column,)


# -- evaluation ------------------------------------------------------------------------


def evaluate(
    dataset: Dataset, slug: str, options: Mapping[str, Any] | None = None, *, first: bool = False
) -> list[Row] | Row | None:
    """The rows ``db.query.<slug>.find_many(**options)`` (or ``find_first``) must return.

    ``options`` uses the nested spelling (``"with"``); ``"with_"`` is accepted too.
    """
    opts = _options(options or {}, f"{slug}")
    if first and "limit" in opts:
        raise UnsupportedOption("find_first takes no limit")
    rows = _select(dataset, slug, dataset.rows[slug], opts, slug)
    if first:
        rows = rows[:1]
        return _project(dataset, slug, rows[0], opts, slug) if rows else None
    return [_project(dataset, slug, r, opts, slug) for r in rows]


def _options(options: Mapping[str, Any], path: str) -> dict[str, Any]:
    opts = dict(options)
    if "with_" in opts:
        if "with" in opts:
            raise UnsupportedOption(f"{path}: both 'with' and 'with_'")
        opts["with"] = opts.pop("with_")
    unknown = set(opts) - set(OPTION_KEYS)
    if unknown:
        raise UnsupportedOption(f"{path}: unknown option(s) {sorted(unknown)}")
    for key in ("limit", "offset"):
        value = opts.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise UnsupportedOption(f"{path}.{key}: {value!r}")
    return opts


def _select(
    ds: Dataset, slug: str, rows: Iterable[Row], opts: Mapping[str, Any], path: str
) -> list[Row]:
    """Filter, order and page ``rows`` (full rows, plus the level's aggregates;
    projection comes later)."""
    aggregates = opts.get("aggregates") or {}
    kinds = dict(ds.kinds[slug])
    if aggregates:
        for name, a in aggregates.items():
            if name in kinds or name in ds.relations[slug]:
                raise UnsupportedOption(f"{path}.aggregates.{name}: clashes with a column")
            kinds[name] = _aggregate_kind(ds, slug, a)
        rows = [
            {
                **r,
                **{
                    n: aggregate(ds, slug, r, a, f"{path}.aggregates.{n}")
                    for n, a in aggregates.items()
                },
            }
            for r in rows
        ]
    where = opts.get("where")
    kept = [
        r
        for r in rows
        if where is None or _where(ds, slug, r, where, f"{path}.where", kinds) is True
    ]
    ordered = _order(kept, opts.get("order_by"), list(kinds), f"{path}.order_by")
    offset = opts.get("offset") or 0
    limit = opts.get("limit")
    return ordered[offset:] if limit is None else ordered[offset : offset + limit]


def _order(rows: list[Row], order_by: Any, columns: Sequence[str], path: str) -> list[Row]:
    out = sorted(rows, key=lambda r: r["id"])
    if order_by is None:
        return out
    if not isinstance(order_by, Mapping):
        raise UnsupportedOption(f"{path}: only dict order_by is supported, got {order_by!r}")
    # Stable sorts, least significant key first; id (above) is the final tie-break.
    for column, direction in reversed(list(order_by.items())):
        if column not in columns or direction not in ("asc", "desc"):
            raise UnsupportedOption(f"{path}.{column}: {direction!r}")
        if any(r[column] is None for r in out):
            raise UnsupportedOption(f"{path}.{column}: NULLs present; null ordering is undefined")
        out.sort(key=operator.itemgetter(column), reverse=direction == "desc")
    return out


def _project(ds: Dataset, slug: str, row: Row, opts: Mapping[str, Any], path: str) -> Row:
    out = {c: row[c] for c in _columns(ds.columns[slug], opts.get("columns"), f"{path}.columns")}
    relations = ds.relations[slug]
    for name, value in (opts.get("with") or {}).items():
        rel = relations.get(name)
        if rel is None:
            raise UnsupportedOption(f"{path}.with.{name}: unknown relation")
        out[name] = _load(ds, rel, row, value, f"{path}.with.{name}")
    for name, extra in (opts.get("extras") or {}).items():
        if not isinstance(extra, Extra):
            raise UnsupportedOption(f"{path}.extras.{name}: only known Extra objects are evaluable")
        out[name] = extra.python(row)
    for name in opts.get("aggregates") or {}:
        out[name] = row[name]
    return out


# -- aggregates --------------------------------------------------------------------------


def _aggregate_kind(ds: Dataset, slug: str, a: Any) -> str:
    if a.function == "count":
        return "int"
    if a.function == "avg":
        return "float"
    target = ds.relations[slug][a.relation].target
    return ds.kinds[target][a.column]


def aggregate(ds: Dataset, slug: str, row: Row, a: Any, path: str) -> Any:
    """The value of ``a`` (an ``agg.*(...)`` object) for ``row`` of ``slug``."""
    rel = ds.relations[slug].get(a.relation)
    if rel is None:
        raise UnsupportedOption(f"{path}: unknown relation {a.relation!r}")
    related = sorted(ds.related(rel, row), key=lambda r: r["id"])
    if a.where is not None:
        related = [
            r for r in related if _where(ds, rel.target, r, a.where, f"{path}.where") is True
        ]
    if rel.cardinality == "one":
        related = related[:1]
    if a.function == "count":
        return len(related)
    values = [r[a.column] for r in related if r[a.column] is not None]
    if not values:
        return None
    if a.function == "min":
        return min(values)
    if a.function == "max":
        return max(values)
    total = sum(values)
    floats = isinstance(values[0], float)
    if a.function == "sum":
        return Approx(total) if floats and len(values) > 1 else total
    mean = float(total) / len(values)
    return Approx(mean) if floats and len(values) > 1 else mean


def _columns(columns: Sequence[str], spec: Any, path: str) -> list[str]:
    if spec is None:
        return list(columns)
    if not isinstance(spec, Mapping):
        raise UnsupportedOption(f"{path}: {spec!r}")
    for name, value in spec.items():
        if name not in columns or not isinstance(value, bool):
            raise UnsupportedOption(f"{path}.{name}: {value!r}")
    if not spec:
        return []  # Drizzle: an empty selection keeps only relations and extras
    if any(spec.values()):
        return [c for c in columns if spec.get(c) is True]
    return [c for c in columns if c not in spec]


def _load(ds: Dataset, rel: RelationInfo, parent: Row, value: Any, path: str) -> Any:
    if value is True:
        opts: dict[str, Any] = {}
    elif isinstance(value, Mapping):
        opts = _options(value, path)
    else:
        raise UnsupportedOption(f"{path}: expected True or an options dict, got {value!r}")
    if rel.cardinality == "one" and ("limit" in opts or "order_by" in opts):
        raise UnsupportedOption(f"{path}: limit/order_by on a one relation")
    rows = _select(ds, rel.target, ds.related(rel, parent), opts, path)
    projected = [_project(ds, rel.target, r, opts, path) for r in rows]
    if rel.cardinality == "one":
        return projected[0] if projected else None
    return projected


# -- where: SQL three-valued logic -----------------------------------------------------


def _and(values: Iterable[Truth]) -> Truth:
    result: Truth = True
    for v in values:
        if v is False:
            return False
        if v is None:
            result = None
    return result


def _or(values: Iterable[Truth]) -> Truth:
    result: Truth = False
    for v in values:
        if v is True:
            return True
        if v is None:
            result = None
    return result


def _not(value: Truth) -> Truth:
    return None if value is None else not value


def _where(
    ds: Dataset,
    slug: str,
    row: Row,
    where: Any,
    path: str,
    kinds: Mapping[str, str] | None = None,
) -> Truth:
    """``kinds``: the columns' kinds and the level's aggregates' (in ``row`` too)."""
    if not isinstance(where, Mapping):
        raise UnsupportedOption(f"{path}: expected a dict, got {where!r}")
    kinds = ds.kinds[slug] if kinds is None else kinds
    parts: list[Truth] = []
    for key, value in where.items():
        sub = f"{path}.{key}"
        if key in ("AND", "OR"):
            items = [
                _where(ds, slug, row, item, f"{sub}[{i}]", kinds) for i, item in enumerate(value)
            ]
            parts.append(_and(items) if key == "AND" else _or(items))
        elif key == "NOT":
            parts.append(_not(_where(ds, slug, row, value, sub, kinds)))
        elif key in kinds:
            parts.append(_column(kinds[key], row[key], value, sub))
        elif key in ds.relations[slug]:
            parts.append(_exists(ds, ds.relations[slug][key], row, value, sub))
        else:
            raise UnsupportedOption(f"{sub}: unknown key (RAW is not evaluable here)")
    return _and(parts)


def _exists(ds: Dataset, rel: RelationInfo, row: Row, value: Any, path: str) -> Truth:
    related = ds.related(rel, row)
    if value is True:
        return bool(related)
    if value is False:
        return not related
    return any(_where(ds, rel.target, r, value, path) is True for r in related)


def _column(kind: str, x: Any, value: Any, path: str) -> Truth:
    """``{col: value}`` or ``{col: {op: v, "OR": [...], ...}}``."""
    if not isinstance(value, Mapping):
        return _apply(kind, "eq", x, value, path)
    if not value:
        raise UnsupportedOption(f"{path}: empty operator dict")
    parts: list[Truth] = []
    for op, v in value.items():
        sub = f"{path}.{op}"
        if op in ("AND", "OR"):
            items = [_column(kind, x, item, f"{sub}[{i}]") for i, item in enumerate(v)]
            parts.append(_and(items) if op == "AND" else _or(items))
        elif op == "NOT":
            parts.append(_not(_column(kind, x, v, sub)))
        else:
            parts.append(_apply(kind, op, x, v, sub))
    return _and(parts)


def _apply(kind: str, op: str, x: Any, v: Any, path: str) -> Truth:
    if op in ("is_null", "is_not_null"):
        if not isinstance(v, bool):
            raise UnsupportedOption(f"{path}: takes True or False")
        return (x is None) == v if op == "is_null" else (x is not None) == v
    if op in ("in", "not_in"):
        return _in(kind, x, v, negate=op == "not_in", path=path)
    if v is None and op in ("eq", "ne"):
        return (x is None) if op == "eq" else (x is not None)
    if v is None:
        raise UnsupportedOption(f"{path}: {op} with None")
    if x is None:
        return None
    if op in PATTERNS:
        if not isinstance(x, str) or not isinstance(v, str):
            raise UnsupportedOption(f"{path}: pattern operators take text")
        folded = op in ("ilike", "not_ilike")
        matched = like(x.lower(), v.lower()) if folded else like(x, v)
        return not matched if op.startswith("not_") else matched
    if op not in COMPARISONS:
        raise UnsupportedOption(f"{path}: unknown operator {op!r}")
    return _compare(op, x, coerce(kind, v))


def _in(kind: str, x: Any, values: Any, *, negate: bool, path: str) -> Truth:
    if not isinstance(values, list | tuple | set | frozenset):
        raise UnsupportedOption(f"{path}: takes a list")
    if not values:
        return negate  # IN () is FALSE and NOT IN () is TRUE, whatever x is
    if x is None:
        return None
    items = [None if v is None else coerce(kind, v) for v in values]
    found: Truth = (
        True if any(v is not None and x == v for v in items) else None if None in items else False
    )
    return _not(found) if negate else found


def _compare(op: str, x: Any, v: Any) -> bool:
    if op == "eq":
        return bool(x == v)
    if op == "ne":
        return bool(x != v)
    if op == "gt":
        return bool(x > v)
    if op == "gte":
        return bool(x >= v)
    if op == "lt":
        return bool(x < v)
    return bool(x <= v)


def coerce(kind: str, v: Any) -> Any:
    """A filter value as the column's Python type (as the library accepts them)."""
    if kind == "datetime":
        if isinstance(v, str):
            v = dt.datetime.fromisoformat(v)
        return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v
    if kind == "date" and isinstance(v, str):
        return dt.date.fromisoformat(v)
    if kind == "uuid" and isinstance(v, str):
        return uuid.UUID(v)
    if kind == "float" and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


def like(value: str, pattern: str, escape: str | None = LIKE_ESCAPE) -> bool:
    """SQL LIKE: ``%`` any sequence, ``_`` one character, ``escape`` makes the next literal."""
    return _like_regex(pattern, escape).fullmatch(value) is not None


@lru_cache(maxsize=1024)
def _like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    parts: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == escape:
            parts.append(re.escape(next(chars, "")))
        else:
            parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)
