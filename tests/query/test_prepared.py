"""Prepared queries: placeholders everywhere, concurrency, misuse."""

from __future__ import annotations

import anyio
import pytest
import sqlalchemy as sa

from deesse_async import Database, QueryError, placeholder
from tests.blog import BLOG
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio


async def seeded(make_db: MakeDb) -> Database:
    db = await make_db(BLOG)
    users = await db.users.create_many(
        [{"name": f"user{i:02d}", "email": f"u{i}@example.com", "age": i} for i in range(20)]
    )
    for u in users:
        await db.posts.create_many(
            [{"title": f"{u['name']}-p{j}", "author_id": u["id"]} for j in range(u["age"] % 4)]
        )
    return db


@pytest.mark.parametrize("strategy", ["lateral", "batched"])
async def test_prepared_equals_unprepared(make_db: MakeDb, strategy: str) -> None:
    db = await seeded(make_db)
    prepared = db.query.users.find_many(
        where={
            "age": {"in": [placeholder("a"), placeholder("b")]},
            "name": {"like": placeholder("pat")},
        },
        with_={"posts": {"limit": placeholder("n"), "order_by": {"title": "desc"}}},
        limit=placeholder("limit"),
        strategy=strategy,
    ).prepare("users_by_age")
    assert prepared.name == "users_by_age" and prepared.strategy == strategy
    got = await prepared.execute(a=3, b=7, pat="user%", n=2, limit=10)
    expected = await db.query.users.find_many(
        where={"age": {"in": [3, 7]}, "name": {"like": "user%"}},
        with_={"posts": {"limit": 2, "order_by": {"title": "desc"}}},
        limit=10,
        strategy=strategy,
    )
    assert got == expected
    assert [u["age"] for u in got] == [3, 7]
    assert [len(u["posts"]) for u in got] == [2, 2]
    assert await prepared.execute({"a": 100, "b": 101, "pat": "%", "n": 1, "limit": 5}) == []


async def test_200_concurrent_executions(make_db: MakeDb) -> None:
    db = await seeded(make_db)
    by_id = db.query.users.find_first(
        where={"id": placeholder("id")}, with_={"posts": {"columns": {"title": True}}}
    ).prepare()
    users = await db.query.users.find_many(columns={"id": True, "name": True, "age": True})
    failures: list[str] = []

    async def one(i: int) -> None:
        user = users[i % len(users)]
        row = await by_id.execute(id=user["id"])
        titles = [p["title"] for p in row["posts"]]
        if row["name"] != user["name"] or titles != [
            f"{user['name']}-p{j}" for j in range(user["age"] % 4)
        ]:
            failures.append(f"{i}: {row}")

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(one, i)
    assert failures == []


async def test_placeholder_misuse(make_db: MakeDb) -> None:
    db = await seeded(make_db)
    query = db.query.users.find_first(where={"id": placeholder("id")})
    with pytest.raises(QueryError, match=r"holds placeholders \('id'\): call .prepare\(\)"):
        await query
    prepared = query.prepare()
    with pytest.raises(QueryError, match="missing 'id'"):
        await prepared.execute()
    with pytest.raises(QueryError, match="unexpected 'ix'"):
        await prepared.execute(id=1, ix=2)
    with pytest.raises(QueryError, match="placeholder 'id': expected an integer, got 'one'"):
        await prepared.execute(id="one")
    limited = db.query.users.find_many(limit=placeholder("n")).prepare()
    with pytest.raises(QueryError, match="limit/offset must be >= 0"):
        await limited.execute(n=-1)
    assert len(await limited.execute(n=3)) == 3


async def test_placeholder_in_raw_and_extras(make_db: MakeDb) -> None:
    db = await seeded(make_db)
    prepared = db.query.users.find_many(
        columns={"name": True},
        where={"RAW": lambda t: t.c.age > placeholder("min_age")},
        extras={"age_plus": lambda t: t.c.age + placeholder("bonus")},
        order_by={"age": "desc"},
        limit=2,
    ).prepare()
    rows = await prepared.execute(min_age=5, bonus=100)
    assert rows == [{"name": "user19", "age_plus": 119}, {"name": "user18", "age_plus": 118}]
    with pytest.raises(QueryError, match="missing 'bonus'"):
        await prepared.execute(min_age=5)


async def test_relation_filter_with_placeholder(make_db: MakeDb) -> None:
    db = await seeded(make_db)
    prepared = db.query.users.find_many(
        columns={"name": True}, where={"posts": {"title": placeholder("t")}}
    ).prepare()
    assert await prepared.execute(t="user05-p0") == [{"name": "user05"}]
    assert await prepared.execute(t="nope") == []


async def test_raw_where_and_callable_order_by(make_db: MakeDb) -> None:
    db = await seeded(make_db)
    rows = await db.query.users.find_many(
        columns={"age": True},
        where={"RAW": lambda t: sa.func.length(t.c.name) == 6, "age": {"lt": 3}},
        order_by=lambda t: [t.c.age.desc()],
    )
    assert rows == [{"age": 2}, {"age": 1}, {"age": 0}]
