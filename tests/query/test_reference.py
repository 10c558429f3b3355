"""Unit tests of the reference evaluator and of the harness's own inputs.

They need neither a database nor the query API: a tiny hand-made dataset checks the
semantics (NULL logic, LIKE, per-parent paging, columns rules, relation filters), and
the offline twin of the seed checks that every hand-written and generated tree is one
the reference can evaluate and that the harness covers what it claims to.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from deesse_async.compile.compiler import compile_schema
from deesse_async.compile.schema import Schema

from .dataset import ORDERABLE, make_collections, offline_dataset
from .reference import (
    Dataset,
    Param,
    Row,
    UnsupportedOption,
    bind_params,
    evaluate,
    like,
    map_params,
)
from .strategies import EXTRAS, MAX_DEPTH, draw_cases, rows_of, tree_depth
from .test_differential import GENERATED, PREPARED, difference, hand_written_cases

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return compile_schema(make_collections())


def _row(ds_columns: tuple[str, ...], id: int, **values: Any) -> Row:
    stamp = T0 + dt.timedelta(seconds=id)
    row: Row = dict.fromkeys(ds_columns)
    row.update(id=id, created_at=stamp, updated_at=stamp, **values)
    return row


@pytest.fixture(scope="module")
def tiny(schema: Schema) -> Dataset:
    """4 users (bob's age is NULL), 4 posts, 3 tags, 3 comments."""
    cols = {slug: tuple(cc.columns) for slug, cc in schema.collections.items()}

    def user(id: int, name: str, age: int | None, inviter: int | None = None) -> Row:
        return _row(
            cols["users"], id, name=name, email=f"{name}@x.io", age=age, invited_by_id=inviter
        )

    def post(id: int, author: int, views: int, content: str | None, tags: list[int]) -> Row:
        r = _row(cols["posts"], id, title=f"p{id}", status="draft", views=views, author_id=author)
        return {**r, "content": content, "tags": tags}

    def comment(id: int, post: int, author: int | None) -> Row:
        return _row(cols["comments"], id, body=f"c{id}", post_id=post, author_id=author)

    created = {
        "users": [
            user(1, "ann", 30),
            user(2, "bob", None),
            user(3, "cat", 10, 1),
            user(4, "dan", 30, 3),
        ],
        "posts": [
            post(1, 1, 5, "a_b", [2, 1]),
            post(2, 1, 9, "a%b", [1]),
            post(3, 1, 5, None, []),
            post(4, 3, 1, "caf\u00e9", [3]),
        ],
        "tags": [_row(cols["tags"], i, name=n) for i, n in ((1, "x"), (2, "y"), (3, "z"))],
        "comments": [comment(1, 1, 2), comment(2, 1, None), comment(3, 4, 1)],
    }
    return Dataset.from_schema(schema, created)


def ids(result: Any) -> list[int]:
    return [r["id"] for r in rows_of(result)]


# -- where: three-valued logic ---------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"age": None}, [2]),
        ({"age": {"eq": None}}, [2]),
        ({"age": {"ne": None}}, [1, 3, 4]),
        ({"age": {"ne": 30}}, [3]),
        ({"NOT": {"age": 30}}, [3]),
        ({"age": {"in": [30, None]}}, [1, 4]),
        ({"age": {"not_in": [30]}}, [3]),
        ({"age": {"not_in": [30, None]}}, []),
        ({"age": {"in": []}}, []),
        ({"age": {"not_in": []}}, [1, 2, 3, 4]),
        ({"NOT": {"age": {"in": [30, None]}}}, []),
        ({"OR": [{"age": {"gt": 20}}, {"age": None}]}, [1, 2, 4]),
        ({"NOT": {"OR": [{"age": {"gt": 20}}, {"name": "bob"}]}}, [3]),
        ({"NOT": {"AND": [{"age": {"gt": 20}}, {"name": "bob"}]}}, [1, 3, 4]),
        ({"AND": []}, [1, 2, 3, 4]),
        ({"OR": []}, []),
        ({"NOT": {"OR": []}}, [1, 2, 3, 4]),
        ({"age": {"OR": [{"lt": 20}, 30]}}, [1, 3, 4]),
        ({"age": {"OR": []}}, []),
        ({"age": {"AND": []}}, [1, 2, 3, 4]),
        ({"age": {"NOT": 30}}, [3]),
        ({"age": {"gt": 5, "lt": 20}}, [3]),
        ({"age": {"gte": 30}}, [1, 4]),
        ({"age": {"lte": 10}}, [3]),
        ({"age": {"is_null": True}}, [2]),
        ({"age": {"is_null": False}}, [1, 3, 4]),
        ({"age": {"is_not_null": True}}, [1, 3, 4]),
        ({"age": {"is_not_null": False}}, [2]),
        ({"name": "bob", "age": None}, [2]),
        ({"invited_by": True}, [3, 4]),
        ({"invited_by": False}, [1, 2]),
        ({"invited_by": {"name": "ann"}}, [3]),
        ({"invitees": {"name": "dan"}}, [3]),
        ({"posts": False}, [2, 4]),
        ({"posts": {"views": {"gt": 6}}}, [1]),
        ({"posts": {"tags": {"name": "z"}}}, [3]),
        ({"posts": {"comments": {"author": {"name": "bob"}}}}, [1]),
        ({"comments": True}, [1, 2]),
        ({"NOT": {"posts": True}}, [2, 4]),
    ],
)
def test_where_follows_sql_three_valued_logic(
    tiny: Dataset, where: dict[str, Any], expected: list[int]
) -> None:
    assert ids(evaluate(tiny, "users", {"where": where})) == expected


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("abc", "a%", True),
        ("abc", "%c", True),
        ("abc", "a_c", True),
        ("abc", "a_", False),
        ("abc", "_%_%_", True),
        ("ab", "_%_%_", False),
        ("a_b", "a_b", True),
        ("axb", "a_b", True),
        ("a%b", "a%b", True),
        ("axxb", "a%b", True),
        ("a_b", "a\\_b", False),  # no escape character: the backslash is literal
        ("caf\u00e9", "caf_", True),  # _ is one character, not one byte
        ("caf\u00e9", "caf", False),
        ("ABC", "abc", False),  # case-sensitive
        ("", "%", True),
        ("", "_", False),
        ("a.c", "a_c", True),
        ("abc", "a.c", False),  # regex characters are literal
        ("[x]", "[x]", True),
        ("a\nb", "a%b", True),
    ],
)
def test_like_patterns(value: str, pattern: str, expected: bool) -> None:
    assert like(value, pattern, escape=None) is expected


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("a_b", "a\\_b", True),
        ("axb", "a\\_b", False),
        ("100%", "100\\%", True),
        ("1000", "100\\%", False),
        ("a\\b", "a\\\\b", True),
    ],
)
def test_like_with_an_escape_character(value: str, pattern: str, expected: bool) -> None:
    assert like(value, pattern, escape="\\") is expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"content": {"like": "a_b"}}, [1, 2]),
        ({"content": {"like": "a%"}}, [1, 2]),
        ({"content": {"ilike": "A_B"}}, [1, 2]),
        ({"content": {"like": "A_B"}}, []),
        ({"content": {"not_like": "a%"}}, [4]),  # NULL content is neither
        ({"content": {"not_ilike": "CAF%"}}, [1, 2]),
        ({"content": {"like": "%\u00e9"}}, [4]),
        ({"tags": {"name": "x"}}, [1, 2]),
        ({"tags": False}, [3]),
        ({"comments": {"author_id": None}}, [1]),
        ({"author": {"invited_by": {"name": "ann"}}}, [4]),
    ],
)
def test_post_filters(tiny: Dataset, where: dict[str, Any], expected: list[int]) -> None:
    assert ids(evaluate(tiny, "posts", {"where": where})) == expected


