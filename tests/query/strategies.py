"""Hypothesis strategies for valid ``find_many`` / ``find_first`` option trees.

Trees use the nested spelling (``"with"``) at every level, values drawn from the seeded
data (plus misses and NULLs), and stay inside what the reference defines exactly:
``order_by`` only on ``ORDERABLE`` columns (NOT NULL, collation-neutral), no ``limit``
or ``order_by`` on one relations, range comparisons on text only for ``ORDERABLE``
columns, JSON columns only tested for NULL, extras only from ``EXTRAS``.

Aggregates (``agg.*``) are drawn over every relation and fitting column; a level's
``where`` compares only its integer aggregates (a float sum depends on the order of
addition) and its ``order_by`` uses only counts (never NULL, whose order differs).

``draw_cases(dataset, n)`` runs a ``@given`` function to collect ``n`` trees
deterministically (derandomized, no example database), so an async test can run them
all against one seeded database.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from deesse_async import Aggregate
from deesse_async.query.aggregates import AGGREGATE_KINDS

from .dataset import ORDERABLE
from .reference import Dataset, Extra, Row, evaluate

__all__ = [
    "EXTRAS",
    "MAX_DEPTH",
    "QueryCase",
    "ValuePools",
    "draw_cases",
    "options_tree",
    "query_case",
    "where_tree",
]

MAX_DEPTH = 3  # levels of `with` below the top level


def _opt(fn: Any) -> Any:
    """Lift ``fn`` over NULL, as SQL functions and operators do."""
    return lambda v: None if v is None else fn(v)


def _extra(name: str, sql: Any, python: Any) -> Extra:
    return Extra(name, sql, python)


# Known extras: (SQLAlchemy expression, its Python twin over the full row). They read
# columns whether or not the level selects them.
EXTRAS: dict[str, tuple[Extra, ...]] = {
    "users": (
        _extra("name_length", lambda t: sa.func.length(t.c.name), lambda r: len(r["name"])),
        _extra("id_times_two", lambda t: t.c.id * 2, lambda r: r["id"] * 2),
        _extra(
            "age_or_minus_one",
            lambda t: sa.func.coalesce(t.c.age, -1),
            lambda r: -1 if r["age"] is None else r["age"],
        ),
        # Float-typed: 100.0 * 2 must come back as 200.0, not 200, even through JSON.
        _extra(
            "score_doubled", lambda t: t.c.score * 2, lambda r: _opt(lambda s: s * 2)(r["score"])
        ),
    ),
    "posts": (
        # views holds 2**53 + 1: exact only if no path goes through a double.
        _extra("views_plus_one", lambda t: t.c.views + 1, lambda r: r["views"] + 1),
        _extra("title_upper", lambda t: sa.func.upper(t.c.title), lambda r: r["title"].upper()),
        _extra(
            "content_lower",
            lambda t: sa.func.lower(t.c.content),
            lambda r: _opt(str.lower)(r["content"]),
        ),
        # Boolean-typed: MySQL computes 0/1; the row must still hold a bool.
        _extra("id_gt_5", lambda t: t.c.id > 5, lambda r: r["id"] > 5),
    ),
    "comments": (
        _extra("body_length", lambda t: sa.func.length(t.c.body), lambda r: len(r["body"])),
        _extra("id_times_two", lambda t: t.c.id * 2, lambda r: r["id"] * 2),
    ),
    "tags": (
        _extra("name_upper", lambda t: sa.func.upper(t.c.name), lambda r: r["name"].upper()),
        _extra("id_times_two", lambda t: t.c.id * 2, lambda r: r["id"] * 2),
    ),
}

_RANGE = ("gt", "gte", "lt", "lte")
_EQUALITY = ("eq", "ne", "in", "not_in")
_NULLS = ("is_null", "is_not_null")
_PATTERN_OPS = ("like", "ilike", "not_like", "not_ilike")
_FIXED_PATTERNS = ("%", "_%", "%_%_%", "%%", "100%", "%\u00e9", "caf_", "%_score", "%r_", "")

_MISSES: dict[str, Any] = {
    "int": 10**6,
    "float": 999.5,
    "str": "nomatch",
    "bool": False,
    "datetime": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    "date": dt.date(1999, 12, 31),
    "uuid": uuid.UUID(int=1),
}


@dataclass(frozen=True, slots=True)
class QueryCase:
    """One query to run: ``find_first`` when ``first``; ``options`` use ``"with"``."""

    slug: str
    options: dict[str, Any]
    first: bool = False
    name: str = ""


class ValuePools:
    """Per column: the distinct non-NULL values of the data, sorted; plus which ops fit."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.values: dict[str, dict[str, list[Any]]] = {}
        for slug, kinds in dataset.kinds.items():
            self.values[slug] = {}
            for column, kind in kinds.items():
                if kind == "json":
                    continue
                found = {r[column] for r in dataset.rows[slug] if r[column] is not None}
                self.values[slug][column] = sorted(found, key=_sort_key)

    def __repr__(self) -> str:
        # Stable: hypothesis seeds a derandomized run from the strategies' repr, which
        # would otherwise hold this object's address (a new corpus in every process).
        sizes = ", ".join(f"{s}={len(r)}" for s, r in sorted(self.dataset.rows.items()))
        return f"ValuePools({sizes})"

    def operators(self, slug: str, column: str) -> tuple[str, ...]:
        kind = self.dataset.kinds[slug][column]
        if kind == "json":
            return _NULLS
        if kind != "str":
            return (*_EQUALITY, *_RANGE, *_NULLS)
        ranged = _RANGE if column in ORDERABLE[slug] else ()
        return (*_EQUALITY, *ranged, *_PATTERN_OPS, *_NULLS)


