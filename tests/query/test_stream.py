"""``stream``: the rows find_many returns, read a chunk at a time, on every backend.

Both ways of reading are checked where the backend has both: keyset chunks everywhere,
a server-side cursor on PostgreSQL (also through PgBouncer, when asked for)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI, Query
from fastapi.responses import StreamingResponse

import deesse_async
from deesse_async import Database, QueryError, placeholder
from deesse_async.fastapi import install_error_handlers
from tests.access.world import VIEWERS, world_collections
from tests.access.world import seed as seed_world
from tests.blog import BLOG
from tests.conftest import MakeDb
from tests.query.keyset_data import NESTED, ORDERS, seed

pytestmark = pytest.mark.anyio

WHERE = {"OR": [{"age": {"gte": 30}}, {"age": None}, {"name": {"like": "u01%"}}]}


async def collect(stream: Any) -> list[dict[str, Any]]:
    return [row async for row in stream]


def modes(db: Database) -> tuple[str, ...]:
    """The stream modes ``db``'s backend has."""
    return ("keyset", "cursor") if db.dialect.server_cursors else ("keyset",)


async def test_rows_equal_find_many_for_every_order_and_strategy(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    users = await seed(db)
    for order in ORDERS:
        for strategy in ("lateral", "batched", "auto"):
            options: dict[str, Any] = dict(
                with_=NESTED, where=WHERE, order_by=order, strategy=strategy,
                extras={"name_length": lambda t: t.c.name.op("||")("!")},
            )  # fmt: skip
            expected = await db.query.users.find_many(**options)
            for mode in modes(db):
                got = await collect(db.query.users.stream(**options, chunk_size=3, mode=mode))
                assert got == expected, (order, strategy, mode)
    # The options are not trivial: rows are filtered, nested rows and NULLs present.
    assert 10 < len(expected) < len(users)
    assert any(r["age"] is None for r in expected)
    assert any(c["author"] for r in expected for p in r["posts"] for c in p["comments"])


async def test_nulls_sort_above_every_value_on_every_backend(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await seed(db, 12)
    asc = [r["age"] async for r in db.query.users.stream(order_by={"age": "asc"}, chunk_size=2)]
    desc = await db.query.users.find_many(columns={"age": True}, order_by={"age": "desc"})
    assert asc == [20] * 3 + [30] * 3 + [40] * 3 + [None] * 3
    assert [r["age"] for r in desc] == [None] * 3 + [40] * 3 + [30] * 3 + [20] * 3


async def test_chunks_hold_at_most_chunk_size_rows_with_their_relations(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await seed(db, 23)
    nested = {"posts": {"with": {"comments": True}}}
    expected = await db.query.users.find_many(with_=nested)
    for mode in modes(db):
        for strategy in ("lateral", "batched"):
            stream = db.query.users.stream(with_=nested, chunk_size=5, mode=mode, strategy=strategy)
            sizes = [len(rows) async for rows in stream.chunks()]
            assert sizes == [5, 5, 5, 5, 3], (mode, strategy)
            chunked = [row async for rows in stream.chunks() for row in rows]
            assert chunked == expected, (mode, strategy)
        # chunk_size a divisor of the row count: the last chunk is full, then nothing.
        whole = db.query.users.stream(chunk_size=23, mode=mode)
        assert [len(r) async for r in whole.chunks()] == [23]
        ones = db.query.users.stream(chunk_size=1, mode=mode)
        assert [len(r) async for r in ones.chunks()] == [1] * 23


@pytest.mark.parametrize(("limit", "offset"), [(10, 3), (0, None), (None, 20), (7, None), (50, 38)])
async def test_limit_and_offset(make_db: MakeDb, limit: Any, offset: Any) -> None:
    db = await make_db(BLOG)
    await seed(db)
    options = dict(order_by={"age": "desc"}, limit=limit, offset=offset, with_={"posts": True})
    expected = await db.query.users.find_many(**options)
    for mode in modes(db):
        got = await collect(db.query.users.stream(**options, chunk_size=4, mode=mode))
        assert got == expected, mode


async def test_leaving_the_loop_early_releases_the_connection(make_db: MakeDb) -> None:
    """Keyset chunks hold no connection between chunks, even while the loop waits."""
    db = await make_db(BLOG, pool_size=1)
    await seed(db, 12)
    stream = db.query.users.stream(with_={"posts": True}, chunk_size=3, mode="keyset")
    async for _ in stream:
        break
    with anyio.fail_after(10):  # the pool's one connection is free again
        assert len(await db.query.users.find_many()) == 12
    with pytest.raises(RuntimeError, match="stop"):
        async for row in db.query.users.stream(chunk_size=2, mode="keyset"):
            if row["name"] == "u003":
                raise RuntimeError("stop")
    async with db.query.users.stream(chunk_size=2, mode="keyset") as rows:
        async for _row in rows:
            with anyio.fail_after(10):  # free even while the loop is suspended
                await db.users.count()
            break
    with anyio.fail_after(10):
        assert await db.users.count() == 12
    # A loop cancelled from outside (a client gone) leaves it free too.
    with anyio.move_on_after(0.05):
        async for _ in db.query.users.stream(chunk_size=1, mode="keyset"):
            await anyio.sleep(0.02)
    with anyio.fail_after(10):
        assert await db.users.count() == 12


@pytest.mark.backends("postgresql", "pgbouncer")
async def test_a_cursor_gives_its_connection_back_when_the_loop_ends(make_db: MakeDb) -> None:
    """A cursor holds its connection (and its transaction) while the loop runs, and
    gives it back however the loop ends: a ``break`` with the iterator dropped, the end
    of ``async with``, an exception, a cancellation from outside."""
    db = await make_db(BLOG, pool_size=1, pool_timeout=5)
    await seed(db, 12)

    async def pool_is_free() -> None:
        with anyio.fail_after(10):  # the pool's one connection, outside any transaction
            assert await db.users.count() == 12

    async for _ in db.query.users.stream(with_={"posts": True}, chunk_size=3, mode="cursor"):
        break
    await pool_is_free()
    stream = db.query.users.stream(chunk_size=2, mode="cursor")
    async with stream as rows:
        async for _row in rows:
            break
    await pool_is_free()
    with pytest.raises(RuntimeError, match="stop"):
        async for row in db.query.users.stream(chunk_size=2, mode="cursor"):
            if row["name"] == "u003":
                raise RuntimeError("stop")
    await pool_is_free()
    for delay in (0.0, 0.001, 0.003, 0.05):  # a client gone, at several moments
        with anyio.move_on_after(delay):
            async for _ in db.query.users.stream(chunk_size=1, mode="cursor"):
                await anyio.sleep(0.02)
        await pool_is_free()
    # While the loop runs, the connection is the stream's: another read waits for it.
    with pytest.raises(deesse_async.ConnectionError, match=r"pool_timeout"):
        async for _ in db.query.users.stream(chunk_size=2, mode="cursor"):
            await db.users.count()  # pool_timeout=5, then ConnectionError
    await pool_is_free()


@pytest.mark.backends("postgresql", "pgbouncer")
async def test_a_cursor_streams_one_snapshot_with_its_relations(
    make_db: MakeDb, backend: str
) -> None:
    """A cursor stream outside any transaction is one snapshot, relations included (each
    chunk's relations loaded in the cursor's repeatable-read transaction); keyset chunks
    see what was committed meanwhile. ``auto`` is a cursor, except behind PgBouncer."""
    db = await make_db(BLOG)
    users = await seed(db, 6)
    # A post of the fifth user: read in the third chunk, after the changes below.
    target = await db.query.posts.find_first(where={"author_id": users[4]["id"]})
    assert target is not None
    for strategy in ("lateral", "batched"):
        seen: dict[str, list[Any]] = {}
        for mode in ("cursor", "keyset", "auto"):
            tag = f"{mode}-{strategy}"
            names, titles = [], []
            stream = db.query.users.stream(
                columns={"name": True}, with_={"posts": {"columns": {"title": True}}},
                chunk_size=2, mode=mode, strategy=strategy,
            )  # fmt: skip
            async for row in stream:
                names.append(row["name"])
                titles += [p["title"] for p in row["posts"]]
                if len(names) == 1:  # chunk 1 read: another connection commits
                    late = await db.users.create({"name": f"zz-{tag}", "email": f"{tag}@x.io"})
                    await db.posts.create({"title": f"late-{tag}", "author_id": late["id"]})
                    await db.posts.update(target["id"], {"title": f"renamed-{tag}"})
            seen[mode] = [names, titles]
        cursor_names, cursor_titles = seen["cursor"]
        keyset_names, keyset_titles = seen["keyset"]
        tag = f"cursor-{strategy}"
        assert f"zz-{tag}" not in cursor_names and f"late-{tag}" not in cursor_titles
        assert f"renamed-{tag}" not in cursor_titles  # relations: the same snapshot
        tag = f"keyset-{strategy}"
        assert f"zz-{tag}" in keyset_names and f"late-{tag}" in keyset_titles
        assert f"renamed-{tag}" in keyset_titles
        auto = "keyset" if backend == "pgbouncer" else "cursor"
        tag = f"auto-{strategy}"
        renamed = [t.replace(tag, f"{auto}-{strategy}") for t in seen["auto"][1]]
        assert (f"zz-{tag}" in seen["auto"][0]) is (auto == "keyset"), backend
        assert (f"renamed-{auto}-{strategy}" in renamed) is (auto == "keyset"), backend


async def test_each_loop_reads_from_the_start(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await seed(db, 5)
    stream = db.query.users.stream(columns={"name": True}, chunk_size=2)
    first = await collect(stream)
    await db.users.create({"name": "late", "email": "late@example.com"})
    assert await collect(stream) == [*first, {"name": "late"}]


async def test_inside_a_transaction_it_sees_the_transaction(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await seed(db, 5)
    async with db.transaction() as tx:
        await tx.users.create({"name": "in-tx", "email": "tx@example.com"})
        names = [r["name"] async for r in tx.query.users.stream(chunk_size=2)]
        assert names[-1] == "in-tx" and len(names) == 6
    assert await db.users.count() == 6
    # Other statements of the transaction run between the rows (a cursor's portal stays
    # open beside them), and the stream sees its transaction's writes.
    for mode in modes(db):
        async with db.transaction() as tx:
            seen = 0
            stream = tx.query.users.stream(with_={"posts": True}, chunk_size=2, mode=mode)
            async for row in stream:
                await tx.posts.create({"title": f"{mode} {row['id']}", "author_id": row["id"]})
                seen += len(await tx.query.posts.find_many(where={"author_id": row["id"]}))
            assert seen == await tx.posts.count()
        assert await db.posts.count(where={"title": {"like": f"{mode} %"}}) == 6


@pytest.mark.backends("postgresql", "mysql")
async def test_a_repeatable_read_transaction_streams_one_snapshot(make_db: MakeDb) -> None:
    """Keyset chunks are separate statements; inside a repeatable-read transaction they all
    read the transaction's snapshot: a row committed by another connection half-way
    through the loop is not seen (under read committed, it is)."""
    db = await make_db(BLOG)
    await seed(db, 5)
    for isolation, sees_late in (("repeatable_read", False), ("read_committed", True)):
        async with db.transaction(isolation=isolation) as tx:
            names = []
            stream = tx.query.users.stream(columns={"name": True}, chunk_size=2, mode="keyset")
            async for row in stream:
                names.append(row["name"])
                if len(names) == 1:  # chunk 1 read: another connection commits a row
                    await db.users.create(
                        {"name": f"late-{isolation}", "email": f"{isolation}@x.io"}
                    )
        assert (f"late-{isolation}" in names) is sees_late, (isolation, names)
        assert len(names) == await db.users.count() - (0 if sees_late else 1)


@pytest.mark.parametrize("who", VIEWERS)
async def test_access_rules_apply_as_in_find_many(make_db: MakeDb, who: str) -> None:
    marked: list[Any] = []

    def mark(ctx: Any, row: dict[str, Any]) -> dict[str, Any]:
        marked.append(row["id"])
        return {**row, "seen_by": ctx.user and ctx.user["role"]}

    db = await make_db(world_collections(hooks={"posts": {"after_read": [mark]}}))
    w = await seed_world(db)
    view: Any = db if who == "anonymous" else db.with_user(w.viewer(who))
    options: dict[str, Any] = dict(
        with_={"posts": {"with": {"comments": True, "tags": True}}, "manager": True},
        order_by={"name": "desc"},
    )
    expected = await view.query.users.find_many(**options)
    marked.clear()
    got = await collect(view.query.users.stream(**options, chunk_size=1))
    assert got == expected
    assert sorted(marked) == sorted(p["id"] for u in expected for p in u["posts"])
    everything = await db.trusted().query.users.find_many(**options)
    if who != "admin":  # the rules took rows, nested rows or fields away
        assert got != everything
    else:
        assert [u["id"] for u in got] == [u["id"] for u in everything]


async def test_before_read_hooks_run_once_per_loop_in_every_mode(make_db: MakeDb) -> None:
    calls: list[Any] = []

    def before_read(ctx: Any, options: Any) -> None:
        calls.append(dict(options))

    db = await make_db(world_collections(hooks={"users": {"before_read": [before_read]}}))
    await seed_world(db)
    for mode in ("auto", *modes(db)):
        calls.clear()
        rows = await collect(
            db.query.users.stream(chunk_size=1, mode=mode, order_by={"name": "asc"})
        )
        assert len(rows) > 2
        assert calls == [{"order_by": {"name": "asc"}}], mode


async def test_ordering_by_a_hidden_field_is_refused(make_db: MakeDb) -> None:
    db = await make_db(world_collections())
    w = await seed_world(db)
    member = db.with_user(w.viewer("member"))
    with pytest.raises(QueryError, match="salary"):
        await collect(member.query.users.stream(order_by={"salary": "desc"}))


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": -5}, "chunk_size"),
        ({"chunk_size": True}, "chunk_size"),
        ({"chunk_size": "100"}, "chunk_size"),
        ({"chunk_size": 100_001}, "chunk_size"),
        ({"limit": -1}, "limit"),
        ({"limit": placeholder("n")}, "limit"),
        ({"order_by": lambda t: [t.c.name], "mode": "keyset"}, "order_by"),
        ({"order_by": {"profile": "asc"}, "mode": "keyset"}, "order_by.profile"),
        ({"mode": "server"}, "mode"),
        ({"order_by": {"nmae": "asc"}}, "order_by.nmae"),
        ({"where": {"id": placeholder("id")}}, ""),
        ({"chunksize": 10}, "chunksize"),
    ],
)
async def test_bad_options_are_query_errors_before_any_sql(
    make_db: MakeDb, kwargs: dict[str, Any], path: str
) -> None:
    db: Database = await make_db(BLOG)
    await db.close()  # nothing may reach the database
    with pytest.raises(QueryError) as info:
        db.query.users.stream(**kwargs)
    assert info.value.path == path


async def test_fastapi_ndjson_export_and_paginated_endpoint(make_db: MakeDb) -> None:
    """The two snippets of docs/production.md, through real HTTP requests."""
    db = await make_db(BLOG, pool_size=1)
    await seed(db, 25)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/export/users.ndjson")
    async def export_users() -> Any:
        rows = db.query.users.stream(
            columns={"id": True, "name": True, "last_seen": True},
            with_={"posts": {"columns": {"title": True}}},
            order_by={"last_seen": "desc"},
            chunk_size=4,
        )

        async def lines() -> Any:
            async for chunk in rows.chunks():
                yield "".join(json.dumps(row, default=str) + "\n" for row in chunk)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/users")
    async def list_users(after: str | None = None, first: int = Query(20, ge=1, le=100)) -> Any:
        return await db.query.users.find_page(
            columns={"id": True, "name": True}, order_by={"age": "desc"}, first=first, after=after
        )

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/export/users.ndjson")
        exported = [json.loads(line) for line in response.text.splitlines()]
        expected = await db.query.users.find_many(
            columns={"id": True, "name": True, "last_seen": True},
            with_={"posts": {"columns": {"title": True}}},
            order_by={"last_seen": "desc"},
        )
        assert [r["id"] for r in exported] == [r["id"] for r in expected]
        assert exported[5]["last_seen"] == str(expected[5]["last_seen"])
        assert [len(r["posts"]) for r in exported] == [len(r["posts"]) for r in expected]

        walked, after = [], None
        while True:
            params = {"first": 7, **({"after": after} if after else {})}
            page = (await client.get("/users", params=params)).json()
            walked += page["items"]
            if not page["has_more"]:
                break
            after = page["next"]
        assert walked == await db.query.users.find_many(
            columns={"id": True, "name": True}, order_by={"age": "desc"}
        )
        bad = await client.get("/users", params={"after": "forged"})
        assert bad.status_code == 400 and "after" in bad.text


@pytest.mark.backends("sqlite", "mysql")
async def test_cursor_mode_where_the_backend_has_none_is_a_query_error(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await seed(db, 3)
    with pytest.raises(QueryError, match=r"has no server-side cursors .*use mode='keyset'") as info:
        db.query.users.stream(mode="cursor")
    assert info.value.path == "mode"
    # auto reads keyset chunks there, whatever the order given
    assert len(await collect(db.query.users.stream(mode="auto", chunk_size=2))) == 3