# -- ordering, paging, relations -------------------------------------------------------


def test_id_breaks_ties_ascending_even_when_descending(tiny: Dataset) -> None:
    assert ids(evaluate(tiny, "posts", {"order_by": {"views": "asc"}})) == [4, 1, 3, 2]
    assert ids(evaluate(tiny, "posts", {"order_by": {"views": "desc"}})) == [2, 1, 3, 4]
    by_two = {"order_by": {"author_id": "desc", "views": "desc"}}
    assert ids(evaluate(tiny, "posts", by_two)) == [4, 2, 1, 3]


def test_top_level_limit_and_offset(tiny: Dataset) -> None:
    assert ids(evaluate(tiny, "posts", {"limit": 2})) == [1, 2]
    assert ids(evaluate(tiny, "posts", {"offset": 3})) == [4]
    assert ids(
        evaluate(tiny, "posts", {"limit": 2, "offset": 1, "order_by": {"views": "desc"}})
    ) == [1, 3]
    assert evaluate(tiny, "posts", {"limit": 0}) == []


def test_limit_and_offset_apply_per_parent(tiny: Dataset) -> None:
    top = {"with": {"posts": {"order_by": {"views": "desc"}, "limit": 1, "columns": {"id": True}}}}
    got = evaluate(tiny, "users", top)
    assert [u["posts"] for u in rows_of(got)] == [[{"id": 2}], [], [{"id": 4}], []]
    second = {"with": {"posts": {"order_by": {"views": "asc"}, "offset": 1, "limit": 1}}}
    assert [ids(u["posts"]) for u in rows_of(evaluate(tiny, "users", second))] == [[3], [], [], []]