def _chance(draw: st.DrawFn, percent: int) -> bool:
    return draw(st.integers(1, 100)) <= percent


def _sort_key(v: Any) -> Any:
    return v.int if isinstance(v, uuid.UUID) else v


# -- where -------------------------------------------------------------------------------


@st.composite
def _value(draw: st.DrawFn, pools: ValuePools, slug: str, column: str) -> Any:
    pool = pools.values[slug][column]
    if pool and draw(st.integers(0, 5)) > 0:
        return draw(st.sampled_from(pool))
    return _MISSES[pools.dataset.kinds[slug][column]]


@st.composite
def _pattern(draw: st.DrawFn, pools: ValuePools, slug: str, column: str, folded: bool) -> str:
    pool = [v for v in pools.values[slug][column] if isinstance(v, str)]
    if not pool or draw(st.integers(0, 3)) == 0:
        pattern = draw(st.sampled_from(_FIXED_PATTERNS))
    else:
        v = draw(st.sampled_from(pool))
        i = draw(st.integers(0, len(v)))
        j = draw(st.integers(i, len(v)))
        shape = draw(st.sampled_from(("prefix", "suffix", "infix", "blank", "exact")))
        if shape == "prefix":
            pattern = v[:i] + "%"
        elif shape == "suffix":
            pattern = "%" + v[i:]
        elif shape == "infix":
            pattern = "%" + v[i:j] + "%"
        elif shape == "blank":
            pattern = v[:i] + "_" + v[i + 1 :] if i < len(v) else v + "_"
        else:
            pattern = v
    if folded and draw(st.booleans()):
        # Upper-case ascii only: databases disagree on folding non-ascii letters.
        pattern = "".join(ch.upper() if ch.isascii() else ch for ch in pattern)
    return pattern


@st.composite
def _operand(draw: st.DrawFn, pools: ValuePools, slug: str, column: str, op: str) -> Any:
    if op in _NULLS:
        return draw(st.booleans())
    if op in _PATTERN_OPS:
        return draw(_pattern(pools, slug, column, folded="ilike" in op))
    if op in ("in", "not_in"):
        items = draw(st.lists(_value(pools, slug, column), max_size=4, unique_by=_sort_key))
        if items and pools.dataset.kinds[slug][column] != "json" and draw(st.integers(0, 4)) == 0:
            items.insert(draw(st.integers(0, len(items))), None)
        return items
    if op in ("eq", "ne") and draw(st.integers(0, 6)) == 0:
        return None  # eq None is IS NULL, ne None is IS NOT NULL
    return draw(_value(pools, slug, column))


@st.composite
def _op_dict(draw: st.DrawFn, pools: ValuePools, slug: str, column: str) -> dict[str, Any]:
    available = pools.operators(slug, column)
    if _PATTERN_OPS[0] in available and _chance(draw, 50):
        available = _PATTERN_OPS  # text columns: pattern operators half of the time
    ops = draw(st.lists(st.sampled_from(available), min_size=1, max_size=2, unique=True))
    return {op: draw(_operand(pools, slug, column, op)) for op in ops}


