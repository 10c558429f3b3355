"""Every options mistake is a QueryError naming the path, raised before any SQL is sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deesse_async import QueryError, ValidationError, define_config, placeholder
from deesse_async.query.api import _MANY
from deesse_async.query.options import OPTION_KEYS
from tests.blog import BLOG

db = define_config(provider="sqlite://:memory:", collections=BLOG)  # never connected: no SQL
schema = db.schema

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
        "with_.posts.limt: unknown option 'limt'; did you mean 'limit'?",
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
        "where.age: expected an integer, got 'old' (unable to parse string as an integer)",
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
    (
        "limit not int",
        {"limit": "ten"},
        "limit: expected an integer, got 'ten' (unable to parse string as an integer); "
        "give a non-negative integer",
    ),
    (
        "bool limit",
        {"limit": True},
        "limit: expected an integer, got True (a boolean is not a number); "
        "give a non-negative integer",
    ),
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
        "order_by.name: 'up' is not a direction; use 'asc' or 'desc'",
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


# -- messages list what is allowed (issue 10) -------------------------------------------------

OPERATOR_LIST = (
    "operators: eq, ne, gt, gte, lt, lte, in, not_in, like, ilike, not_like, not_ilike, "
    "is_null, is_not_null, AND, OR, NOT"
)
NESTED_OPTIONS = "options: " + ", ".join(OPTION_KEYS)  # what the parser accepts, whatever it is
TOP_OPTIONS = "options: " + ", ".join([*("with_" if k == "with" else k for k in _MANY), "strategy"])

EXACT: list[tuple[str, Callable[[], Any], str]] = [
    (
        "operator from another library",
        lambda: db.query.posts.find_many(where={"status": {"equals": "draft"}}),
        f"where.status.equals: unknown operator 'equals'; did you mean 'eq'? {OPERATOR_LIST}",
    ),
    (
        "operator camelCase",
        lambda: db.query.users.find_many(where={"age": {"notIn": [1]}}),
        f"where.age.notIn: unknown operator 'notIn'; did you mean 'not_in'? {OPERATOR_LIST}",
    ),
    (
        "operator in a relation filter",
        lambda: db.query.users.find_many(where={"posts": {"title": {"contains": "x"}}}),
        "where.posts.title.contains: unknown operator 'contains'; did you mean 'like'? "
        + OPERATOR_LIST,
    ),
    (
        "operator without a suggestion",
        lambda: db.query.users.find_many(where={"age": {"between": [1, 2]}}),
        f"where.age.between: unknown operator 'between'; {OPERATOR_LIST}",
    ),
    (
        "combinator in lower case",
        lambda: db.query.users.find_many(where={"age": {"not": 3}}),
        f"where.age.not: unknown operator 'not'; did you mean 'NOT'? {OPERATOR_LIST}",
    ),
    (
        "direction",
        lambda: db.query.users.find_many(order_by={"id": "descending"}),
        "order_by.id: 'descending' is not a direction; use 'asc' or 'desc'",
    ),
    (
        "direction in a relation",
        lambda: db.query.users.find_many(with_={"posts": {"order_by": {"id": "DESC"}}}),
        "with_.posts.order_by.id: 'DESC' is not a direction; use 'asc' or 'desc'",
    ),
    (
        "nested option",
        lambda: db.query.users.find_many(with_={"posts": {"limt": 3}}),
        f"with_.posts.limt: unknown option 'limt'; did you mean 'limit'? {NESTED_OPTIONS}",
    ),
    (
        "nested option two levels down",
        lambda: db.query.users.find_many(with_={"posts": {"with": {"tags": {"whre": {}}}}}),
        "with_.posts.with.tags.whre: unknown option 'whre'; did you mean 'where'? "
        + NESTED_OPTIONS,
    ),
    (
        "top-level option",
        lambda: db.query.users.find_many(wehre={}),
        f"wehre: unknown option 'wehre'; did you mean 'where'? {TOP_OPTIONS}",
    ),
    (
        "top-level option, find_first",
        lambda: db.query.users.find_first(ordr_by={"id": "asc"}),
        f"ordr_by: unknown option 'ordr_by'; did you mean 'order_by'? {TOP_OPTIONS}",
    ),
    (
        "strategy",
        lambda: db.query.users.find_many(strategy="lateal"),  # type: ignore[arg-type]
        "strategy: unknown strategy 'lateal'; did you mean 'lateral'? "
        "strategies: auto, lateral, batched",
    ),
    (
        "relation",
        lambda: db.query.users.find_many(with_={"post": True}),
        "with_.post: unknown relation 'post' on 'users'; did you mean 'posts'? "
        "relations: " + ", ".join(schema["users"].relations),
    ),
    (
        "column in order_by",
        lambda: db.query.tags.find_many(order_by={"nam": "asc"}),
        "order_by.nam: unknown column 'nam' on 'tags'; did you mean 'name'? columns: "
        + ", ".join(schema["tags"].columns),
    ),
    (
        "where key in lower case",
        lambda: db.query.tags.find_many(where={"or": []}),
        "where.or: unknown column or relation 'or' on 'tags'; did you mean 'OR'? columns: "
        + ", ".join(schema["tags"].columns)
        + "; relations: "
        + ", ".join(schema["tags"].relations),
    ),
]


@pytest.mark.parametrize(("case", "call", "message"), EXACT, ids=[c[0] for c in EXACT])
def test_messages_list_what_is_allowed(case: str, call: Callable[[], Any], message: str) -> None:
    with pytest.raises(QueryError) as info:
        call()
    assert str(info.value) == message
    assert message.startswith(f"{info.value.path}: ")  # the path first


def test_long_lists_are_cut() -> None:
    from deesse_async.query.options import allowed

    assert allowed("columns", [f"c{i}" for i in range(40)], most=3) == (
        "columns: c0, c1, c2, ... (40 in all)"
    )


@pytest.mark.anyio
async def test_count_where_uses_the_same_messages() -> None:
    with pytest.raises(QueryError) as info:
        await db.posts.count(where={"status": {"equals": "draft"}})
    assert str(info.value) == (
        f"where.status.equals: unknown operator 'equals'; did you mean 'eq'? {OPERATOR_LIST}"
    )


@pytest.mark.anyio
async def test_crud_unknown_fields_list_the_fields(tmp_path: Path) -> None:
    local = define_config(provider=f"sqlite:///{tmp_path / 'e.db'}", collections=BLOG)
    async with local:
        await local.push()
        with pytest.raises(ValidationError) as info:
            await local.posts.create({"title": "t", "author": 1})
        fields = ", ".join(local.posts._s.cc.create_model.model_fields)
        assert {"loc": ("author",), "type": "extra_forbidden"}.items() <= info.value.errors[
            -1
        ].items()
        assert info.value.errors[-1]["msg"] == (
            f"unknown field 'author'; did you mean 'author_id'? fields: {fields}"
        )
        with pytest.raises(ValidationError) as info:
            await local.users.create_many([{"name": "a", "email": "a@b.co", "nmae": "x"}])
        assert info.value.errors[0]["loc"] == (0, "nmae")
        assert info.value.errors[0]["msg"].startswith(
            "unknown field 'nmae'; did you mean 'name'? fields: "
        )
        assert await local.users.count() == 0