def test_many_to_many_follows_links_in_target_order(tiny: Dataset) -> None:
    plain = evaluate(
        tiny, "posts", {"where": {"id": 1}, "with": {"tags": {"columns": {"name": True}}}}
    )
    assert rows_of(plain)[0]["tags"] == [{"name": "x"}, {"name": "y"}]  # linked [2, 1]
    desc = {"where": {"id": 1}, "with": {"tags": {"order_by": {"name": "desc"}}}}
    assert ids(rows_of(evaluate(tiny, "posts", desc))[0]["tags"]) == [2, 1]
    back = evaluate(tiny, "tags", {"with": {"posts": {"columns": {"id": True}}}})
    assert [t["posts"] for t in rows_of(back)] == [[{"id": 1}, {"id": 2}], [{"id": 1}], [{"id": 4}]]


def test_one_relations_are_a_row_or_none(tiny: Dataset) -> None:
    got = rows_of(evaluate(tiny, "comments", {"with": {"author": {"columns": {"name": True}}}}))
    assert [c["author"] for c in got] == [{"name": "bob"}, None, {"name": "ann"}]
    filtered = evaluate(tiny, "posts", {"with": {"author": {"where": {"name": "cat"}}}})
    assert [p["author"] is None for p in rows_of(filtered)] == [True, True, True, False]
    skipped = evaluate(tiny, "comments", {"with": {"post": {"offset": 1}}})
    assert [c["post"] for c in rows_of(skipped)] == [None, None, None]
    self_ = evaluate(tiny, "users", {"with": {"invited_by": {"columns": {"id": True}}}})
    assert [u["invited_by"] for u in rows_of(self_)] == [None, None, {"id": 1}, {"id": 3}]


def test_nesting_builds_the_tree(tiny: Dataset) -> None:
    options = {
        "where": {"id": 1},
        "columns": {"name": True},
        "with": {
            "posts": {
                "columns": {"title": True},
                "where": {"comments": True},
                "with": {
                    "comments": {"columns": {}, "with": {"author": {"columns": {"name": True}}}}
                },
            }
        },
    }
    assert evaluate(tiny, "users", options) == [
        {
            "name": "ann",
            "posts": [{"title": "p1", "comments": [{"author": {"name": "bob"}}, {"author": None}]}],
        }
    ]


# -- columns, extras, find_first -------------------------------------------------------


def test_columns_rules(tiny: Dataset, schema: Schema) -> None:
    every = list(schema["users"].columns)
    assert "invited_by_id" in every and "posts" not in every
    assert "tags" not in schema["posts"].columns  # many-to-many fields are not columns

    def keys(columns: Any, **more: Any) -> list[str]:
        return list(rows_of(evaluate(tiny, "users", {"columns": columns, **more}))[0])

    assert keys(None) == every
    assert keys({"id": True, "name": False}) == ["id"]
    assert keys({"name": True, "id": True}) == ["id", "name"]  # table order
    assert keys({"age": False, "email": False}) == [c for c in every if c not in ("age", "email")]
    assert keys({}, **{"with": {"posts": True}}) == ["posts"]
    extras = {"name_length": next(e for e in EXTRAS["users"] if e.name == "name_length")}
    assert keys({}, extras=extras) == ["name_length"]


def test_extras_read_unselected_columns(tiny: Dataset) -> None:
    extras = {e.name: e for e in EXTRAS["users"]}
    got = evaluate(tiny, "users", {"columns": {"id": True}, "extras": extras, "where": {"id": 2}})
    assert got == [
        {
            "id": 2,
            "name_length": 3,
            "id_times_two": 4,
            "age_or_minus_one": -1,
            "score_doubled": None,
        }
    ]