@st.composite
def _column_filter(draw: st.DrawFn, pools: ValuePools, slug: str, column: str) -> Any:
    """A plain value, ``None``, an operator dict, or a column-level AND/OR/NOT."""
    json_column = pools.dataset.kinds[slug][column] == "json"
    shape = draw(st.sampled_from(("ops", "ops", "ops", "plain", "null", "combined")))
    if shape == "null":
        return None
    if shape == "plain" and not json_column:
        return draw(_value(pools, slug, column))
    if shape == "combined" and not json_column:
        item = st.one_of(_op_dict(pools, slug, column), _value(pools, slug, column))
        key = draw(st.sampled_from(("AND", "OR", "NOT")))
        if key == "NOT":
            return {"NOT": draw(item)}
        return {key: draw(st.lists(item, max_size=3))}
    return draw(_op_dict(pools, slug, column))


@st.composite
def where_tree(draw: st.DrawFn, pools: ValuePools, slug: str, depth: int = 2) -> dict[str, Any]:
    """A where-dict on ``slug``; ``depth`` bounds AND/OR/NOT and relation-filter nesting."""
    ds = pools.dataset
    kinds = ["column", "column", "column"]
    if depth > 0:
        kinds += ["AND", "OR", "NOT", "relation", "relation"]
    out: dict[str, Any] = {}
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=2)):
        if kind == "column":
            column = draw(st.sampled_from(sorted(ds.kinds[slug])))
            out[column] = draw(_column_filter(pools, slug, column))
        elif kind == "NOT":
            out["NOT"] = draw(where_tree(pools, slug, depth - 1))
        elif kind in ("AND", "OR"):
            out[kind] = draw(st.lists(where_tree(pools, slug, depth - 1), max_size=3))
        else:
            name = draw(st.sampled_from(sorted(ds.relations[slug])))
            target = ds.relations[slug][name].target
            out[name] = draw(
                st.one_of(st.just(True), st.just(False), where_tree(pools, target, depth - 1))
            )
    return out


# -- options -----------------------------------------------------------------------------


@st.composite
def _columns(draw: st.DrawFn, columns: Sequence[str], others: bool) -> dict[str, bool]:
    """A selection that leaves something in the row (``others``: relations/extras exist)."""
    shape = draw(st.sampled_from(("include", "exclude", "mixed", "empty")))
    if shape == "empty" and others:
        return {}
    picked = draw(st.lists(st.sampled_from(list(columns)), min_size=1, max_size=3, unique=True))
    if shape == "include":
        return dict.fromkeys(picked, True)
    if shape == "exclude" and (others or len(picked) < len(columns)):
        return dict.fromkeys(picked, False)
    # mixed: the first is True, so only the True ones count
    return {c: i == 0 or draw(st.booleans()) for i, c in enumerate(picked)}


@st.composite
def _order_by(draw: st.DrawFn, slug: str) -> dict[str, str]:
    columns = draw(st.lists(st.sampled_from(ORDERABLE[slug]), min_size=1, max_size=2, unique=True))
    return {c: draw(st.sampled_from(("asc", "desc"))) for c in columns}


@st.composite
def aggregates_tree(draw: st.DrawFn, pools: ValuePools, slug: str) -> dict[str, Aggregate]:
    """One or two aggregates over relations of ``slug`` (names never clash)."""
    ds = pools.dataset
    out: dict[str, Aggregate] = {}
    for _ in range(draw(st.integers(1, 2))):
        relation = draw(st.sampled_from(sorted(ds.relations[slug])))
        target = ds.relations[slug][relation].target
        fn = draw(st.sampled_from(("count", "count", "sum", "avg", "min", "max")))
        column = None
        if fn != "count":
            kinds = AGGREGATE_KINDS[fn]
            fitting = [
                c
                for c, k in sorted(ds.kinds[target].items())
                if k in kinds and (k != "str" or c in ORDERABLE[target])
            ]
            column = draw(st.sampled_from(fitting))
        where = draw(where_tree(pools, target, depth=1)) if _chance(draw, 40) else None
        name = f"agg_{fn}_{relation}" + (f"_{column}" if column else "")
        out[name] = Aggregate(fn, relation, column, where)  # type: ignore[arg-type]
    return out


def _int_aggregates(ds: Dataset, slug: str, aggregates: Mapping[str, Aggregate]) -> list[str]:
    """Names of the aggregates whose value is an int (or None): safe to compare exactly."""
    out = []
    for name, a in aggregates.items():
        target = ds.relations[slug][a.relation].target
        if a.function == "count" or (
            a.function != "avg" and ds.kinds[target][a.column or "id"] == "int"
        ):
            out.append(name)
    return out


