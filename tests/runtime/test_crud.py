"""CRUD on every backend: values and their Python types round-trip exactly."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from deesse_async import NotFound, ValidationError
from tests.blog import BLOG
from tests.conftest import MakeDb

UTC = dt.UTC

pytestmark = pytest.mark.anyio


def full_user(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "age": 36,
        "score": 12.5,
        "active": False,
        "born": dt.date(1815, 12, 10),
        "last_seen": dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        "external_id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "profile": {"langs": ["en", "fr"], "n": 1, "nested": {"ok": True, "none": None}},
        "role": "admin",
        "nickname": "ada",
        **extra,
    }


async def test_create_returns_every_field_with_python_types(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    before = dt.datetime.now(UTC)
    row = await db.users.create(full_user())
    assert list(row) == [
        "id", "name", "email", "invited_by_id", "age", "score", "active", "born", "last_seen",
        "external_id", "profile", "role", "nickname", "created_at", "updated_at",
    ]  # fmt: skip
    assert type(row["id"]) is int
    assert row["name"] == "Ada Lovelace"
    assert row["email"] == "ada@example.com"
    assert row["invited_by_id"] is None
    assert row["age"] == 36 and type(row["age"]) is int
    assert row["score"] == 12.5 and type(row["score"]) is float
    assert row["active"] is False
    assert row["born"] == dt.date(1815, 12, 10) and type(row["born"]) is dt.date
    assert row["last_seen"] == dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert row["last_seen"].utcoffset() == dt.timedelta(0)
    assert type(row["external_id"]) is uuid.UUID
    assert row["external_id"] == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert row["profile"] == {"langs": ["en", "fr"], "n": 1, "nested": {"ok": True, "none": None}}
    assert row["role"] == "admin"
    assert row["created_at"] == row["updated_at"]
    assert row["created_at"].tzinfo is not None
    assert before - dt.timedelta(seconds=5) <= row["created_at"] <= dt.datetime.now(UTC)
    assert await db.users.read(row["id"]) == row


async def test_defaults_and_nulls(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    row = await db.users.create({"name": "Bob", "email": "bob@example.com"})
    assert row["active"] is True
    assert row["role"] == "member"
    for key in ("age", "score", "born", "last_seen", "external_id", "profile", "nickname"):
        assert row[key] is None, key
    assert await db.users.read(row["id"]) == row


async def test_naive_timestamp_is_taken_as_utc_and_offsets_are_normalised(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    naive = await db.users.create(
        {"name": "N", "email": "n@example.com", "last_seen": dt.datetime(2024, 1, 1, 8, 0)}
    )
    assert naive["last_seen"] == dt.datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    plus2 = dt.timezone(dt.timedelta(hours=2))
    aware = await db.users.create(
        {
            "name": "A",
            "email": "a@example.com",
            "last_seen": dt.datetime(2024, 1, 1, 10, 0, tzinfo=plus2),
        }
    )
    assert aware["last_seen"] == dt.datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    assert aware["last_seen"].tzinfo == UTC


@pytest.mark.parametrize(
    "profile",
    [
        {"a": 1},
        [1, 2.5, "x", None, True],
        "just a string",
        42,
        {"unicode": "héllo ✓ 日本", "quote": 'it\'s "quoted"'},
        {"big": 2**62, "deep": {"deeper": {"deepest": [[]]}}},
    ],
)
async def test_json_values_round_trip(make_db: MakeDb, profile: Any) -> None:
    db = await make_db(BLOG)
    row = await db.users.create({"name": "J", "email": "j@example.com", "profile": profile})
    assert row["profile"] == profile
    assert (await db.users.read(row["id"]))["profile"] == profile  # type: ignore[index]


async def test_integer_extremes_and_float_precision(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    n1 = await db.notes.create({"body": "max", "created_at": 2**63 - 1})
    n2 = await db.notes.create({"body": "min", "created_at": -(2**63)})
    assert (await db.notes.read(n1["id"]))["created_at"] == 2**63 - 1  # type: ignore[index]
    assert (await db.notes.read(n2["id"]))["created_at"] == -(2**63)  # type: ignore[index]
    u = await db.users.create({"name": "F", "email": "f@example.com", "score": 0.1 + 0.2})
    assert u["score"] == 0.1 + 0.2
    assert Decimal(u["score"]) == Decimal(0.1 + 0.2)


async def test_uuid_primary_key_and_timestamps_false(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    note = await db.notes.create({"body": "hello", "created_at": 7})
    assert type(note["id"]) is uuid.UUID
    assert list(note) == ["id", "body", "created_at", "owner_id"]
    assert await db.notes.read(note["id"]) == note
    assert await db.notes.read(str(note["id"])) == note
    assert await db.notes.update(note["id"], {"body": "bye"}) == {**note, "body": "bye"}


async def test_update_is_partial_and_moves_updated_at(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    row = await db.users.create(full_user())
    updated = await db.users.update(row["id"], {"age": 37, "nickname": None})
    assert updated["age"] == 37
    assert updated["nickname"] is None
    assert updated["name"] == row["name"] and updated["profile"] == row["profile"]
    assert updated["created_at"] == row["created_at"]
    assert updated["updated_at"] > row["updated_at"]
    assert await db.users.read(row["id"]) == updated
    again = await db.users.update(row["id"], {})
    assert again["updated_at"] >= updated["updated_at"]


async def test_update_rejects_none_for_required_and_missing_rows(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    row = await db.users.create({"name": "R", "email": "r@example.com"})
    with pytest.raises(ValidationError) as info:
        await db.users.update(row["id"], {"name": None})
    assert info.value.errors[0]["loc"] == ("name",)
    assert (await db.users.read(row["id"]))["name"] == "R"  # type: ignore[index]
    with pytest.raises(NotFound, match="users with id 999 does not exist"):
        await db.users.update(999, {"name": "x"})


async def test_read_and_delete_missing_return_none(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    assert await db.users.read(12345) is None
    assert await db.users.delete(12345) is None
    row = await db.users.create({"name": "D", "email": "d@example.com"})
    assert await db.users.delete(row["id"]) == row
    assert await db.users.read(row["id"]) is None
    assert await db.users.count() == 0


async def test_self_relation_and_many_to_many_links(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    ann = await db.users.create({"name": "Ann", "email": "ann@example.com"})
    bob = await db.users.create(
        {"name": "Bob", "email": "bob@example.com", "invited_by_id": ann["id"]}
    )
    assert bob["invited_by_id"] == ann["id"]
    t1, t2, t3 = await db.tags.create_many([{"name": "a"}, {"name": "b"}, {"name": "c"}])
    post = await db.posts.create(
        {"title": "Hi", "author_id": bob["id"], "tags": [t3["id"], t1["id"], t3["id"]]}
    )
    assert post["tags"] == [t1["id"], t3["id"]]  # linked once each, lowest id first
    assert list(post) == [
        "id",
        "title",
        "content",
        "status",
        "author_id",
        "tags",
        "created_at",
        "updated_at",
    ]
    assert await db.posts.read(post["id"]) == post
    replaced = await db.posts.update(post["id"], {"tags": [t2["id"]]})
    assert replaced["tags"] == [t2["id"]]
    untouched = await db.posts.update(post["id"], {"title": "Hi again"})
    assert untouched["tags"] == [t2["id"]]
    cleared = await db.posts.update(post["id"], {"tags": []})
    assert cleared["tags"] == []
    # Deleting a tag removes its links (junction rows cascade).
    await db.posts.update(post["id"], {"tags": [t1["id"], t2["id"]]})
    await db.tags.delete(t1["id"])
    assert (await db.posts.read(post["id"]))["tags"] == [t2["id"]]  # type: ignore[index]


async def test_cascade_and_set_null_on_delete(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    ann = await db.users.create({"name": "Ann", "email": "ann@example.com"})
    bob = await db.users.create(
        {"name": "Bob", "email": "bob@example.com", "invited_by_id": ann["id"]}
    )
    post = await db.posts.create({"title": "P", "author_id": bob["id"]})
    comment = await db.comments.create({"body": "c", "post_id": post["id"], "author_id": ann["id"]})
    await db.users.delete(ann["id"])  # optional relations: set null
    assert (await db.users.read(bob["id"]))["invited_by_id"] is None  # type: ignore[index]
    assert (await db.comments.read(comment["id"]))["author_id"] is None  # type: ignore[index]
    await db.posts.delete(post["id"])  # comments.post cascades
    assert await db.comments.read(comment["id"]) is None
    assert await db.comments.count() == 0


async def test_count_with_where(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await db.users.create_many(
        [
            {"name": "Ann", "email": "ann@example.com", "age": 30, "role": "admin"},
            {"name": "Bob", "email": "bob@example.com", "age": 40},
            {"name": "Cid", "email": "cid@example.com"},
            {"name": "ann", "email": "ann2@example.com", "age": 50},
        ]
    )
    assert await db.users.count() == 4
    assert await db.users.count({"role": "admin"}) == 1
    assert await db.users.count({"age": None}) == 1
    assert await db.users.count({"age": {"gte": 40}}) == 2
    assert await db.users.count({"age": {"in": [30, 50]}}) == 2
    assert await db.users.count({"age": {"in": []}}) == 0
    assert await db.users.count({"name": {"like": "A%"}}) == 1
    assert await db.users.count({"name": {"ilike": "a%"}}) == 2
    assert await db.users.count({"OR": [{"age": {"lt": 35}}, {"age": {"is_null": True}}]}) == 2
    assert await db.users.count({"NOT": {"role": "member"}}) == 1
    assert await db.users.count({"age": {"OR": [{"lt": 35}, 50]}}) == 2


async def test_reopen_after_close(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    await db.tags.create({"name": "kept"})
    await db.close()
    async with db:
        assert await db.tags.count() == 1
    assert not db.is_connected