def test_find_first(tiny: Dataset) -> None:
    assert evaluate(tiny, "users", {"where": {"id": 99}}, first=True) is None
    got = evaluate(tiny, "users", {"order_by": {"name": "desc"}, "offset": 1}, first=True)
    assert isinstance(got, dict) and got["name"] == "cat"
    with pytest.raises(UnsupportedOption):
        evaluate(tiny, "users", {"limit": 1}, first=True)


@pytest.mark.parametrize(
    ("slug", "options"),
    [
        ("users", {"order_by": {"age": "asc"}}),  # NULLs: ordering left undefined
        ("posts", {"with": {"author": {"limit": 1}}}),
        ("posts", {"with": {"author": {"order_by": {"id": "asc"}}}}),
        ("users", {"where": {"RAW": lambda t: t.c.id > 1}}),
        ("users", {"with": {"friends": True}}),
        ("users", {"columns": {"posts": True}}),
        ("users", {"where": {"age": {}}}),
        ("users", {"where": {"age": {"gt": None}}}),
        ("users", {"limit": -1}),
        ("users", {"extras": {"x": lambda t: t.c.id}}),
        ("users", {"order_by": lambda t: [t.c.id]}),
        ("posts", {"where": {"author": None}}),  # a relation filter takes True/False/a dict
    ],
)
def test_the_reference_refuses_what_it_cannot_define(
    tiny: Dataset, slug: str, options: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedOption):
        evaluate(tiny, slug, options)


def test_with_underscore_spelling(tiny: Dataset) -> None:
    a = evaluate(tiny, "users", {"with_": {"posts": True}})
    assert a == evaluate(tiny, "users", {"with": {"posts": True}})


def test_params_bind_and_map() -> None:
    tree = {
        "where": {"id": Param("id"), "OR": [{"age": {"in": [Param("a"), 3]}}]},
        "limit": Param("n"),
    }
    assert bind_params(tree, {"id": 1, "a": 2, "n": 5}) == {
        "where": {"id": 1, "OR": [{"age": {"in": [2, 3]}}]},
        "limit": 5,
    }
    assert map_params(tree, lambda p: p.name.upper())["where"]["id"] == "ID"


def test_difference_checks_types_keys_and_order() -> None:
    assert difference([{"a": 1}], [{"a": 1}]) is None
    assert difference([{"a": 1}], [{"a": True}]) is not None  # 1 == True, but not the type
    assert difference([{"a": 1.0}], [{"a": 1}]) is not None
    assert difference([{"a": 1}], [{"a": 1, "b": 2}]) is not None
    assert difference([{"id": 2}, {"id": 1}], [{"id": 1}, {"id": 2}]) is not None
    assert difference([], [{"id": 1}]) is not None
    plus_one = dt.timezone(dt.timedelta(hours=1))
    assert difference(T0.astimezone(plus_one), T0) is not None  # same instant, not UTC


# -- the harness's inputs --------------------------------------------------------------


@pytest.fixture(scope="module")
def offline(schema: Schema) -> Dataset:
    return offline_dataset(schema)


def test_seed_data_keeps_its_promises(offline: Dataset) -> None:
    clean = re.compile(r"^[a-z0-9]+(@example\.com)?$")
    for slug, columns in ORDERABLE.items():
        for column in columns:
            values = [r[column] for r in offline.rows[slug]]
            assert None not in values, (slug, column)
            assert all(clean.match(v) for v in values if isinstance(v, str)), (slug, column)
    nullable = {
        "users": ("age", "score", "active", "born", "last_seen", "ext", "profile", "invited_by_id"),
        "posts": ("content",),
        "comments": ("author_id",),
    }
    for slug, columns in nullable.items():
        for column in columns:
            values = [r[column] for r in offline.rows[slug]]
            assert None in values and any(v is not None for v in values), (slug, column)
    contents = [r["content"] for r in offline.rows["posts"] if r["content"] is not None]
    assert any("%" in c for c in contents) and any("_" in c for c in contents)
    assert any(not c.isascii() for c in contents) and all(c == c.lower() for c in contents)
    users = evaluate(offline, "users", {"where": {"posts": False}})
    assert len(rows_of(users)) >= 3
    assert rows_of(evaluate(offline, "tags", {"where": {"posts": False}}))
    assert rows_of(evaluate(offline, "posts", {"where": {"comments": False, "tags": False}}))
    assert rows_of(evaluate(offline, "users", {"where": {"invited_by_id": {"eq": 5}, "id": 5}}))
    assert rows_of(evaluate(offline, "posts", {"where": {"views": 2**53 + 1}}))


