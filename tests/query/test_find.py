"""find_many / find_first on every backend, both strategies: real rows, exact values."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from deesse_async import Database, QueryError
from tests.blog import BLOG
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

STRATEGIES = ("lateral", "batched")


async def blog(make_db: MakeDb) -> tuple[Database, dict[str, Any]]:
    db = await make_db(BLOG)
    ann = await db.users.create(
        {"name": "ann", "email": "ann@example.com", "age": 31, "score": 0.1 + 0.2,
         "last_seen": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
         "external_id": uuid.UUID(int=7), "profile": {"k": [1, None]}, "born": dt.date(1990, 5, 6)}
    )  # fmt: skip
    bob = await db.users.create(
        {"name": "bob", "email": "bob@example.com", "invited_by_id": ann["id"]}
    )
    cid = await db.users.create(
        {"name": "cid", "email": "cid@example.com", "invited_by_id": bob["id"]}
    )
    t = await db.tags.create_many([{"name": "red"}, {"name": "green"}, {"name": "blue"}])
    posts = []
    for i, (author, status, tags) in enumerate(
        [(ann, "published", [0, 1]), (ann, "draft", [2]), (ann, "published", []),
         (bob, "published", [0]), (bob, "draft", [])]
    ):  # fmt: skip
        posts.append(
            await db.posts.create(
                {
                    "title": f"post{i}",
                    "author_id": author["id"],
                    "status": status,
                    "tags": [t[j]["id"] for j in tags],
                }
            )
        )
    for i, post in enumerate(posts[:4]):
        for j in range(i + 1):
            await db.comments.create(
                {
                    "body": f"c{i}{j}",
                    "post_id": post["id"],
                    "author_id": (bob if j % 2 else cid)["id"],
                }
            )
    return db, {"ann": ann, "bob": bob, "cid": cid, "tags": t, "posts": posts}


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_nested_tree_values_and_order(make_db: MakeDb, strategy: str) -> None:
    db, data = await blog(make_db)
    rows = await db.query.users.find_many(
        columns={"id": True, "name": True, "score": True, "last_seen": True, "external_id": True,
                 "profile": True, "born": True},
        with_={
            "posts": {
                "columns": {"title": True, "status": True},
                "order_by": {"title": "desc"},
                "limit": 2,
                "with": {
                    "comments": {"columns": {"body": True}, "with": {"author": {"columns": {"name": True}}}},
                    "tags": {"columns": {"name": True}},
                },
            },
            "invited_by": {"columns": {"name": True}},
        },
        order_by={"name": "asc"},
        strategy=strategy,
    )  # fmt: skip
    ann, bob, cid = rows
    assert ann == {
        "id": data["ann"]["id"], "name": "ann", "score": 0.1 + 0.2,
        "last_seen": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        "external_id": uuid.UUID(int=7), "profile": {"k": [1, None]}, "born": dt.date(1990, 5, 6),
        "invited_by": None,
        "posts": [
            {"title": "post2", "status": "published", "comments": [
                {"body": "c20", "author": {"name": "cid"}},
                {"body": "c21", "author": {"name": "bob"}},
                {"body": "c22", "author": {"name": "cid"}}], "tags": []},
            {"title": "post1", "status": "draft", "comments": [
                {"body": "c10", "author": {"name": "cid"}},
                {"body": "c11", "author": {"name": "bob"}}], "tags": [{"name": "blue"}]},
        ],
    }  # fmt: skip
    assert type(ann["external_id"]) is uuid.UUID
    assert type(ann["score"]) is float
    assert bob["invited_by"] == {"name": "ann"}
    assert [p["title"] for p in bob["posts"]] == ["post4", "post3"]
    assert bob["posts"][1]["tags"] == [{"name": "red"}]
    assert cid["posts"] == [] and cid["invited_by"] == {"name": "bob"}
    assert cid["score"] is None and cid["external_id"] is None and cid["last_seen"] is None


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_full_rows_match_crud_reads(make_db: MakeDb, strategy: str) -> None:
    db, data = await blog(make_db)
    post = await db.query.posts.find_first(
        where={"title": "post0"}, with_={"author": True, "tags": True}, strategy=strategy
    )
    assert post is not None
    crud_post = await db.posts.read(data["posts"][0]["id"])
    assert crud_post is not None
    assert {k: v for k, v in post.items() if k not in ("author", "tags")} == {
        k: v for k, v in crud_post.items() if k != "tags"
    }
    assert post["author"] == data["ann"]
    assert [t["id"] for t in post["tags"]] == crud_post["tags"]
    for tag in post["tags"]:
        assert tag == await db.tags.read(tag["id"])


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_find_first_returns_none_and_offset(make_db: MakeDb, strategy: str) -> None:
    db, _ = await blog(make_db)
    assert await db.query.users.find_first(where={"name": "nobody"}, strategy=strategy) is None
    second = await db.query.users.find_first(order_by={"name": "asc"}, offset=1, strategy=strategy)
    assert second is not None and second["name"] == "bob"


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_per_parent_limit_and_offset(make_db: MakeDb, strategy: str) -> None:
    db, _ = await blog(make_db)
    rows = await db.query.posts.find_many(
        columns={"title": True},
        with_={"comments": {"columns": {"body": True}, "offset": 1, "limit": 1}},
        strategy=strategy,
    )
    assert [(r["title"], [c["body"] for c in r["comments"]]) for r in rows] == [
        ("post0", []), ("post1", ["c11"]), ("post2", ["c21"]), ("post3", ["c31"]), ("post4", []),
    ]  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_four_levels_and_self_relations(make_db: MakeDb, strategy: str) -> None:
    db, _ = await blog(make_db)
    rows = await db.query.users.find_many(
        columns={"name": True},
        where={"name": "ann"},
        with_={"invitees": {"columns": {"name": True}, "with": {"invitees": {
            "columns": {"name": True}, "with": {"posts": {"columns": {"title": True},
                                                          "with": {"comments": {"columns": {"body": True}}}}}}}}},
        strategy=strategy,
    )  # fmt: skip
    assert rows == [{"name": "ann", "invitees": [{"name": "bob", "invitees": [
        {"name": "cid", "posts": []}]}]}]  # fmt: skip
    deep = await db.query.comments.find_many(
        columns={"body": True},
        where={"body": "c30"},
        with_={"post": {"columns": {"title": True}, "with": {"author": {"columns": {"name": True}, "with": {
            "invited_by": {"columns": {"name": True}}}}}}},
        strategy=strategy,
    )  # fmt: skip
    assert deep == [{"body": "c30", "post": {"title": "post3", "author": {
        "name": "bob", "invited_by": {"name": "ann"}}}}]  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_columns_rules_and_extras(make_db: MakeDb, strategy: str) -> None:
    db, _ = await blog(make_db)
    only = await db.query.tags.find_many(columns={"name": True, "id": False}, strategy=strategy)
    assert only == [{"name": "red"}, {"name": "green"}, {"name": "blue"}]
    without = await db.query.tags.find_first(columns={"created_at": False, "updated_at": False})
    assert without is not None and set(without) == {"id", "name"}
    rows = await db.query.users.find_many(
        columns={"name": True},
        extras={"name_length": lambda t: sa.func.length(t.c.name), "double_id": lambda t: t.c.id * 2},
        with_={"posts": {"columns": {}, "extras": {"title_length": lambda t: sa.func.length(t.c.title)},
                         "limit": 1}},
        order_by={"name": "asc"},
        strategy=strategy,
    )  # fmt: skip
    assert rows[0] == {"name": "ann", "name_length": 3, "double_id": rows[0]["double_id"],
                       "posts": [{"title_length": 5}]}  # fmt: skip
    assert rows[0]["double_id"] % 2 == 0
    assert rows[2] == {
        "name": "cid",
        "name_length": 3,
        "double_id": rows[2]["double_id"],
        "posts": [],
    }


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_relation_filters(make_db: MakeDb, strategy: str) -> None:
    db, _ = await blog(make_db)

    async def names(where: dict[str, Any]) -> list[str]:
        rows = await db.query.users.find_many(
            columns={"name": True}, where=where, order_by={"name": "asc"}, strategy=strategy
        )
        return [r["name"] for r in rows]

    assert await names({"posts": True}) == ["ann", "bob"]
    assert await names({"posts": False}) == ["cid"]
    assert await names({"posts": {"status": "draft"}}) == ["ann", "bob"]
    assert await names({"posts": {"tags": {"name": "red"}}}) == ["ann", "bob"]
    assert await names({"posts": {"tags": {"name": "blue"}}}) == ["ann"]
    assert await names({"invited_by": {"name": "ann"}}) == ["bob"]
    assert await names({"invited_by": True}) == ["bob", "cid"]
    assert await names({"NOT": {"posts": {"comments": True}}}) == ["cid"]
    assert await names({"invitees": {"invitees": True}}) == ["ann"]
    await db.tags.create({"name": "lonely"})
    tags = await db.query.tags.find_many(columns={"name": True}, where={"posts": False})
    assert tags == [{"name": "lonely"}]
    nested = await db.query.posts.find_many(
        columns={"title": True},
        with_={"comments": {"columns": {"body": True}, "where": {"author": {"name": "bob"}}}},
        where={"author": {"name": "ann"}},
        strategy=strategy,
    )
    assert nested == [
        {"title": "post0", "comments": []},
        {"title": "post1", "comments": [{"body": "c11"}]},
        {"title": "post2", "comments": [{"body": "c21"}]},
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_transaction_sees_its_own_writes(make_db: MakeDb, strategy: str) -> None:
    db, data = await blog(make_db)
    async with db.transaction() as tx:
        await tx.posts.create({"title": "in tx", "author_id": data["cid"]["id"]})
        row = await tx.query.users.find_first(
            where={"name": "cid"}, with_={"posts": {"columns": {"title": True}}}, strategy=strategy
        )
        assert row is not None and row["posts"] == [{"title": "in tx"}]
        prepared = tx.query.users.find_first(where={"name": "cid"}, with_={"posts": True}).prepare()
        assert len((await prepared.execute())["posts"]) == 1
    assert await db.posts.count({"title": "in tx"}) == 1


async def test_to_sql_shows_one_statement_for_lateral(make_db: MakeDb) -> None:
    db, _ = await blog(make_db)
    query = db.query.users.find_many(with_={"posts": {"limit": 3}}, strategy="lateral")
    sql = query.to_sql()
    assert sql.count("SELECT") >= 2 and ";" not in sql
    if db.dialect.name == "postgresql":
        assert "LEFT OUTER JOIN LATERAL" in sql and "json_agg" in sql
    elif db.dialect.name == "sqlite":
        assert "json_group_array" in sql
    else:
        assert "JSON_ARRAYAGG" in sql and "LIMIT" in sql
    batched = db.query.users.find_many(with_={"posts": {"limit": 3}}, strategy="batched").to_sql()
    assert batched.count(";") == 1 and "row_number() OVER" in batched


async def test_auto_strategy_picks_by_shape(make_db: MakeDb) -> None:
    db, _ = await blog(make_db)
    point = db.query.users.find_first(where={"id": 1}, with_={"posts": True}).prepare()
    assert point.strategy == "lateral"
    # Two levels under many parents: batched on every backend (tests/query/
    # test_auto_strategy.py has the whole rule, per dialect).
    fanout = db.query.users.find_many(with_={"posts": {"with": {"tags": True}}}).prepare()
    assert fanout.strategy == "batched"
    flat = db.query.users.find_many().prepare()
    assert flat.strategy == "batched"
    with pytest.raises(
        QueryError,
        match=r"^strategy: unknown strategy 'fastest'; strategies: auto, lateral, batched$",
    ):
        db.query.users.find_many(strategy="fastest")  # type: ignore[arg-type]


async def test_plans_are_cached_by_shape(make_db: MakeDb) -> None:
    db, _ = await blog(make_db)
    engine = db._planner
    before = len(engine._cache)
    for name in ("ann", "bob", "cid", "nobody"):
        await db.query.users.find_many(where={"name": name}, with_={"posts": True})
    assert len(engine._cache) == before + 1
    await db.query.users.find_many(where={"name": {"ne": "x"}}, with_={"posts": True})
    assert len(engine._cache) == before + 2
