"""find_many/find_first options -> a typed, hashable query tree plus its values.

Parsing checks every key against the schema and raises ``QueryError`` with the full
path and a did-you-mean before any SQL exists. Values are lifted out of the tree into
``Slot``s, so the tree is the *shape* of the query: equal trees share one compiled plan
(see ``planner.py``), whatever the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..compile.coercion import coerce_value, show
from ..compile.limits import INT64_MAX
from ..compile.schema import CompiledCollection, Kind, RelationInfo, Schema
from ..errors import QueryError, did_you_mean
from .aggregates import AGGREGATE_KINDS, PYTHON_TYPES, Aggregate, AggregateFunction

__all__ = [
    "AggregateNode",
    "And",
    "Cmp",
    "Const",
    "Filter",
    "InList",
    "IsNull",
    "Not",
    "Or",
    "Placeholder",
    "QueryNode",
    "Raw",
    "RelationFilter",
    "Slot",
    "UserCallable",
    "Values",
    "check_count",
    "parse_query",
    "parse_where",
    "placeholder",
    "show",
]


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A value given when a prepared query runs (``placeholder(name)``).

    In a where-dict, ``limit`` or ``offset`` the planner lifts it into a slot of its own;
    inside a SQLAlchemy expression (RAW, extras) it is a bind parameter of that name.
    """

    key: str

    def __clause_element__(self) -> sa.BindParameter[Any]:
        return sa.bindparam(self.key, value=None, required=False)


def placeholder(name: str) -> Placeholder:
    """A named value supplied when a prepared query runs.

    >>> p = placeholder("id")
    >>> p.key
    'id'
    """
    if (
        not isinstance(name, str)
        or not name.isidentifier()
        or is_reserved(name)
        or _ANONYMOUS.search(name)
    ):
        raise QueryError(
            "placeholder name must be an identifier not starting with '__' or 'dv_' and not "
            f"ending in '_<number>' (SQLAlchemy's own bind names), got {name!r}"
        )
    return Placeholder(name)


# SQLAlchemy names anonymous binds "param_1", "id_2": a placeholder of that form would
# clash with one, in some statements only.
_ANONYMOUS = re.compile(r"_\d+$")
# dv_N: a caller's value; rN_dv_N: a predefined relation filter's; aN_dv_N: an access rule's.
_INTERNAL = re.compile(r"^(__|([ra]\d+_)?dv_\d+$)")


def is_reserved(name: str) -> bool:
    """Bind names the library uses itself: literal values and key sets."""
    return bool(_INTERNAL.match(name))


@dataclass(frozen=True, slots=True)
class UserCallable:
    """A caller's ``callable(table)`` (RAW, extras, order_by), checked where it is called.

    Whatever it raises or returns that is not a SQLAlchemy expression becomes a
    ``QueryError`` naming ``path``. Equal when the function and path are (plan cache).
    """

    fn: Callable[[Any], Any]
    path: str
    many: bool = False  # order_by: a list of expressions is fine too

    def __call__(self, table: Any) -> Any:
        try:
            out = self.fn(table)
        except QueryError:
            raise
        except Exception as exc:
            raise QueryError(
                f"the callable raised {type(exc).__name__}: {exc}", path=self.path
            ) from exc
        if isinstance(out, Placeholder):  # a bare placeholder: its bind parameter
            out = out.__clause_element__()
        items = list(out) if self.many and isinstance(out, list | tuple) else [out]
        for item in items:
            if not isinstance(item, sa.ColumnElement):
                raise QueryError(
                    f"the callable returned {type(item).__name__}, not a SQLAlchemy expression "
                    "(build it from the table's columns: t.c.name, func.length(t.c.name), ...)",
                    path=self.path,
                )
        return out


# Nesting of where/with, in path segments: deep enough for any real query, shallow enough
# that compiling the SQL never meets Python's recursion limit or a database's own.
MAX_NESTING = 64