def _levels(
    slug: str, options: Mapping[str, Any], ds: Dataset, one: bool = False
) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    yield slug, options, one
    for name, value in (options.get("with") or {}).items():
        rel = ds.relations[slug][name]
        nested = value if isinstance(value, Mapping) else {}
        yield from _levels(rel.target, nested, ds, rel.cardinality == "one")


def _keys(tree: Any) -> Iterator[str]:
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            yield str(key)
            yield from _keys(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _keys(value)


OPERATORS = {
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "like", "ilike", "not_like",
    "not_ilike", "is_null", "is_not_null", "AND", "OR", "NOT",
}  # fmt: skip


def test_hand_written_cases_are_many_valid_and_cover_the_contract(offline: Dataset) -> None:
    cases = hand_written_cases(offline)
    assert len(cases) >= 60
    assert len({c.name for c in cases}) == len(cases)
    results = [evaluate(offline, c.slug, c.options, first=c.first) for c in cases]
    assert sum(1 for r in results if rows_of(r)) >= 0.75 * len(cases)
    assert any(c.first and r is None for c, r in zip(cases, results, strict=True))
    wheres = [lvl.get("where") for c in cases for _, lvl, _ in _levels(c.slug, c.options, offline)]
    assert OPERATORS <= set(_keys(wheres))
    loaded = {
        (s, n)
        for c in cases
        for s, lvl, _ in _levels(c.slug, c.options, offline)
        for n in lvl.get("with") or {}
    }
    filtered = {
        (c.slug, k)
        for c in cases
        for k in _keys(c.options.get("where"))
        if k in offline.relations[c.slug]
    }
    every = {(s, n) for s, rels in offline.relations.items() for n in rels}
    assert every <= loaded
    assert len(filtered) >= 8
    assert max(tree_depth(c.options) for c in cases) >= 4


def test_prepared_templates_bind_to_valid_trees(offline: Dataset) -> None:
    for case, value_sets in PREPARED:
        for values in value_sets:
            bound = bind_params(case.options, values)
            assert "Param" not in repr(bound)
            evaluate(offline, case.slug, bound, first=case.first)
    assert len(PREPARED[0][1]) >= 12


def test_generated_trees_are_valid_and_diverse(offline: Dataset) -> None:
    cases = draw_cases(offline, GENERATED)
    assert len(cases) == GENERATED
    assert [c.options for c in cases] == [c.options for c in draw_cases(offline, GENERATED)]
    seen: set[str] = set()
    functions: set[str] = set()
    ordered_by_count = False
    nonempty = 0
    for case in cases:
        nonempty += bool(rows_of(evaluate(offline, case.slug, case.options, first=case.first)))
        assert tree_depth(case.options) <= MAX_DEPTH
        assert not (case.first and "limit" in case.options)
        for slug, level, one in _levels(case.slug, case.options, offline):
            assert not (one and ("limit" in level or "order_by" in level)), level
            aggregates = level.get("aggregates") or {}
            counts = {n for n, a in aggregates.items() if a.function == "count"}
            assert set(level.get("order_by") or {}) <= set(ORDERABLE[slug]) | counts
            functions |= {a.function for a in aggregates.values()}
            ordered_by_count |= bool(counts & set(level.get("order_by") or {}))
            assert set(level.get("extras") or {}) <= {e.name for e in EXTRAS[slug]}
            seen |= set(_keys(level.get("where")))
            seen |= {f"columns={level['columns']!r}"} if level.get("columns") == {} else set()
    assert OPERATORS <= seen
    assert "columns={}" in seen
    assert {"posts", "tags", "invited_by", "author"} <= seen  # relation filters
    assert functions == {"count", "sum", "avg", "min", "max"}
    assert ordered_by_count
    assert any(k.startswith("agg_") for k in seen)  # where on an aggregate
    assert nonempty >= 0.75 * len(cases)
    assert max(tree_depth(c.options) for c in cases) == MAX_DEPTH
