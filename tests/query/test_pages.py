"""``find_page``: keyset pagination walks every row once, in find_many's order, on every
backend; tokens are opaque, exact and checked."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from deesse_async import Database, QueryError, placeholder
from deesse_async.query.keyset import key_columns
from deesse_async.query.pages import MAX_PAGE_SIZE, encode_token
from tests.access.world import VIEWERS, world_collections
from tests.access.world import seed as seed_world
from tests.blog import BLOG
from tests.conftest import MakeDb
from tests.query.keyset_data import NESTED, ORDERS, seed

pytestmark = pytest.mark.anyio


async def walk(q: Any, first: int, **options: Any) -> list[dict[str, Any]]:
    """Every page in turn; checks the page invariants on the way."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = await q.find_page(**options, first=first, after=after)
        assert set(page) == {"items", "next", "has_more"}
        assert len(page["items"]) <= first
        assert page["has_more"] == (page["next"] is not None)
        if page["has_more"]:
            assert len(page["items"]) == first
        out += page["items"]
        if not page["has_more"]:
            return out
        after = page["next"]


async def test_walking_every_order_gives_find_many_rows(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    users = await seed(db)
    for order in ORDERS:
        options: dict[str, Any] = {"order_by": order, "with_": NESTED}
        expected = await db.query.users.find_many(**options)
        for first in (1, 3, 40):
            got = await walk(db.query.users, first, **options)
            assert got == expected, (order, first)
    assert len(got) == len(users)
    assert len({r["id"] for r in got}) == len(users)


async def test_where_and_strategies(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await seed(db)
    where = {"OR": [{"age": {"gte": 30}}, {"age": None}]}
    for strategy in ("lateral", "batched"):
        options: dict[str, Any] = dict(
            where=where, order_by={"age": "desc", "last_seen": "asc"},
            with_=NESTED, strategy=strategy,
        )  # fmt: skip
        expected = await db.query.users.find_many(**options)
        assert 0 < len(expected) < 40
        assert await walk(db.query.users, 4, **options) == expected


async def test_rows_inserted_between_pages(make_db: MakeDb) -> None:
    """Keyset stability: no row is repeated or skipped while rows are added between pages;
    a new row shows up exactly when it sorts after the page already read."""
    db = await make_db(BLOG)
    users = await seed(db)
    order = {"age": "asc"}
    seen: list[int] = []
    later: list[int] = []
    after = None
    n = 0
    while True:
        page = await db.query.users.find_page(order_by=order, first=6, after=after)
        seen += [r["id"] for r in page["items"]]
        if not page["has_more"]:
            break
        after = page["next"]
        n += 1
        # Before the position (age 0 < every seeded age): never seen. NULL age: sorts
        # last, after every position, so it is seen at the end.
        await db.users.create({"name": f"before{n}", "email": f"b{n}@example.com", "age": 0})
        new = await db.users.create({"name": f"late{n}", "email": f"l{n}@example.com"})
        later.append(new["id"])
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted([u["id"] for u in users] + later)
    assert seen[-len(later) :] == later


async def test_descending_walk_with_inserts(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    users = await seed(db)
    page = await db.query.users.find_page(order_by={"age": "desc"}, first=15)
    # NULLs come first in DESC: a NULL age now sorts before the position (never seen).
    await db.users.create({"name": "null", "email": "null@example.com"})
    rest = await walk(db.query.users, 15, order_by={"age": "desc"})
    # A fresh walk sees it at the end of the NULLs (ties broken by id, ascending).
    assert [r["age"] for r in rest[:12]] == [None] * 11 + [40]
    assert rest[10]["name"] == "null"
    tail = []
    after = page["next"]
    while after is not None:
        nxt = await db.query.users.find_page(order_by={"age": "desc"}, first=15, after=after)
        tail += nxt["items"]
        after = nxt["next"]
    ids = [r["id"] for r in page["items"] + tail]
    assert sorted(ids) == sorted(u["id"] for u in users)


async def test_tokens_carry_typed_values_exactly(make_db: MakeDb) -> None:
    """Timestamps 1 microsecond apart, 0.1 + 0.2 next to 0.3, UUIDs and dates: one row
    per page, so each page starts from a token holding exactly the previous row's values."""
    db = await make_db(BLOG)
    await seed(db, 30)
    for order in ({"last_seen": "asc"}, {"score": "desc"}, {"external_id": "desc"},
                  {"born": "asc", "last_seen": "desc", "score": "asc"}):  # fmt: skip
        expected = await db.query.users.find_many(columns={"name": True}, order_by=order)
        assert await walk(db.query.users, 1, columns={"name": True}, order_by=order) == expected


@pytest.mark.parametrize("who", VIEWERS)
async def test_access_rules_apply(make_db: MakeDb, who: str) -> None:
    db = await make_db(world_collections())
    w = await seed_world(db)
    view: Any = db if who == "anonymous" else db.with_user(w.viewer(who))
    options = {
        "with_": {"posts": {"with": {"tags": True}}, "org": True},
        "order_by": {"name": "asc"},
    }
    expected = await view.query.users.find_many(**options)
    assert await walk(view.query.users, 2, **options) == expected
    if who != "admin":
        assert expected != await db.trusted().query.users.find_many(**options)


def _forge(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_bad_tokens_are_query_errors(make_db: MakeDb) -> None:
    db: Database = await make_db(BLOG)
    await seed(db, 6)
    users = db.query.users
    page = await users.find_page(order_by={"age": "asc"}, first=2)
    token = page["next"]
    assert token is not None and "=" not in token and "age" not in token  # opaque, URL-safe
    keys = key_columns(db._planner.schema, users.find_many(order_by={"age": "asc"}).node, "t")
    digest = json.loads(base64.urlsafe_b64decode(token + "==="))["o"]
    bad: list[tuple[Any, str]] = [
        ("", "empty"),
        ("!!!", "does not decode"),
        (token[:-3], "does not decode"),
        ("x" * 5000, "too long"),
        (_forge([1, 2]), "format"),
        (_forge({"v": 2, "o": digest, "k": [1, 1]}), "format"),
        (_forge({"v": 1, "o": digest, "k": [1]}), "number of key values"),
        (_forge({"v": 1, "o": digest, "k": ["abc", 1]}), "does not fit 'age'"),
        (_forge({"v": 1, "o": digest, "k": [20, None]}), "'id' cannot be null"),
        (_forge({"v": 1, "o": digest, "k": [20, "one"]}), "does not fit 'id'"),
        (_forge({"v": 1, "o": digest, "k": [2**70, 1]}), "does not fit 'age'"),
        (123, "expected a page token"),
    ]
    for value, message in bad:
        with pytest.raises(QueryError, match=message) as info:
            await users.find_page(order_by={"age": "asc"}, first=2, after=value)
        assert info.value.path.startswith("after"), value
    # A token of another order or collection is refused, naming the order it needs.
    with pytest.raises(QueryError, match=r"another collection or order_by.*age desc, id asc"):
        await users.find_page(order_by={"age": "desc"}, after=token)
    with pytest.raises(QueryError, match="another collection or order_by"):
        await users.find_page(after=token)
    with pytest.raises(QueryError, match="another collection or order_by"):
        await db.query.posts.find_page(after=token)
    # A forged but well-formed token only chooses where the page starts.
    forged = encode_token("users", keys, [30, 0])
    rows = (await users.find_page(order_by={"age": "asc"}, first=10, after=forged))["items"]
    assert rows and all(r["age"] in (30, 40, None) for r in rows)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"first": 0}, "first"),
        ({"first": -1}, "first"),
        ({"first": MAX_PAGE_SIZE + 1}, "first"),
        ({"first": True}, "first"),
        ({"first": "20"}, "first"),
        ({"limit": 5}, "limit"),
        ({"offset": 5}, "offset"),
        ({"order_by": lambda t: [t.c.name]}, "order_by"),
        ({"order_by": {"profile": "desc"}}, "order_by.profile"),
        ({"where": {"agee": 3}}, "where.agee"),
        ({"where": {"id": placeholder("id")}}, ""),
    ],
)
async def test_bad_options(make_db: MakeDb, kwargs: dict[str, Any], path: str) -> None:
    db = await make_db(BLOG)
    await db.close()  # refused before any SQL
    with pytest.raises(QueryError) as info:
        await db.query.users.find_page(**kwargs)
    assert info.value.path == path