@st.composite
def _aggregate_filter(draw: st.DrawFn) -> Any:
    # Mostly filters that keep some rows (counts are small: 0 .. 3 in the data).
    ops = ("gte", "gte", "lte", "lte", "ne", "not_in", "eq", "gt", "lt", "in", "is_null")
    op = draw(st.sampled_from(ops))
    if op == "is_null":
        return {op: draw(st.booleans())}
    if op in ("in", "not_in"):
        return {op: draw(st.lists(st.integers(0, 4), max_size=3, unique=True))}
    value = draw(st.integers(0, 3))
    return value if op == "eq" and draw(st.booleans()) else {op: value}


@st.composite
def options_tree(
    draw: st.DrawFn,
    pools: ValuePools,
    slug: str,
    depth: int = MAX_DEPTH,
    *,
    one: bool = False,
    first: bool = False,
) -> dict[str, Any]:
    """Options for a level of ``slug``: top level, a many relation or (``one``) a one relation."""
    ds = pools.dataset
    opts: dict[str, Any] = {}
    if depth > 0 and _chance(draw, 70):
        relations = sorted(ds.relations[slug])
        names = draw(st.lists(st.sampled_from(relations), min_size=1, max_size=2, unique=True))
        with_: dict[str, Any] = {}
        for name in names:
            rel = ds.relations[slug][name]
            nested = options_tree(pools, rel.target, depth - 1, one=rel.cardinality == "one")
            with_[name] = draw(nested) if _chance(draw, 80) else True
        opts["with"] = with_
    if _chance(draw, 25):
        extras = draw(st.lists(st.sampled_from(EXTRAS[slug]), min_size=1, max_size=2, unique=True))
        opts["extras"] = {e.name: e for e in extras}
    aggregates: dict[str, Aggregate] = {}
    if _chance(draw, 30):
        aggregates = opts["aggregates"] = draw(aggregates_tree(pools, slug))
    if _chance(draw, 40):
        others = "with" in opts or "extras" in opts or "aggregates" in opts
        opts["columns"] = draw(_columns(ds.columns[slug], others))
    if _chance(draw, 50):
        opts["where"] = draw(where_tree(pools, slug, depth=2 if depth == MAX_DEPTH else 1))
    comparable = _int_aggregates(ds, slug, aggregates)
    # Rarely at the top level: a filter on a count often leaves no row at all.
    if comparable and _chance(draw, 15 if depth == MAX_DEPTH else 50):
        name = draw(st.sampled_from(comparable))
        opts["where"] = {**opts.get("where", {}), name: draw(_aggregate_filter())}
    if not one:
        if _chance(draw, 50):
            opts["order_by"] = draw(_order_by(slug))
        counts = [n for n, a in aggregates.items() if a.function == "count"]
        if counts and _chance(draw, 50):
            first = {draw(st.sampled_from(counts)): draw(st.sampled_from(("asc", "desc")))}
            opts["order_by"] = {**first, **opts.get("order_by", {})}
        if not first and _chance(draw, 35):
            opts["limit"] = draw(st.sampled_from((2, 1, 3, 0, 5)))
        if _chance(draw, 20):
            opts["offset"] = draw(st.sampled_from((1, 0, 2, 4)))
    return opts


@st.composite
def query_case(draw: st.DrawFn, pools: ValuePools, slug: str) -> QueryCase:
    """A whole query on ``slug``: find_many or find_first, and its options tree."""
    first = _chance(draw, 20)
    options = draw(options_tree(pools, slug, first=first))
    # Mostly keep trees whose top level returns rows: an empty answer checks little.
    if not rows_of(evaluate(pools.dataset, slug, options, first=first)):
        assume(_chance(draw, 15))
    return QueryCase(slug, options, first)


