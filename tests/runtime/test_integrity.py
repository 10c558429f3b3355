"""Constraints, transactions and bad input: clear errors, nothing half-written."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from deesse_async import (
    DeesseError,
    ForeignKeyViolation,
    UniqueViolation,
    ValidationError,
)
from tests.blog import BLOG
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio


async def test_unique_violation_names_the_field(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await db.users.create({"name": "A", "email": "a@example.com"})
    with pytest.raises(UniqueViolation) as info:
        await db.users.create({"name": "B", "email": "a@example.com"})
    assert info.value.field == "email"
    assert info.value.collection == "users"
    assert "users.email" in str(info.value)
    assert await db.users.count() == 1
    # Comparison is exact (binary collation on MySQL too): case differs, so no clash.
    await db.users.create({"name": "C", "email": "A@example.com"})
    assert await db.users.count() == 2


async def test_unique_violation_on_update_keeps_the_row(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await db.tags.create({"name": "one"})
    two = await db.tags.create({"name": "two"})
    with pytest.raises(UniqueViolation) as info:
        await db.tags.update(two["id"], {"name": "one"})
    assert info.value.field == "name"
    assert (await db.tags.read(two["id"]))["name"] == "two"  # type: ignore[index]


async def test_foreign_key_violation_names_the_field(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    with pytest.raises(ForeignKeyViolation) as info:
        await db.posts.create({"title": "Orphan", "author_id": 999})
    assert info.value.field == "author_id"
    assert await db.posts.count() == 0
    user = await db.users.create({"name": "U", "email": "u@example.com"})
    with pytest.raises(ForeignKeyViolation):
        await db.posts.create({"title": "Bad tag", "author_id": user["id"], "tags": [424242]})
    assert await db.posts.count() == 0  # the post insert was rolled back with the link


async def test_restricted_delete_raises_and_keeps_rows(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    user = await db.users.create({"name": "U", "email": "u@example.com"})
    await db.posts.create({"title": "Mine", "author_id": user["id"]})
    with pytest.raises(ForeignKeyViolation, match="cannot delete users"):
        await db.users.delete(user["id"])
    assert await db.users.read(user["id"]) is not None
    assert await db.posts.count() == 1


async def test_create_many_is_all_or_nothing(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    with pytest.raises(UniqueViolation):
        await db.tags.create_many([{"name": "x"}, {"name": "y"}, {"name": "x"}])
    assert await db.tags.count() == 0
    with pytest.raises(ValidationError) as info:
        await db.tags.create_many([{"name": "ok"}, {"name": "z" * 41}, {"nme": "typo"}])
    locs = [e["loc"] for e in info.value.errors]
    assert (1, "name") in locs
    assert (2, "nme") in locs and (2, "name") in locs
    assert "[1].name" in str(info.value)
    assert await db.tags.count() == 0
    rows = await db.tags.create_many([{"name": "a"}, {"name": "b"}])
    assert [r["name"] for r in rows] == ["a", "b"]
    assert await db.tags.create_many([]) == []


async def test_transaction_commits_and_rolls_back(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    async with db.transaction() as tx:
        user = await tx.users.create({"name": "T", "email": "t@example.com"})
        await tx.posts.create({"title": "In tx", "author_id": user["id"]})
        assert await tx.posts.count() == 1
    assert await db.posts.count() == 1

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction() as tx:
            await tx.tags.create({"name": "gone"})
            await tx.users.update(user["id"], {"name": "changed"})
            raise Boom
    assert await db.tags.count() == 0
    assert (await db.users.read(user["id"]))["name"] == "T"  # type: ignore[index]


async def test_cancelled_transaction_rolls_back_and_pool_stays_usable(make_db: MakeDb) -> None:
    db = await make_db(BLOG, pool_size=1)
    with anyio.move_on_after(0.2):
        async with db.transaction() as tx:
            await tx.tags.create({"name": "cancelled"})
            await anyio.sleep(5)
    assert await db.tags.count() == 0
    await db.tags.create({"name": "after"})
    assert await db.tags.count() == 1


BAD_INPUT: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = [
    ("missing required", {"email": "x@example.com"}, ("name",)),
    ("empty text below min", {"name": "", "email": "x@example.com"}, ("name",)),
    ("too long text", {"name": "n" * 101, "email": "x@example.com"}, ("name",)),
    ("NUL in text", {"name": "a\x00b", "email": "x@example.com"}, ("name",)),
    ("text given a number", {"name": 12, "email": "x@example.com"}, ("name",)),
    ("bad email", {"name": "n", "email": "not-an-email"}, ("email",)),
    ("integer given text", {"name": "n", "email": "x@example.com", "age": "old"}, ("age",)),
    ("integer given float", {"name": "n", "email": "x@example.com", "age": 3.5}, ("age",)),
    ("integer given bool", {"name": "n", "email": "x@example.com", "age": True}, ("age",)),
    ("integer above max", {"name": "n", "email": "x@example.com", "age": 151}, ("age",)),
    ("integer below min", {"name": "n", "email": "x@example.com", "age": -1}, ("age",)),
    ("number NaN", {"name": "n", "email": "x@example.com", "score": float("nan")}, ("score",)),
    ("number infinity", {"name": "n", "email": "x@example.com", "score": float("inf")}, ("score",)),
    ("number above max", {"name": "n", "email": "x@example.com", "score": 1e9}, ("score",)),
    ("boolean given junk", {"name": "n", "email": "x@example.com", "active": "maybe"}, ("active",)),
    ("date given junk", {"name": "n", "email": "x@example.com", "born": "yesterday"}, ("born",)),
    (
        "timestamp junk",
        {"name": "n", "email": "x@example.com", "last_seen": "noon"},
        ("last_seen",),
    ),
    ("uuid junk", {"name": "n", "email": "x@example.com", "external_id": "nope"}, ("external_id",)),
    ("select not a choice", {"name": "n", "email": "x@example.com", "role": "owner"}, ("role",)),
    (
        "json NaN",
        {"name": "n", "email": "x@example.com", "profile": {"x": float("nan")}},
        ("profile",),
    ),
    ("unknown field", {"name": "n", "email": "x@example.com", "emial": "x"}, ("emial",)),
    ("system field", {"name": "n", "email": "x@example.com", "id": 5}, ("id",)),
    ("relation by name", {"name": "n", "email": "x@example.com", "invited_by": 1}, ("invited_by",)),
    (
        "relation id text",
        {"name": "n", "email": "x@example.com", "invited_by_id": "one"},
        ("invited_by_id",),
    ),
    (
        "relation id too big",
        {"name": "n", "email": "x@example.com", "invited_by_id": 2**63},
        ("invited_by_id",),
    ),
]


@pytest.mark.parametrize(("case", "data", "loc"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
async def test_bad_input_is_a_validation_error_and_writes_nothing(
    make_db: MakeDb, case: str, data: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    db = await make_db(BLOG)
    with pytest.raises(ValidationError) as info:
        await db.users.create(data)
    assert loc in [e["loc"] for e in info.value.errors], info.value.errors
    assert info.value.collection == "users"
    assert await db.users.count() == 0


async def test_bad_input_on_update_writes_nothing(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    row = await db.users.create({"name": "n", "email": "x@example.com", "age": 5})
    for data in ({"age": "x"}, {"age": 7, "bogus": 1}, {"role": "root"}, "not a dict"):
        with pytest.raises(ValidationError):
            await db.users.update(row["id"], data)  # type: ignore[arg-type]
    assert await db.users.read(row["id"]) == row


@pytest.mark.parametrize("bad_id", ["abc", 1.5, None, [1], 2**63])
async def test_bad_ids_are_validation_errors(make_db: MakeDb, bad_id: Any) -> None:
    db = await make_db(BLOG)
    for call in (db.users.read, db.users.delete):
        with pytest.raises(ValidationError) as info:
            await call(bad_id)
        assert info.value.errors[0]["loc"][0] == "id"


async def test_big_unicode_values_round_trip(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    name = "名前 ✓ ñ 🚀" * 5
    content = "x" * 1000
    user = await db.users.create({"name": name, "email": "u@example.com"})
    post = await db.posts.create({"title": "🚀" * 100, "content": content, "author_id": user["id"]})
    assert (await db.users.read(user["id"]))["name"] == name  # type: ignore[index]
    assert (await db.posts.read(post["id"]))["title"] == "🚀" * 100  # type: ignore[index]


async def test_every_error_is_a_deesse_error(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await db.tags.create({"name": "t"})
    failures = [
        db.tags.create({"name": "t"}),
        db.posts.create({"title": "x", "author_id": 77}),
        db.tags.create({"name": None}),
        db.tags.update(1, {"name": 5}),
        db.users.count({"nope": 1}),
    ]
    for coro in failures:
        with pytest.raises(DeesseError):
            await coro
    assert await db.tags.count() == 1


async def test_database_constraints_hold_without_pydantic(make_db: MakeDb) -> None:
    """The DDL enforces NOT NULL and CHECKs itself; driver errors are translated."""
    import datetime as dt

    import sqlalchemy as sa

    from deesse_async import CheckViolation, NotNullViolation
    from deesse_async.dialects import compile_sql

    db = await make_db(BLOG)
    table = db.metadata.tables["users"]
    now = dt.datetime.now(dt.UTC)
    codecs = db._statements["users"].codecs
    base = {
        "email": "raw@example.com",
        "active": codecs.encode("bool", True),
        "role": "member",
        "created_at": codecs.encode("datetime", now),
        "updated_at": codecs.encode("datetime", now),
    }
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({**base, "name": None}, NotNullViolation),
        ({**base, "name": "x", "role": "owner"}, CheckViolation),
        ({**base, "name": "x", "age": 200}, CheckViolation),
    ]
    for values, error in cases:
        stmt = compile_sql(sa.insert(table).values(values), db.dialect)
        async with db.acquire() as conn:
            with pytest.raises(error):
                await conn.execute(stmt.sql, stmt.params())
    assert await db.users.count() == 0


# -- the same words on every backend (issue 13) ----------------------------------------


async def test_foreign_key_messages_read_the_same_on_every_backend(
    make_db: MakeDb, backend: str
) -> None:
    db = await make_db(BLOG)
    user = await db.users.create({"name": "U", "email": "u@example.com"})
    uid = user["id"]
    missing_author = "posts.author_id: no users row has id = 99999"
    with pytest.raises(ForeignKeyViolation) as info:
        await db.posts.create({"title": "Orphan", "author_id": 99999})
    assert str(info.value) == missing_author
    assert (info.value.collection, info.value.field) == ("posts", "author_id")
    post = await db.posts.create({"title": "Mine", "author_id": uid})
    with pytest.raises(ForeignKeyViolation) as info:
        await db.posts.update(post["id"], {"author_id": 99999})
    assert str(info.value) == missing_author
    # Inside a transaction too (PostgreSQL cannot run a probe after the error there).
    with pytest.raises(ForeignKeyViolation) as info:
        async with db.transaction() as tx:
            await tx.posts.create({"title": "In tx", "author_id": 99999})
    assert str(info.value) == missing_author
    with pytest.raises(ForeignKeyViolation) as info:
        await db.notes.create({"body": "n", "owner_id": 4242})
    assert str(info.value) == "notes.owner_id: no users row has id = 4242"
    with pytest.raises(ForeignKeyViolation) as info:
        await db.posts.create({"title": "Tagged", "author_id": uid, "tags": [424242]})
    assert str(info.value) == "posts.tags: no tags row has id = 424242"
    tag = await db.tags.create({"name": "real"})
    with pytest.raises(ForeignKeyViolation) as info:
        await db.posts.create({"title": "Tagged", "author_id": uid, "tags": [tag["id"], 424242]})
    assert info.value.field == "tags"
    if backend != "postgresql":  # PostgreSQL cannot probe in the aborted transaction
        assert str(info.value) == "posts.tags: no tags row has id = 424242"
    assert await db.posts.count() == 1
    # Deleting a row others still reference.
    with pytest.raises(ForeignKeyViolation) as info:
        await db.users.delete(uid)
    assert str(info.value).startswith(
        f"cannot delete users {uid}: posts.author_id still references it"
    )
    assert (info.value.collection, info.value.field) == ("posts", "author_id")
    await db.posts.delete(post["id"])
    await db.notes.create({"body": "n", "owner_id": uid})
    with pytest.raises(ForeignKeyViolation) as info:
        await db.users.delete(uid)
    assert str(info.value).startswith(
        f"cannot delete users {uid}: notes.owner_id still references it"
    )
    assert await db.users.count() == 1 and await db.posts.count() == 0


async def test_a_missing_table_says_to_push(database_url: str) -> None:
    from deesse_async import define_config
    from tests.blog import Tags

    db = define_config(provider=database_url, collections=[Tags])  # never pushed
    async with db:
        calls = [
            lambda: db.tags.create({"name": "x"}),
            lambda: db.tags.create_many([{"name": "x"}, {"name": "y"}]),
            lambda: db.tags.read(1),
            lambda: db.tags.update(1, {"name": "y"}),
            lambda: db.tags.delete(1),
            lambda: db.tags.count(),
            lambda: db.query.tags.find_many(),
            lambda: db.query.tags.find_first(where={"name": "x"}),
        ]
        for call in calls:
            with pytest.raises(DeesseError) as info:
                await call()
            message = str(info.value)
            assert "table 'tags' does not exist" in message, message
            assert "await db.push()" in message and "deesse push" in message, message
            assert "no such table" not in message and "doesn't exist" not in message
        await db.push()
        assert (await db.tags.create({"name": "x"}))["name"] == "x"