async def test_last_page_and_empty_table(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    assert await db.query.users.find_page() == {"items": [], "next": None, "has_more": False}
    await seed(db, 4)
    page = await db.query.users.find_page(columns={"name": True}, first=4)
    assert page == {"items": [{"name": f"u{i:03d}"} for i in range(4)], "next": None,
                    "has_more": False}  # fmt: skip
    page = await db.query.users.find_page(columns={"name": True}, first=3)
    assert page["has_more"] and len(page["items"]) == 3
    last = await db.query.users.find_page(columns={"name": True}, first=3, after=page["next"])
    assert last == {"items": [{"name": "u003"}], "next": None, "has_more": False}


async def test_ordering_by_an_aggregate_is_a_query_error(make_db: MakeDb) -> None:
    """Keyset pages and streams continue after the last row's column values: ordering by
    an aggregate is refused with a QueryError naming it (it was a KeyError)."""
    from deesse_async import agg

    db: Database = await make_db(BLOG)
    await seed(db, 3)
    aggs = {"n": agg.count("posts")}
    with pytest.raises(
        QueryError, match=r"order_by\.n: find_page cannot order by the aggregate 'n'"
    ):
        await db.query.users.find_page(aggregates=aggs, order_by={"n": "desc"})
    by_count: dict[str, Any] = dict(aggregates=aggs, order_by={"n": "desc"})
    with pytest.raises(QueryError, match=r"order_by\.n: stream cannot order by the aggregate 'n'"):
        async for _ in db.query.users.stream(**by_count, mode="keyset"):
            pass
    if db.dialect.server_cursors:  # one statement through a cursor: any order goes
        streamed = [r async for r in db.query.users.stream(**by_count, mode="cursor")]
        assert streamed == await db.query.users.find_many(**by_count)
    # Aggregates themselves are fine in pages and streams, beside a column order.
    page = await db.query.users.find_page(aggregates=aggs, order_by={"name": "asc"}, first=50)
    expected = await db.query.users.find_many(aggregates=aggs, order_by={"name": "asc"})
    assert page["items"] == expected and not page["has_more"]
    assert [r async for r in db.query.users.stream(aggregates=aggs, chunk_size=1)] == (
        await db.query.users.find_many(aggregates=aggs)
    )
