"""create_many: many rows in few statements, all or nothing, rows back in input order.

On dialects with INSERT ... RETURNING (PostgreSQL, SQLite) rows go in multi-row
statements of ``max_rows`` rows each; on MariaDB one statement per row. Every test runs
on the three backends and checks the same results.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from deesse_async import (
    Database,
    ForeignKeyViolation,
    UniqueViolation,
    ValidationError,
    boolean,
    collection,
    field,
    integer,
    json,
    relation,
    required,
    text,
    unique,
)
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

Authors = collection(slug="authors", fields={"name": unique(required(field(type=text(max=100))))})
Tags = collection(slug="tags", fields={"name": unique(required(field(type=text(max=40))))})
Posts = collection(
    slug="posts",
    fields={
        "title": required(field(type=text(min=1, max=200))),
        "slug": unique(field(type=text(max=200))),
        "views": field(type=integer(min=0), default=0),
        "published": field(type=boolean(), default=False),
        "meta": field(type=json()),
        "author": required(field(type=relation("authors"))),
        "tags": field(type=relation("tags", many=True, related_name="posts")),
    },
)
# uuid keys on both sides of a many-to-many relation
Labels = collection(
    slug="labels",
    id_type="uuid",
    fields={"name": unique(required(field(type=text(max=40))))},
)
Notes = collection(
    slug="notes",
    id_type="uuid",
    fields={
        "body": required(field(type=text(max=200))),
        "author": field(type=relation("authors")),
        "labels": field(type=relation("labels", many=True)),
    },
)
ALL = [Authors, Tags, Posts, Labels, Notes]


async def setup(make_db: MakeDb) -> tuple[Database, list[int]]:
    db = await make_db(ALL)
    authors = await db.authors.create_many([{"name": "ann"}, {"name": "bob"}])
    return db, [a["id"] for a in authors]


def max_rows(db: Database, slug: str) -> int:
    """Rows per multi-row INSERT of ``slug`` (internal); 50 where rows go one by one."""
    many = getattr(db._statements[slug], "insert_many", None)  # type: ignore[attr-defined]
    return 50 if many is None else int(many.max_rows)


def post(i: int, author: int, **more: Any) -> dict[str, Any]:
    return {"title": f"post {i}", "slug": f"p-{i}", "author_id": author, **more}


def expected(row: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The row ``item`` should have become: its values, defaults, the stored extras."""
    return {
        "id": row["id"],
        "title": item["title"],
        "slug": item.get("slug"),
        "views": item.get("views", 0),
        "published": item.get("published", False),
        "meta": item.get("meta"),
        "author_id": item["author_id"],
        "tags": sorted(set(item.get("tags") or [])),
        "created_at": row["created_at"],
        "updated_at": row["created_at"],
    }


async def reads(db: Database, slug: str, rows: list[dict[str, Any]]) -> list[Any]:
    return [await db.collection(slug).read(r["id"]) for r in rows]


async def titles(db: Database) -> list[str]:
    rows = await db.query.posts.find_many(columns={"title": True}, order_by={"id": "asc"})
    return [r["title"] for r in rows]


async def test_a_thousand_rows_come_back_in_order_as_read_returns_them(make_db: MakeDb) -> None:
    db, (ann, bob) = await setup(make_db)
    items = [
        post(
            i,
            ann if i % 3 else bob,
            views=i * 7,
            published=i % 2 == 0,
            meta={"n": i, "tags": ["x", i]} if i % 5 == 0 else None,
        )
        for i in range(1000)
    ]
    before = dt.datetime.now(dt.UTC)
    rows = await db.posts.create_many(items)
    assert rows == [expected(r, item) for r, item in zip(rows, items, strict=True)]
    ids = [r["id"] for r in rows]
    assert ids == sorted(set(ids))  # ascending, each once
    stamps = {r["created_at"] for r in rows} | {r["updated_at"] for r in rows}
    assert len(stamps) == 1
    stamp = stamps.pop()
    assert stamp.tzinfo is not None
    assert before - dt.timedelta(seconds=1) <= stamp <= dt.datetime.now(dt.UTC)
    assert rows == await reads(db, "posts", rows)
    assert await titles(db) == [f"post {i}" for i in range(1000)]


@pytest.mark.parametrize("extra", [-1, 0, 1, "double+1"])
async def test_chunk_boundaries(make_db: MakeDb, extra: int | str) -> None:
    db, (ann, bob) = await setup(make_db)
    chunk = max_rows(db, "posts")
    n = 2 * chunk + 1 if extra == "double+1" else chunk + int(extra)
    items = [post(i, ann if i % 2 else bob, views=i) for i in range(n)]
    rows = await db.posts.create_many(items)
    assert rows == [expected(r, item) for r, item in zip(rows, items, strict=True)]
    ids = [r["id"] for r in rows]
    assert ids == sorted(set(ids))
    assert rows == await reads(db, "posts", rows)
    assert await db.posts.count() == n