def _check_nesting(path: str) -> None:
    if path.count(".") + path.count("[") > MAX_NESTING:
        raise QueryError(f"options nested more than {MAX_NESTING} levels deep", path=path[:200])


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a value goes: ``key`` names a bind parameter; ``kind`` is its codec."""

    key: str
    kind: Kind | None
    placeholder: str | None = None  # the placeholder's name, when it is one


# -- filter tree ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cmp:
    column: str
    op: str
    value: Slot


@dataclass(frozen=True, slots=True)
class InList:
    column: str
    negate: bool
    values: tuple[Slot, ...]


@dataclass(frozen=True, slots=True)
class IsNull:
    column: str
    negate: bool


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class Raw:
    build: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class RelationFilter:
    relation: str
    where: Filter | None  # None: any related row
    negate: bool


Filter = Cmp | InList | IsNull | And | Or | Not | Const | Raw | RelationFilter

COMPARE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "like", "ilike", "not_like", "not_ilike")
OPERATORS = (*COMPARE_OPS[:6], "in", "not_in", *COMPARE_OPS[6:], "is_null", "is_not_null")
_TEXT_OPS = ("like", "ilike", "not_like", "not_ilike")
_COMBINATORS = ("AND", "OR", "NOT")
OPTION_KEYS = ("columns", "with", "where", "order_by", "limit", "offset", "extras", "aggregates")


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
        return PYTHON_TYPES[self.kind]

    @property
    def nullable(self) -> bool:
        """Whether the value may be ``None`` (no related rows): all but ``count``."""
        return self.function != "count"


@dataclass(frozen=True, slots=True)
class QueryNode:
    """One level of a query: a collection, what to select, how to filter and nest."""

    slug: str
    columns: tuple[str, ...]
    extras: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
    aggregates: tuple[tuple[str, AggregateNode], ...] = ()  # (name, aggregate), aggregates.py
    where: Filter | None = None
    order_by: tuple[tuple[str, bool], ...] | Callable[[Any], Any] = ()  # (column, desc)
    limit: Slot | None = None
    offset: Slot | None = None
    relations: tuple[tuple[str, QueryNode], ...] = ()
    relation: RelationInfo | None = None  # how this level hangs off its parent
    single: bool = False  # find_first or a one relation: one row or None
    # Field rules hid everything asked for: "id" is selected only so that the SQL is
    # valid, and taken out of the rows (access.py).
    padded: bool = False


@dataclass(slots=True)
class Values:
    """Literal values lifted out of the options, keyed by their slot key."""

    items: dict[str, tuple[Any, Kind | None]] = field(default_factory=dict)
    placeholders: dict[str, Kind | None] = field(default_factory=dict)
    counts: set[str] = field(default_factory=set)  # placeholders used as limit/offset
    prefix: str = ""
    paths: list[str] = field(default_factory=list)  # the option path of each literal item

    def slot(self, value: Any, kind: Kind | None, path: str) -> Slot:
        if isinstance(value, Placeholder):
            known = self.placeholders.get(value.key, kind)
            if value.key in self.placeholders and known != kind and None not in (known, kind):
                raise QueryError(
                    f"placeholder {value.key!r} is used for values of kinds {known} and "
                    f"{kind}; give each its own placeholder",
                    path=path,
                )
            self.placeholders[value.key] = kind if kind is not None else known
            return Slot(value.key, kind, value.key)
        key = f"{self.prefix}dv_{len(self.items)}"
        self.items[key] = (value, kind)
        self.paths.append(path)
        return Slot(key, kind)


# -- parsing --------------------------------------------------------------------------


# Other libraries' names for the operators (Prisma, Django, SQL), for did-you-mean.
_OPERATOR_ALIASES = {
    "equals": "eq", "exact": "eq", "is": "eq", "=": "eq", "==": "eq",
    "neq": "ne", "not_equals": "ne", "!=": "ne", "<>": "ne",
    "greater_than": "gt", ">": "gt", "greater_than_or_equal": "gte", ">=": "gte",
    "less_than": "lt", "<": "lt", "less_than_or_equal": "lte", "<=": "lte",
    "contains": "like", "starts_with": "like", "startswith": "like", "ends_with": "like",
    "endswith": "like", "icontains": "ilike", "iexact": "ilike", "nin": "not_in",
    "notin": "not_in", "isnull": "is_null", "not_null": "is_not_null",
}  # fmt: skip


def allowed(label: str, names: Any, most: int = 30) -> str:
    """``"options: a, b, c"``: what a message lists as allowed (at most ``most`` names)."""
    names = [str(n) for n in names]
    if not names:
        return f"{label}: none"
    more = f", ... ({len(names)} in all)" if len(names) > most else ""
    return f"{label}: {', '.join(names[:most])}{more}"


def suggest(name: Any, names: Any, label: str, aliases: Mapping[str, str] | None = None) -> str:
    """What follows "unknown x 'name'": ``"; did you mean 'y'? label: ..."`` (the names
    that are allowed, and the closest of them when one is close)."""
    names = [str(n) for n in names]
    hint = did_you_mean(str(name), names, aliases)
    return (f"{hint} " if hint else "; ") + allowed(label, names)


_NONE: Mapping[str, Kind] = {}
# Kinds as the DSL's field types name them (messages).
_KIND_NAMES = {"str": "text", "float": "number", "int": "integer", "bool": "boolean",
               "datetime": "timestamp"}  # fmt: skip


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Parser:
    def __init__(self, schema: Schema, values: Values) -> None:
        self.schema = schema
        self.values = values

    def node(
        self,
        cc: CompiledCollection,
        options: Mapping[str, Any],
        path: str,
        *,
        relation: RelationInfo | None = None,
        single: bool = False,
    ) -> QueryNode:
        _check_nesting(path)
        for key in options:
            if key not in OPTION_KEYS:
                raise QueryError(
                    f"unknown option {key!r}" + suggest(key, OPTION_KEYS, "options"),
                    path=_join(path, str(key)),
                )
        is_one = relation is not None and relation.cardinality == "one"
        if options.get("limit") is not None and (single or is_one):
            what = "a one relation" if is_one else "find_first"
            raise QueryError(f"limit is not accepted on {what} (it returns one row)", path=path)
        if is_one and options.get("order_by") is not None:
            raise QueryError("order_by is not accepted on a one relation", path=path)
        columns = self.columns(cc, options.get("columns"), _join(path, "columns"))
        extras = self.extras(cc, options.get("extras"), _join(path, "extras"))
        aggregates = self.aggregates(
            cc, options.get("aggregates"), _join(path, "aggregates"), [n for n, _ in extras]
        )
        relations = self.relations(
            cc, options.get("with"), _join(path, "with" if path else "with_")
        )
        if not columns and not extras and not relations and not aggregates:
            raise QueryError(
                "nothing selected: columns={} and no with, extras or aggregates", path=path
            )
        where = options.get("where")
        computed = {name: a.kind for name, a in aggregates}
        where_path = _join(path, "where")
        return QueryNode(
            slug=cc.slug,
            columns=columns,
            extras=extras,
            aggregates=aggregates,
            where=None if where is None else self.where(cc, where, where_path, computed),
            order_by=self.order_by(cc, options.get("order_by"), _join(path, "order_by"), computed),
            limit=self.count(options.get("limit"), _join(path, "limit")),
            offset=self.count(options.get("offset"), _join(path, "offset")),
            relations=relations,
            relation=relation,
            single=single or is_one,
        )

    def columns(self, cc: CompiledCollection, spec: Any, path: str) -> tuple[str, ...]:
        names = list(cc.columns)
        if spec is None:
            return tuple(names)
        if not isinstance(spec, Mapping):
            raise QueryError(
                f"expected a dict of column -> bool, got {type(spec).__name__}", path=path
            )
        for key, flag in spec.items():
            if key not in cc.columns:
                raise QueryError(
                    f"unknown column {key!r} on {cc.slug!r}" + suggest(key, names, "columns"),
                    path=f"{path}.{key}",
                )
            if not isinstance(flag, bool):
                raise QueryError(f"expected True or False, got {show(flag)}", path=f"{path}.{key}")
        if not spec:  # columns={}: only relations and extras
            return ()
        if any(spec.values()):  # Drizzle: any True selects only the True ones
            return tuple(n for n in names if spec.get(n) is True)
        return tuple(n for n in names if n not in spec)

    def extras(
        self, cc: CompiledCollection, spec: Any, path: str
    ) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
        if spec is None:
            return ()
        if not isinstance(spec, Mapping):
            raise QueryError("expected a dict of name -> callable(table)", path=path)
        out = []
        for name, fn in spec.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise QueryError(f"extra name {name!r} must be an identifier", path=path)
            if name.startswith("__") or name in cc.columns or name in cc.relations:
                raise QueryError(
                    f"extra name {name!r} is taken: an extra may not be named like a column "
                    f"or relation of {cc.slug!r} nor start with '__'; rename it",
                    path=f"{path}.{name}",
                )
            if not callable(fn):
                raise QueryError(
                    "expected a callable(table) -> SQLAlchemy expression", path=f"{path}.{name}"
                )
            out.append((name, UserCallable(fn, f"{path}.{name}")))
        return tuple(out)

    def aggregates(
        self, cc: CompiledCollection, spec: Any, path: str, extras: list[str]
    ) -> tuple[tuple[str, AggregateNode], ...]:
        if spec is None:
            return ()
        if not isinstance(spec, Mapping):
            raise QueryError(
                "expected a dict of name -> agg.count(...) | agg.sum(...) | agg.avg(...) | "
                f"agg.min(...) | agg.max(...), got {type(spec).__name__}",
                path=path,
            )
        out = []
        for name, spec_item in spec.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise QueryError(f"aggregate name {name!r} must be an identifier", path=path)
            sub = f"{path}.{name}"
            if name.startswith("__") or name in (*_COMBINATORS, "RAW"):
                raise QueryError(
                    f"aggregate name {name!r} is reserved (AND, OR, NOT, RAW and names "
                    "starting with '__' are not aggregate names); rename it",
                    path=sub,
                )
            taken = (
                "a column" if name in cc.columns
                else "a relation" if name in cc.relations
                else "an extra" if name in extras
                else None
            )  # fmt: skip
            if taken is not None:
                raise QueryError(
                    f"aggregate name {name!r} is taken: it is {taken} of {cc.slug!r}; an "
                    "aggregate is used in where/order_by by its name, so rename it",
                    path=sub,
                )
            if not isinstance(spec_item, Aggregate):
                raise QueryError(
                    f"expected agg.count(...), agg.sum(...), agg.avg(...), agg.min(...) or "
                    f"agg.max(...) (from deesse_async import agg), got {show(spec_item)}",
                    path=sub,
                )
            out.append((name, self.aggregate(cc, spec_item, sub)))
        return tuple(out)

    def aggregate(self, cc: CompiledCollection, a: Aggregate, path: str) -> AggregateNode:
        if a.function not in ("count", *AGGREGATE_KINDS):
            raise QueryError(
                f"unknown aggregate function {a.function!r}; use agg.count, agg.sum, agg.avg, "
                "agg.min or agg.max",
                path=path,
            )
        info = cc.relations.get(a.relation) if isinstance(a.relation, str) else None
        if info is None:
            raise QueryError(
                f"agg.{a.function}: unknown relation {a.relation!r} on {cc.slug!r}"
                + did_you_mean(str(a.relation), list(cc.relations)),
                path=path,
            )
        target = self.schema[info.target]
        kind: Kind = "int"
        if a.function != "count":
            column = target.columns.get(a.column) if isinstance(a.column, str) else None
            if column is None:
                hint = did_you_mean(str(a.column), list(target.columns))
                raise QueryError(
                    f"agg.{a.function}: unknown column {a.column!r} on {target.slug!r} "
                    f"(relation {a.relation!r}){hint}",
                    path=path,
                )
            allowed = AGGREGATE_KINDS[a.function]
            if column.kind not in allowed:
                what = "a number" if a.function in ("sum", "avg") else "a comparable"
                raise QueryError(
                    f"agg.{a.function} takes {what} column ("
                    + ", ".join(_KIND_NAMES.get(k, k) for k in allowed)
                    + f"); {a.column!r} of {target.slug!r}"
                    f" is a {_KIND_NAMES.get(column.kind, column.kind)} column",
                    path=path,
                )
            kind = "float" if a.function == "avg" else column.kind
        where = None
        if a.where is not None:
            where = self.where(target, a.where, f"{path}.where")
        return AggregateNode(a.function, a.relation, a.column, where, kind)

    def relations(
        self, cc: CompiledCollection, spec: Any, path: str
    ) -> tuple[tuple[str, QueryNode], ...]:
        if spec is None:
            return ()
        if not isinstance(spec, Mapping):
            raise QueryError(
                f"expected a dict of relation -> True | options, got {type(spec).__name__}",
                path=path,
            )
        out = []
        for name, sub in spec.items():
            sub_path = f"{path}.{name}"
            info = cc.relations.get(name) if isinstance(name, str) else None
            if info is None:
                raise QueryError(
                    f"unknown relation {name!r} on {cc.slug!r}"
                    + suggest(name, cc.relations, "relations"),
                    path=sub_path,
                )
            if sub is False or sub is None:
                continue
            if sub is True:
                sub = {}
            if not isinstance(sub, Mapping):
                raise QueryError(
                    f"expected True or an options dict, got {show(sub)}", path=sub_path
                )
            if name in cc.columns:
                raise QueryError(f"relation {name!r} collides with a column", path=sub_path)
            target = self.schema[info.target]
            out.append((name, self.node(target, sub, sub_path, relation=info)))
        return tuple(out)

    def order_by(
        self, cc: CompiledCollection, spec: Any, path: str, computed: Mapping[str, Kind] = _NONE
    ) -> tuple[tuple[str, bool], ...] | Callable[[Any], Any]:
        if spec is None:
            return ()
        if callable(spec):
            return UserCallable(spec, path, many=True)
        if not isinstance(spec, Mapping):
            raise QueryError("expected {column: 'asc' | 'desc'} or a callable(table)", path=path)
        out = []
        for column, direction in spec.items():
            if column not in cc.columns and column not in computed:
                what = "column or aggregate" if computed else "column"
                raise QueryError(
                    f"unknown {what} {column!r} on {cc.slug!r}"
                    + suggest(
                        column,
                        [*cc.columns, *computed],
                        "columns, aggregates" if computed else "columns",
                    ),
                    path=f"{path}.{column}",
                )
            if direction not in ("asc", "desc"):
                raise QueryError(
                    f"{show(direction)} is not a direction; use 'asc' or 'desc'",
                    path=f"{path}.{column}",
                )
            out.append((column, direction == "desc"))
        return tuple(out)

    def count(self, value: Any, path: str) -> Slot | None:
        if value is None:
            return None
        if isinstance(value, Placeholder):
            self.values.counts.add(value.key)
            return self.values.slot(value, "int", path)
        return self.values.slot(check_count(value, path), "int", path)

    # -- where --------------------------------------------------------------------

    def where(
        self, cc: CompiledCollection, where: Any, path: str, computed: Mapping[str, Kind] = _NONE
    ) -> Filter:
        """A where-dict over ``cc``; ``computed``: the level's aggregates (name -> kind),
        compared like columns."""
        _check_nesting(path)
        if not isinstance(where, Mapping):
            raise QueryError(f"expected a dict, got {type(where).__name__}", path=path)
        items: list[Filter] = []
        for key, value in where.items():
            sub = f"{path}.{key}"
            if not isinstance(key, str):
                raise QueryError(f"keys must be strings, got {key!r}", path=path)
            if key in _COMBINATORS:
                items.append(
                    self.combinator(key, value, lambda v, p: self.where(cc, v, p, computed), sub)
                )
            elif key == "RAW":
                if not callable(value):
                    raise QueryError(
                        "RAW takes a callable table -> SQLAlchemy expression", path=sub
                    )
                items.append(Raw(UserCallable(value, sub)))
            elif key in cc.columns:
                items.append(self.column_filter(cc, key, value, sub))
            elif key in cc.relations:
                items.append(self.relation_filter(cc, key, value, sub))
            elif key in computed:
                items.append(self.value_filter(key, computed[key], value, sub))
            else:
                options = [*cc.columns, *cc.relations, *computed, *_COMBINATORS, "RAW"]
                what = "column, relation or aggregate" if computed else "column or relation"
                raise QueryError(
                    f"unknown {what} {key!r} on {cc.slug!r}"
                    + (f"{hint} " if (hint := did_you_mean(key, options)) else "; ")
                    + f"{allowed('columns', cc.columns)}; {allowed('relations', cc.relations)}"
                    + (f"; {allowed('aggregates', computed)}" if computed else ""),
                    path=sub,
                )
        if not items:  # {} filters nothing, as in Drizzle
            return Const(True)
        return items[0] if len(items) == 1 else And(tuple(items))

    def combinator(
        self, key: str, value: Any, one: Callable[[Any, str], Filter], path: str
    ) -> Filter:
        if key == "NOT":
            return Not(one(value, path))
        if not isinstance(value, list | tuple):
            raise QueryError(f"{key} takes a list, got {type(value).__name__}", path=path)
        items = tuple(one(v, f"{path}[{i}]") for i, v in enumerate(value))
        if not items:  # AND of nothing is true, OR of nothing false (as in Drizzle)
            return Const(key == "AND")
        return And(items) if key == "AND" else Or(items)

    def relation_filter(self, cc: CompiledCollection, name: str, value: Any, path: str) -> Filter:
        if isinstance(value, bool):
            return RelationFilter(name, None, negate=not value)
        target = self.schema[cc.relations[name].target]
        return RelationFilter(name, self.where(target, value, path), negate=False)

    def column_filter(self, cc: CompiledCollection, column: str, value: Any, path: str) -> Filter:
        return self.value_filter(column, cc.columns[column].kind, value, path)

    def value_filter(self, column: str, kind: Kind, value: Any, path: str) -> Filter:
        """A column's (or an aggregate's) filter: a value or an operator dict."""
        if isinstance(value, Mapping):
            return self.operators(column, kind, value, path)
        return self.apply(column, kind, "eq", value, path)

    def operators(self, column: str, kind: Kind, ops: Mapping[Any, Any], path: str) -> Filter:
        _check_nesting(path)
        if not ops:
            raise QueryError("empty operator dict; give an operator such as {'eq': ...}", path=path)
        items: list[Filter] = []
        for op, value in ops.items():
            sub = f"{path}.{op}"
            if op in _COMBINATORS:

                def one(v: Any, p: str) -> Filter:
                    if isinstance(v, Mapping):
                        return self.operators(column, kind, v, p)
                    return self.apply(column, kind, "eq", v, p)

                items.append(self.combinator(op, value, one, sub))
            elif op in OPERATORS:
                items.append(self.apply(column, kind, op, value, sub))
            else:
                known = [*OPERATORS, *_COMBINATORS]
                raise QueryError(
                    f"unknown operator {op!r}" + suggest(op, known, "operators", _OPERATOR_ALIASES),
                    path=sub,
                )
        return items[0] if len(items) == 1 else And(tuple(items))

    def apply(self, column: str, kind: Kind, op: str, value: Any, path: str) -> Filter:
        if op in ("is_null", "is_not_null"):
            if not isinstance(value, bool):
                raise QueryError(f"{op} takes True or False, got {show(value)}", path=path)
            return IsNull(column, negate=(op == "is_null") != value)
        if op in ("in", "not_in"):
            if isinstance(value, Placeholder):
                raise QueryError(
                    f"{op} takes a list; put placeholders inside it: [placeholder('a'), ...]",
                    path=path,
                )
            if not isinstance(value, list | tuple | set | frozenset):
                raise QueryError(f"{op} takes a list, got {type(value).__name__}", path=path)
            # None may stand in a list: SQL's IN (1, NULL) semantics apply to it.
            slots = tuple(
                self.values.slot(None, kind, path)
                if v is None
                else self.value(kind, v, f"{path}[{i}]")
                for i, v in enumerate(value)
            )
            return InList(column, op == "not_in", slots)
        if value is None:
            if op in ("eq", "ne"):
                return IsNull(column, negate=op == "ne")
            raise QueryError(f"{op} cannot compare with None; use is_null", path=path)
        if op in _TEXT_OPS and not isinstance(value, str | Placeholder):
            raise QueryError(f"{op} takes a string pattern, got {type(value).__name__}", path=path)
        return Cmp(column, op, self.value(kind, value, path))

    def value(self, kind: Kind, value: Any, path: str) -> Slot:
        if isinstance(value, Placeholder):
            return self.values.slot(value, kind, path)
        if value is None:
            raise QueryError("None is not a value here; use is_null", path=path)
        try:
            checked = coerce_value(kind, value)
        except ValueError as exc:
            raise QueryError(str(exc), path=path) from None
        return self.values.slot(checked, kind, path)


def check_count(value: Any, path: str) -> int:
    """A limit/offset: an int in [0, 2**63 - 1] (the range every backend's LIMIT takes),
    converted by the coercion rule of every value (``"10"`` is 10)."""
    count: int = value
    if type(value) is not int:
        try:
            count = coerce_value("int", value)
        except ValueError as exc:
            raise QueryError(f"{exc}; give a non-negative integer", path=path) from None
    if count < 0:
        raise QueryError(f"must be >= 0, got {count}", path=path)
    if count > INT64_MAX:
        raise QueryError(f"must be <= 2**63 - 1, got {count}", path=path)
    return count


def parse_query(
    schema: Schema, slug: str, options: Mapping[str, Any], *, single: bool, path: str = ""
) -> tuple[QueryNode, Values]:
    """Parse find_many/find_first options into a query tree and its values."""
    values = Values()
    node = _Parser(schema, values).node(schema[slug], options, path, single=single)
    return node, values


def parse_where(
    schema: Schema, slug: str, where: Any, path: str = "where", *, prefix: str = ""
) -> tuple[Filter, Values]:
    """Parse a where-dict alone (``count(where=...)``, predefined relation filters)."""
    values = Values(prefix=prefix)
    return _Parser(schema, values).where(schema[slug], where, path), values
