"""``strategy="auto"``: which strategy each shape family gets, per backend.

The rule (``QueryPlanner.choose``) comes from the lateral-vs-batched table in
docs/benchmarks.md (``benchmarks/nested.py --strategies``); these tests pin the rule,
not the timings: PostgreSQL takes one statement only for few parent rows and never for a
per-parent limit; SQLite takes it for per-parent limits, few parent rows and one nested
level; MariaDB for per-parent limits and for few parent rows one level deep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deesse_async import Database, placeholder
from tests.blog import BLOG
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

L, B = "lateral", "batched"
POSTS = {"columns": {"id": True, "title": True}}
COMMENTS = {"columns": {"id": True, "body": True}}
POSTS_COMMENTS = {**POSTS, "with": {"comments": COMMENTS}}
LATEST_3 = {**POSTS, "order_by": {"id": "desc"}, "limit": 3}
LATEST_2 = {**COMMENTS, "order_by": {"id": "desc"}, "limit": 2}
NAME = {"columns": {"id": True, "name": True}}


def many(**options: Any) -> Callable[[Database], Any]:
    return lambda db: db.query.users.find_many(**NAME, **options)


def first(**options: Any) -> Callable[[Database], Any]:
    return lambda db: db.query.users.find_first(**NAME, **options)


# family, shape -> (postgresql, sqlite, mysql)
CASES: dict[tuple[str, str], tuple[Callable[[Database], Any], tuple[str, str, str]]] = {
    # 1. no relation: batched everywhere
    ("flat", "find_many"): (many(), (B, B, B)),
    ("flat", "find_first by id"): (first(where={"id": 1}), (B, B, B)),
    ("flat", "limit 5"): (many(limit=5), (B, B, B)),
    # 2. a per-parent limit or offset anywhere
    ("limit", "-> latest 3"): (many(with_={"posts": LATEST_3}), (B, L, L)),
    ("limit", "-> posts offset 1"): (
        many(with_={"posts": {**POSTS, "order_by": {"id": "asc"}, "offset": 1}}),
        (B, L, L),
    ),
    ("limit", "-> latest 3 -> comments"): (
        many(with_={"posts": {**LATEST_3, "with": {"comments": COMMENTS}}}),
        (B, L, L),
    ),
    ("limit", "-> posts -> latest 2"): (
        many(with_={"posts": {**POSTS, "with": {"comments": LATEST_2}}}),
        (B, L, L),
    ),
    ("limit under limit", "-> latest 3 -> latest 2"): (
        many(with_={"posts": {**LATEST_3, "with": {"comments": LATEST_2}}}),
        (B, L, L),
    ),
    ("limit under limit", "limit 20 -> latest 3 -> latest 2"): (
        many(limit=20, with_={"posts": {**LATEST_3, "with": {"comments": LATEST_2}}}),
        (B, L, L),
    ),
    # a per-parent limit decides before few parent rows do
    ("limit", "by id -> latest 3 -> latest 2"): (
        first(where={"id": 1}, with_={"posts": {**LATEST_3, "with": {"comments": LATEST_2}}}),
        (B, L, L),
    ),
    ("limit", "find_first -> latest 3"): (first(with_={"posts": LATEST_3}), (B, L, L)),
    # 3. few parent rows: find_first, a unique key, a top-level limit <= 10
    ("unique key", "by id -> posts"): (first(where={"id": 1}, with_={"posts": POSTS}), (L, L, L)),
    ("unique key", "by id placeholder -> posts"): (
        first(where={"id": placeholder("id")}, with_={"posts": POSTS}),
        (L, L, L),
    ),
    ("unique key", "find_many by id -> posts"): (
        many(where={"id": 1}, with_={"posts": POSTS}),
        (L, L, L),
    ),
    ("unique key", "by id and name -> posts"): (
        many(where={"id": 1, "name": "ann"}, with_={"posts": POSTS}),
        (L, L, L),
    ),
    ("unique key", "unique column email -> posts"): (
        many(where={"email": "a@example.com"}, with_={"posts": POSTS}),
        (L, L, L),
    ),
    ("unique key", "by id -> posts -> comments"): (
        first(where={"id": 1}, with_={"posts": POSTS_COMMENTS}),
        (L, L, B),
    ),
    ("find_first", "first -> posts"): (first(with_={"posts": POSTS}), (L, L, L)),
    ("find_first", "by name -> posts"): (
        first(where={"name": "ann"}, with_={"posts": POSTS}),
        (L, L, L),
    ),
    ("find_first", "first -> posts -> comments"): (
        first(with_={"posts": POSTS_COMMENTS}),
        (L, L, B),
    ),
    ("top limit <= 10", "limit 10 -> posts"): (many(limit=10, with_={"posts": POSTS}), (L, L, L)),
    ("top limit <= 10", "limit 5 -> posts -> comments"): (
        many(limit=5, with_={"posts": POSTS_COMMENTS}),
        (L, L, B),
    ),
    # 4. many parent rows, no per-parent limit
    ("fan-out", "-> posts"): (many(with_={"posts": POSTS}), (B, L, B)),
    ("fan-out", "limit 11 -> posts"): (many(limit=11, with_={"posts": POSTS}), (B, L, B)),
    ("fan-out", "limit placeholder -> posts"): (
        many(limit=placeholder("n"), with_={"posts": POSTS}),
        (B, L, B),
    ),
    ("fan-out", "name equality (not unique) -> posts"): (
        many(where={"name": "ann"}, with_={"posts": POSTS}),
        (B, L, B),
    ),
    ("fan-out", "id in [...] -> posts"): (
        many(where={"id": {"in": [1, 2]}}, with_={"posts": POSTS}),
        (B, L, B),
    ),
    ("fan-out", "-> posts -> comments"): (many(with_={"posts": POSTS_COMMENTS}), (B, B, B)),
    ("fan-out", "limit 11 -> posts -> comments"): (
        many(limit=11, with_={"posts": POSTS_COMMENTS}),
        (B, B, B),
    ),
    ("fan-out", "-> posts -> comments -> post"): (
        many(
            with_={"posts": {**POSTS, "with": {"comments": {**COMMENTS, "with": {"post": POSTS}}}}}
        ),
        (B, B, B),
    ),
}
BACKEND_COLUMN = {"postgresql": 0, "sqlite": 1, "mysql": 2}


async def test_auto_picks_the_measured_strategy_per_shape_family(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    column = BACKEND_COLUMN[db.dialect.name]
    got = {key: make(db).prepare().strategy for key, (make, _) in CASES.items()}
    want = {key: expected[column] for key, (_, expected) in CASES.items()}
    assert got == want


async def test_to_one_relations_count_as_levels(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    want = {"postgresql": (B, L, L), "sqlite": (L, L, L), "mysql": (B, L, B)}[db.dialect.name]
    posts_author = db.query.posts.find_many(with_={"author": NAME}).prepare()
    by_title = db.query.posts.find_first(where={"title": "post0"}, with_={"author": NAME}).prepare()
    deep = db.query.posts.find_first(
        where={"title": "post0"}, with_={"author": {**NAME, "with": {"posts": POSTS}}}
    ).prepare()
    assert (posts_author.strategy, by_title.strategy, deep.strategy) == want


async def test_an_explicit_strategy_is_kept(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    point = {"where": {"id": 1}, "with_": {"posts": POSTS}}
    fanout = {"with_": {"posts": POSTS_COMMENTS}}
    got = [
        db.query.users.find_first(**point, strategy="batched").prepare().strategy,
        db.query.users.find_many(**fanout, strategy="lateral").prepare().strategy,
        db.query.users.find_many(**NAME, strategy="lateral").prepare().strategy,
    ]
    assert got == [B, L, L]


async def test_awaited_and_prepared_queries_use_the_same_choice(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    ann = await db.users.create({"name": "ann", "email": "ann@example.com"})
    post = await db.posts.create({"title": "p", "author_id": ann["id"]})
    comment = await db.comments.create({"body": "c", "post_id": post["id"]})
    options = {
        "where": {"id": ann["id"]},
        "with_": {"posts": {**LATEST_3, "with": {"comments": LATEST_2}}},
    }
    prepared = db.query.users.find_first(**NAME, **options).prepare()
    want = {"postgresql": B, "sqlite": L, "mysql": L}[db.dialect.name]
    assert prepared.strategy == want
    planner = db._planner
    planner._cache.clear()
    row = await db.query.users.find_first(**NAME, **options)
    assert [strategy for _, strategy in planner._cache] == [want]
    expected = {
        "id": ann["id"],
        "name": "ann",
        "posts": [
            {"id": post["id"], "title": "p", "comments": [{"id": comment["id"], "body": "c"}]}
        ],
    }
    assert row == expected
    assert await prepared.execute() == expected
