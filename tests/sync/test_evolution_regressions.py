"""Bugs the generative evolution test found (``test_evolution.py``), one focused test each."""

from __future__ import annotations

import pytest

import deesse_async as d
from deesse_async import collection, field, relation, text
from tests.sync.conftest import Version, fetch

pytestmark = pytest.mark.anyio


async def test_float_default_reads_back_equal_on_every_backend(version: Version) -> None:
    """MySQL reflects DEFAULT 0.0 on a DOUBLE as '0': the re-plan was never empty."""
    v1 = version([collection(slug="items", fields={"n": field(type=d.integer())})])
    await v1.push()
    await v1.items.create({"n": 4})
    v2 = version([collection(slug="items", fields={"n": field(type=d.number(), default=0.0)})])
    await v2.push(accept_data_loss=True)
    assert (await v2.plan()).is_empty
    assert await fetch(v2, "SELECT n FROM items") == [(4.0,)]
    v3 = version([collection(slug="items", fields={"n": field(type=d.number(), default=2.5)})])
    plan = await v3.plan()
    assert len(plan.statements) >= 1 and not plan.has_data_loss
    await v3.push()
    assert (await v3.plan()).is_empty


async def test_retyping_a_column_with_a_default_of_the_new_type(version: Version) -> None:
    """PostgreSQL: alembic compared the new default against the old type (SELECT 'x' = false)."""
    v1 = version([collection(slug="items", fields={"flag": field(type=d.boolean(), default=True)})])
    await v1.push()
    await v1.items.create({})
    v2 = version([collection(slug="items", fields={"flag": field(type=text(max=8), default="x")})])
    plan = await v2.plan()  # raised DatabaseError on PostgreSQL
    assert plan.statements
    await v2.push(accept_data_loss=True)
    assert (await v2.plan()).is_empty
    await v2.items.create({})
    rows = await v2.query.items.find_many(order_by={"id": "asc"})
    assert rows[-1]["flag"] == "x"


async def test_renaming_a_collection_with_a_self_relation(version: Version) -> None:
    """The renamed foreign key of a self-relation could not be rebuilt from reflection."""
    v1 = version(
        [
            collection(
                slug="users",
                fields={"name": field(type=text()), "boss": field(type=relation("users"))},
            )
        ]
    )
    await v1.push()
    first = await v1.users.create({"name": "a"})
    await v1.users.create({"name": "b", "boss_id": first["id"]})
    v2 = version(
        [
            collection(
                slug="members",
                renamed_from="users",
                fields={"name": field(type=text()), "boss": field(type=relation("members"))},
            )
        ]
    )
    plan = await v2.plan()  # raised NoReferencedColumnError
    assert not plan.has_data_loss
    await v2.push()
    assert (await v2.plan()).is_empty
    assert await fetch(v2, "SELECT name, boss_id FROM members ORDER BY id") == [
        ("a", None),
        ("b", first["id"]),
    ]


async def test_collections_that_reference_each_other(version: Version) -> None:
    """users <-> posts created together: PostgreSQL and MySQL refused the first CREATE TABLE."""
    users = collection(
        slug="users", fields={"name": field(type=text()), "best": field(type=relation("posts"))}
    )
    posts = collection(
        slug="posts", fields={"title": field(type=text()), "author": field(type=relation("users"))}
    )
    db = version([users, posts])
    await db.push()
    assert (await db.plan()).is_empty
    ada = await db.users.create({"name": "ada"})
    post = await db.posts.create({"title": "t", "author_id": ada["id"]})
    await db.users.update(ada["id"], {"best_id": post["id"]})
    assert await fetch(db, "SELECT best_id FROM users") == [(post["id"],)]
    with pytest.raises(d.ForeignKeyViolation):
        await db.posts.create({"title": "u", "author_id": 999})


async def test_a_select_with_one_choice_replans_empty(version: Version) -> None:
    """MariaDB stores ``f IN ('d')`` as ``f = 'd'``: the CHECK was replaced on every plan."""
    v1 = version([collection(slug="items", fields={"kind": field(type=d.select("d"))})])
    await v1.push()
    await v1.items.create({"kind": "d"})
    assert (await v1.plan()).is_empty
    v2 = version([collection(slug="items", fields={"kind": field(type=d.select("d", "e"))})])
    await v2.push()
    assert (await v2.plan()).is_empty
    await v2.items.create({"kind": "e"})
    assert await fetch(v2, "SELECT kind FROM items ORDER BY id") == [("d",), ("e",)]