@pytest.mark.parametrize("where", ["first chunk", "second chunk"])
async def test_a_unique_violation_mid_chunk_leaves_nothing(make_db: MakeDb, where: str) -> None:
    db, (ann, _) = await setup(make_db)
    await db.posts.create(post(-1, ann, title="kept", slug="taken"))
    chunk = max_rows(db, "posts")
    n = 2 * chunk
    bad = chunk // 2 if where == "first chunk" else chunk + chunk // 2
    items = [post(i, ann) for i in range(n)]
    items[bad]["slug"] = "taken"
    with pytest.raises(UniqueViolation) as info:
        await db.posts.create_many(items)
    assert (info.value.collection, info.value.field) == ("posts", "slug")
    assert str(info.value).startswith("posts.slug: the value is already taken (unique)")
    assert await titles(db) == ["kept"]
    # two rows of the same call clashing with each other
    items = [post(i, ann) for i in range(n)]
    items[bad]["slug"] = items[1]["slug"]
    with pytest.raises(UniqueViolation) as info:
        await db.posts.create_many(items)
    assert (info.value.collection, info.value.field) == ("posts", "slug")
    assert await titles(db) == ["kept"]


@pytest.mark.parametrize("where", ["first chunk", "second chunk"])
async def test_a_foreign_key_violation_mid_chunk_names_the_field(
    make_db: MakeDb, where: str
) -> None:
    db, (ann, _) = await setup(make_db)
    chunk = max_rows(db, "posts")
    bad = chunk // 2 if where == "first chunk" else chunk + chunk // 2
    items = [post(i, ann) for i in range(2 * chunk)]
    items[bad]["author_id"] = 999_999
    with pytest.raises(ForeignKeyViolation) as info:
        await db.posts.create_many(items)
    assert (info.value.collection, info.value.field) == ("posts", "author_id")
    assert str(info.value) == "posts.author_id: no authors row has id = 999999"
    assert await titles(db) == []
    # a link to a missing tag
    tag = await db.tags.create({"name": "real"})
    items = [post(i, ann, tags=[tag["id"]]) for i in range(2 * chunk)]
    items[bad]["tags"] = [424_242]
    with pytest.raises(ForeignKeyViolation) as info:
        await db.posts.create_many(items)
    assert (info.value.collection, info.value.field) == ("posts", "tags")
    assert str(info.value) == "posts.tags: no tags row has id = 424242"
    assert await titles(db) == []
    # among other ids, PostgreSQL names the field only (its aborted transaction cannot
    # be probed for the value: the same as a single create), the driver's detail has it
    items[bad]["tags"] = [tag["id"], 424_242]
    with pytest.raises(ForeignKeyViolation, match="424242") as info:
        await db.posts.create_many(items)
    assert (info.value.collection, info.value.field) == ("posts", "tags")
    assert await titles(db) == []
    assert await db.tags.count() == 1


