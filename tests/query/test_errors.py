"""Every options mistake is a QueryError naming the path, raised before any SQL is sent."""

from __future__ import annotations

from typing import Any

import pytest

from deesse_async import QueryError, define_config, placeholder
from tests.blog import BLOG

db = define_config(provider="sqlite://:memory:", collections=BLOG)  # never connected: no SQL

CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown column in where",
        {"where": {"titel": "x"}},
        "where.titel: unknown column or relation 'titel' on 'users'",
    ),
    (
        "did you mean",
        {"with_": {"posts": {"where": {"titel": "x"}}}},
        "with_.posts.where.titel: unknown column or relation 'titel' on 'posts'; did you mean 'title'?",
    ),
    (
        "unknown relation",
        {"with_": {"post": True}},
        "with_.post: unknown relation 'post' on 'users'; did you mean 'posts'?",
    ),
    (
        "unknown nested option",
        {"with_": {"posts": {"limt": 3}}},
        "with_.posts: unknown option 'limt'; did you mean 'limit'?",
    ),
    (
        "unknown column in columns",
        {"columns": {"nam": True}},
        "columns.nam: unknown column 'nam' on 'users'; did you mean 'name'?",
    ),
    ("columns not bool", {"columns": {"name": 1}}, "columns.name: expected True or False"),
    (
        "unknown operator",
        {"where": {"age": {"gtt": 3}}},
        "where.age.gtt: unknown operator 'gtt'; did you mean 'gt'?",
    ),
    ("in with a non-list", {"where": {"age": {"in": 3}}}, "where.age.in: in takes a list, got int"),
    (
        "in with a string",
        {"where": {"age": {"not_in": "12"}}},
        "where.age.not_in: not_in takes a list, got str",
    ),
    (
        "wrong value type",
        {"where": {"age": "old"}},
        "where.age: value 'old' does not fit a int column",
    ),
    (
        "like on non-string",
        {"where": {"name": {"like": 3}}},
        "where.name.like: like takes a string pattern",
    ),
    (
        "gt with None",
        {"where": {"age": {"gt": None}}},
        "where.age.gt: gt cannot compare with None; use is_null",
    ),
    (
        "is_null not bool",
        {"where": {"age": {"is_null": "yes"}}},
        "where.age.is_null: is_null takes True or False",
    ),
    ("OR not a list", {"where": {"OR": {"age": 1}}}, "where.OR: OR takes a list, got dict"),
    ("empty operator dict", {"where": {"age": {}}}, "where.age: empty operator dict"),
    ("negative limit", {"limit": -1}, "limit: must be >= 0, got -1"),
    ("limit not int", {"limit": "10"}, "limit: expected a non-negative integer, got '10'"),
    ("bool limit", {"limit": True}, "limit: expected a non-negative integer, got True"),
    (
        "negative nested offset",
        {"with_": {"posts": {"offset": -2}}},
        "with_.posts.offset: must be >= 0, got -2",
    ),
    (
        "limit on one relation",
        {"with_": {"invited_by": {"limit": 1}}},
        "with_.invited_by: limit is not accepted on a one relation",
    ),
    (
        "order_by on one relation",
        {"with_": {"invited_by": {"order_by": {"id": "asc"}}}},
        "with_.invited_by: order_by is not accepted on a one relation",
    ),
    (
        "bad direction",
        {"order_by": {"name": "up"}},
        "order_by.name: expected 'asc' or 'desc', got 'up'",
    ),
    (
        "order_by unknown column",
        {"order_by": {"nmae": "asc"}},
        "order_by.nmae: unknown column 'nmae' on 'users'; did you mean 'name'?",
    ),
    (
        "nothing selected",
        {"columns": {}},
        "nothing selected: columns={} and no with, extras or aggregates",
    ),
    (
        "quoted key",
        {"where": {'name" OR 1=1 --': "x"}},
        "unknown column or relation 'name\" OR 1=1 --'",
    ),
    ("quoted relation", {"with_": {"posts'; DROP TABLE users; --": True}}, "unknown relation"),
    ("quoted order_by", {"order_by": {"name; DROP TABLE users": "asc"}}, "unknown column"),
    ("extras not callable", {"extras": {"x": "1+1"}}, "extras.x: expected a callable(table)"),
    (
        "extras bad name",
        {"extras": {"my extra": lambda t: t.c.id}},
        "extra name 'my extra' must be an identifier",
    ),
    ("with not a dict", {"with_": ["posts"]}, "with_: expected a dict of relation"),
    (
        "relation filter wrong",
        {"where": {"posts": {"tytle": "x"}}},
        "where.posts.tytle: unknown column or relation 'tytle' on 'posts'",
    ),
    (
        "in a placeholder list",
        {"where": {"id": {"in": placeholder("ids")}}},
        "in takes a list; put placeholders inside it",
    ),
    ("unknown top-level option", {"wehre": {}}, "unknown option 'wehre'; did you mean 'where'?"),
]


@pytest.mark.parametrize(("case", "options", "message"), CASES, ids=[c[0] for c in CASES])
def test_find_many_option_errors(case: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(QueryError) as info:
        db.query.users.find_many(**options)
    assert message in str(info.value)


def test_find_first_rejects_limit() -> None:
    with pytest.raises(QueryError, match="limit"):
        db.query.users.find_first(limit=2)  # type: ignore[call-arg]


def test_with_spelled_as_a_string_key_works_too() -> None:
    q = db.query.users.find_many(**{"with": {"posts": True}})
    assert "posts" in q.to_sql()


def test_unknown_collection_on_query() -> None:
    with pytest.raises(AttributeError, match="did you mean 'users'"):
        _ = db.query.user


def test_placeholder_names_are_checked() -> None:
    for bad in ("1x", "dv_0", "__keys", "a b"):
        with pytest.raises(QueryError, match="placeholder name"):
            placeholder(bad)


def test_placeholder_kind_conflict() -> None:
    with pytest.raises(QueryError, match="placeholder 'p' is used for values of kinds"):
        db.query.users.find_many(where={"age": placeholder("p"), "name": placeholder("p")})