def draw_cases(dataset: Dataset, n: int) -> list[QueryCase]:
    """``n`` generated cases spread over the collections, the same on every run."""
    pools = ValuePools(dataset)
    cases: list[QueryCase] = []
    slugs = ("users", "posts", "comments", "tags")
    for i, slug in enumerate(slugs):

        @settings(
            max_examples=n // len(slugs) + (i < n % len(slugs)),
            database=None,
            derandomize=True,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(query_case(pools, slug))
        def collect(case: QueryCase) -> None:
            cases.append(case)

        collect()
    return [
        QueryCase(c.slug, c.options, c.first, name=f"generated[{i}]") for i, c in enumerate(cases)
    ]


def tree_depth(options: Mapping[str, Any]) -> int:
    """Levels of ``with`` below ``options``."""
    with_ = options.get("with") or {}
    if not with_:
        return 0
    return 1 + max(tree_depth(v) if isinstance(v, Mapping) else 0 for v in with_.values())


def rows_of(result: list[Row] | Row | None) -> list[Row]:
    """A find_many / find_first result as a list."""
    if result is None:
        return []
    return result if isinstance(result, list) else [result]


# -- hostile inputs (the fuzzer, tests/query/test_fuzz.py) --------------------------------
#
# Valid trees from ``draw_cases`` are mutated with a seeded ``random.Random``: a value, a
# key or a whole subtree replaced by something a careless or hostile caller could pass.
# Plain ``random`` (not hypothesis) because thousands of mutants must cost milliseconds.

MINUS_5 = dt.timezone(dt.timedelta(hours=-5))


def _deep_list(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def _deep(key: str, leaf: Any, levels: int) -> Any:
    for _ in range(levels):
        leaf = {key: leaf}
    return leaf


HOSTILE_VALUES: tuple[Any, ...] = (
    2**63, -(2**63) - 1, 2**64, 2**31, 10**400, -(10**400), float("nan"), float("inf"),
    float("-inf"), -0.0, 1e308, 5e-324, "\ud800", "a\udfffb", "a\x00b", "\x00", "", "x" * 70_000,
    "%", "\\", "'; DROP TABLE users; --", b"bytes", bytearray(b"x"), {1, 2}, frozenset(),
    object(), complex(1, 2), dt.datetime.max, dt.datetime.min,
    dt.datetime.max.replace(tzinfo=MINUS_5), dt.datetime.min.replace(tzinfo=dt.UTC),
    dt.date.max, dt.date.min, dt.datetime(999, 6, 1, tzinfo=dt.UTC), dt.date(1, 1, 2),
    dt.time(12, 0), dt.timedelta(days=1), uuid.UUID(int=0), "not-a-uuid", True, False, None,
    3.7, "3", "yes", "2024-13-45", [], {}, (), [1, [2, [3]]], {"k": {1, 2}}, {1: "int key"},
    {"a": float("nan")}, {"s": "\ud800"}, _deep_list(70), _deep_list(3000), ["\x00"],
)  # fmt: skip


def _callables() -> tuple[Any, ...]:
    return (
        lambda t: 5,
        lambda t: None,
        lambda t: "id",
        lambda t: [t.c.id, 5],
        lambda t: [],
        lambda t: 1 / 0,
        lambda t: t.c.no_such_column,
        lambda t: t,
        lambda t: sa.literal({1, 2}),
        lambda t: sa.literal(dt.datetime.max),
        lambda t: sa.literal(2**70),
        lambda t: sa.literal("\ud800"),
        lambda t: sa.bindparam("param_1"),
        lambda t: sa.func.no_such_function(t.c.id),
        lambda t: t.c.id.label("__rn"),
        lambda t: sa.select(t.c.id),
        lambda t: t.c.id == sa.literal(dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        lambda t: sa.literal({"a": [1, 2]}, sa.JSON()),
        lambda t: sa.literal(dt.date(2024, 1, 1), sa.Date()),
        lambda t: sa.literal(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), sa.DateTime(timezone=True)),
        lambda t: sa.cast("2024-01-01", sa.Date()),
        lambda t: sa.cast("nope", sa.DateTime()),
        lambda t: sa.literal("\ud800", sa.String()),
        lambda: 1,  # wrong arity
        print,
    )


HOSTILE_CALLABLES = _callables()
HOSTILE_KEYS: tuple[Any, ...] = (
    "__rn", "__k0", "__keys", "dv_0", "c1", "data", "id", "RAW", "AND", "OR", "NOT", "",
    " ", "id; DROP TABLE users", "\x00", "\ud800", 1, None, True, ("t",), "with_", "limit",
    "eq", "in", "is_null", "posts", "invitees", "param_1", "x" * 300,
)  # fmt: skip
_OPTION_KEYS = ("columns", "with", "where", "order_by", "limit", "offset", "extras")


def hostile_value(rnd: random.Random) -> Any:
    """A value no column should take silently (or one it should take exactly)."""
    if rnd.random() < 0.12:
        return rnd.choice(HOSTILE_CALLABLES)
    return rnd.choice(HOSTILE_VALUES)


def mutate(rnd: random.Random, tree: Any, slug: str, depth: int = 0) -> Any:
    """A copy of ``tree`` with a few hostile changes (keys, values, shapes, callables)."""
    if not isinstance(tree, dict):
        return hostile_value(rnd) if rnd.random() < 0.3 else tree
    out = {}
    for key, value in tree.items():
        roll = rnd.random()
        if roll < 0.08:
            continue  # drop a key
        if roll < 0.2:
            out[key] = _hostile_for(rnd, key, slug)
        elif depth < 12:
            out[key] = _mutate_item(rnd, value, slug, depth)
        else:
            out[key] = value
    if rnd.random() < 0.15:
        out[rnd.choice(HOSTILE_KEYS)] = hostile_value(rnd)
    return out


def _mutate_item(rnd: random.Random, value: Any, slug: str, depth: int) -> Any:
    if isinstance(value, dict):
        return mutate(rnd, value, slug, depth + 1)
    if isinstance(value, list) and value and rnd.random() < 0.5:
        items = list(value)
        items[rnd.randrange(len(items))] = mutate(rnd, items[-1], slug, depth + 1)
        return items
    return hostile_value(rnd) if rnd.random() < 0.15 else value


def _hostile_for(rnd: random.Random, key: Any, slug: str) -> Any:
    """Something wrong but plausible for option ``key``."""
    if key in ("order_by", "extras") and rnd.random() < 0.6:
        fn = rnd.choice(HOSTILE_CALLABLES)
        return fn if key == "order_by" else {rnd.choice(("x", "__rn", "id", "c1")): fn}
    if key == "where" and rnd.random() < 0.5:
        return hostile_where(rnd, slug)
    if key == "with" and rnd.random() < 0.3:
        return _deep("with", {"invitees": True}, rnd.choice((20, 40, 200)))
    return hostile_value(rnd)


def hostile_where(rnd: random.Random, slug: str) -> Any:
    """A where-dict built to hurt: deep nesting, hostile operands, odd RAW callables."""
    column = rnd.choice(("id", "name", "age", "score", "active", "born", "last_seen", "ext"))
    column = column if slug == "users" else "id"
    shape = rnd.randrange(6)
    if shape == 0:
        return _deep("NOT", {column: 1}, rnd.choice((60, 70, 500, 2000)))
    if shape == 1:
        return {"OR": [_deep("AND", [{column: 1}], 1)] * rnd.choice((1, 50, 2000))}
    if shape == 2:
        return {"RAW": rnd.choice(HOSTILE_CALLABLES)}
    if shape == 3:
        return {column: {"in": [hostile_value(rnd) for _ in range(rnd.randrange(1, 4))]}}
    op = rnd.choice(("eq", "ne", "gt", "lte", "like", "ilike", "in", "is_null", "bogus"))
    return {column: {op: hostile_value(rnd)}}


def garbage_options(rnd: random.Random, slug: str) -> dict[str, Any]:
    """Options built from nothing: every key an option name, every value hostile."""
    keys = rnd.sample(_OPTION_KEYS, rnd.randrange(1, 4))
    return {k: _hostile_for(rnd, k, slug) for k in keys}


# Write payloads: a valid base per collection and the fields a mutation may hit.
WRITE_FIELDS: dict[str, tuple[str, ...]] = {
    "users": (
        "name", "email", "age", "score", "active", "born", "last_seen", "ext", "profile",
        "role", "invited_by_id",
    ),
    "posts": ("title", "content", "status", "views", "author_id", "tags"),
    "comments": ("body", "post_id", "author_id"),
    "tags": ("name",),
}  # fmt: skip


def write_payload(rnd: random.Random, slug: str, n: int) -> dict[str, Any]:
    """A create payload for ``slug`` (unique values from ``n``) with hostile changes."""
    base: dict[str, Any] = {
        "users": {"name": f"f{n}", "email": f"f{n}@example.com"},
        "posts": {"title": f"f{n}", "status": "draft", "views": n, "author_id": 1},
        "comments": {"body": f"f{n}", "post_id": 1},
        "tags": {"name": f"f{n}"},
    }[slug]
    for _ in range(rnd.randrange(0, 3)):
        if rnd.random() < 0.85:
            base[rnd.choice(WRITE_FIELDS[slug])] = hostile_value(rnd)
        else:
            base[rnd.choice(HOSTILE_KEYS)] = hostile_value(rnd)
    return base