async def test_many_to_many_links(make_db: MakeDb) -> None:
    db, (ann, bob) = await setup(make_db)
    tags = await db.tags.create_many([{"name": f"t{i}"} for i in range(5)])
    t = [x["id"] for x in tags]
    chunk = max_rows(db, "posts")
    lists: list[Any] = [[t[3], t[0], t[3]], [], None, [t[4]], [t[2], t[1], t[0]]]
    items = [post(i, ann if i % 2 else bob) for i in range(chunk + 3)]
    for i, links in enumerate(lists * ((chunk + 3) // len(lists) + 1)):
        if i < len(items) and links is not None:
            items[i]["tags"] = links
    rows = await db.posts.create_many(items)
    assert rows == [expected(r, item) for r, item in zip(rows, items, strict=True)]
    assert rows[0]["tags"] == [t[0], t[3]]  # each link once, lowest id first
    assert rows[4]["tags"] == [t[0], t[1], t[2]]
    assert rows == await reads(db, "posts", rows)
    linked = await db.query.tags.find_many(
        columns={"name": True}, with_={"posts": {"columns": {"id": True}}}
    )
    by_tag = {x["name"]: sorted(p["id"] for p in x["posts"]) for x in linked}
    assert by_tag == {f"t{k}": sorted(r["id"] for r in rows if t[k] in r["tags"]) for k in range(5)}


async def test_uuid_ids_and_uuid_links(make_db: MakeDb) -> None:
    db, (ann, _) = await setup(make_db)
    labels = await db.labels.create_many([{"name": f"l{i}"} for i in range(4)])
    lab = [x["id"] for x in labels]
    assert all(isinstance(i, uuid.UUID) for i in lab)
    assert await db.labels.read(lab[2]) == labels[2]
    chunk = max_rows(db, "notes")
    n = chunk + 2
    items: list[dict[str, Any]] = [
        {
            "body": f"note {i}",
            "author_id": ann if i % 2 else None,
            "labels": [lab[i % 4], lab[(i + 1) % 4]] if i % 3 else None,
        }
        for i in range(n)
    ]
    rows = await db.notes.create_many(items)
    # (the order of a uuid id list is the database's: MariaDB's UUID type sorts its own way)
    assert [(r["body"], r["author_id"], sorted(r["labels"])) for r in rows] == [
        (item["body"], item["author_id"], sorted(item["labels"] or [])) for item in items
    ]
    assert len({r["id"] for r in rows}) == n
    assert all(isinstance(r["id"], uuid.UUID) for r in rows)
    assert rows == await reads(db, "notes", rows)
    # a failing row leaves nothing (the links of the rows before it included)
    bad = [dict(item) for item in items]
    bad[chunk]["author_id"] = 999_999
    with pytest.raises(ForeignKeyViolation) as info:
        await db.notes.create_many(bad)
    assert str(info.value) == "notes.author_id: no authors row has id = 999999"
    assert await db.notes.count() == n


async def test_inside_a_transaction(make_db: MakeDb) -> None:
    db, (ann, _) = await setup(make_db)
    chunk = max_rows(db, "posts")
    async with db.transaction() as tx:
        rows = await tx.posts.create_many([post(i, ann) for i in range(3)])
        assert [r["title"] for r in rows] == ["post 0", "post 1", "post 2"]
        # A failing create_many runs in a savepoint: the caller may go on and commit.
        for n, bad in ((5, 2), (chunk + 5, chunk + 2)):
            items = [post(10_000 + i, ann) for i in range(n)]
            items[bad]["author_id"] = 999_999
            with pytest.raises(ForeignKeyViolation, match=r"posts\.author_id: no authors row"):
                await tx.posts.create_many(items)
            items = [post(20_000 + i, ann) for i in range(n)]
            items[bad]["slug"] = "p-0"
            with pytest.raises(UniqueViolation):
                await tx.posts.create_many(items)
        more = await tx.posts.create_many([post(30_000 + i, ann) for i in range(chunk + 1)])
        assert [r["title"] for r in more] == [f"post {30_000 + i}" for i in range(chunk + 1)]
        assert await tx.posts.count() == chunk + 4
    assert await titles(db) == [f"post {i}" for i in range(3)] + [
        f"post {30_000 + i}" for i in range(chunk + 1)
    ]

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction() as tx:
            await tx.posts.create_many([post(40_000 + i, ann) for i in range(chunk + 1)])
            raise Boom
    assert await db.posts.count() == chunk + 4


async def test_validation_errors_name_index_and_field(make_db: MakeDb) -> None:
    db, (ann, _) = await setup(make_db)
    items: list[Any] = [post(0, ann), {"title": "", "author_id": ann}, {"titel": "x"}]
    items += [post(i, ann) for i in range(3, 600)]
    items[500] = post(500, ann, views=-1)
    with pytest.raises(ValidationError) as info:
        await db.posts.create_many(items)
    assert [(e["loc"], e["type"]) for e in info.value.errors] == [
        ((1, "title"), "string_too_short"),
        ((2, "title"), "missing"),
        ((2, "author_id"), "missing"),
        ((2, "titel"), "extra_forbidden"),
        ((500, "views"), "greater_than_equal"),
    ]
    assert str(info.value).startswith(
        "invalid data for posts.create_many: [1].title: String should have at least 1 character"
    )
    # not a dict among the items: the same wording as before
    with pytest.raises(ValidationError) as info:
        await db.posts.create_many([post(0, ann), "nope", post(2, ann)])  # type: ignore[list-item]
    assert info.value.errors == [
        {"loc": (1,), "msg": "expected a dict, got str", "type": "dict_type"}
    ]
    assert await db.posts.count() == 0
    # pydantic models and dicts mixed
    model = Posts.create_model
    rows = await db.posts.create_many(
        [model(title="a", author_id=ann), post(1, ann), model(title="c", author_id=ann, views=3)]
    )
    assert [(r["title"], r["views"], r["slug"]) for r in rows] == [
        ("a", 0, None),
        ("post 1", 0, "p-1"),
        ("c", 3, None),
    ]
