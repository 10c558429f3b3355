"""db.plan() / db.push(): every kind of change, its risk, and what applying it does.

Each test declares two (or three) versions of the same collection and runs them, one
after the other, against one real database on every backend.
"""

from __future__ import annotations

import pytest

from deesse_async import (
    Collection,
    Database,
    DataConflictError,
    DataLossError,
    Field,
    ForeignKeyViolation,
    SchemaSyncError,
    boolean,
    collection,
    field,
    index,
    integer,
    relation,
    required,
    select,
    text,
    unique,
)
from tests.blog import BLOG
from tests.sync.conftest import Version, fetch, risks, snapshot

pytestmark = pytest.mark.anyio

TITLE = required(field(type=text(max=100)))


def posts(**fields: Field) -> Collection:
    return collection(slug="posts", fields={"title": TITLE, **fields})


Tags = collection(slug="tags", fields={"name": required(field(type=text(max=40)))})


async def seed(db: Database, *titles: str, **values: object) -> None:
    for title in titles:
        await db.posts.create({"title": title, **values})


async def titles(db: Database) -> list[str]:
    return [row[0] for row in await fetch(db, "SELECT title FROM posts ORDER BY id")]


async def test_fresh_database_gets_everything_then_the_plan_is_empty(version: Version) -> None:
    db = version(BLOG)
    plan = await db.plan()
    assert set(risks(plan)) == {"safe"}
    assert set(plan.created_tables) == {"users", "tags", "posts", "comments", "notes", "posts_tags"}
    applied = await db.push()
    assert applied.statements == plan.statements
    assert (await db.plan()).is_empty  # no reflection noise for any field type
    assert (await db.push()).is_empty


async def test_add_table_is_safe_and_keeps_rows(version: Version) -> None:
    v1 = version([posts()])
    await v1.push()
    await seed(v1, "a", "b")
    v2 = version([posts(), Tags])
    plan = await v2.plan()
    assert plan.created_tables == ["tags"]
    assert set(risks(plan)) == {"safe"} and not plan.has_data_loss
    await v2.push()
    assert await titles(v2) == ["a", "b"]
    assert await v2.tags.count() == 0
    assert (await v2.plan()).is_empty


async def test_drop_table_is_destructive_and_counts_its_rows(version: Version) -> None:
    v1 = version([posts(), Tags])
    await v1.push()
    await v1.tags.create_many([{"name": n} for n in "xyz"])
    v2 = version([posts()])
    plan = await v2.plan()
    assert [(s.risk, s.sql) for s in plan.statements] == [("destructive", "DROP TABLE tags")]
    assert plan.affected_rows == [3]
    assert plan.data_loss == [(plan.statements[0], 3)]
    before = await snapshot(v2)
    with pytest.raises(
        DataLossError, match=r"drop table tags \(3 rows\)\n +DROP TABLE tags"
    ) as info:
        await v2.push()
    assert info.value.statements == ["DROP TABLE tags"]
    assert await snapshot(v2) == before
    await v2.push(accept_data_loss=True)
    assert "tags" not in await snapshot(v2)
    assert (await v2.plan()).is_empty


async def test_add_nullable_column_is_safe_and_rows_survive(version: Version) -> None:
    v1 = version([posts()])
    await v1.push()
    await seed(v1, "a", "b")
    v2 = version([posts(body=field(type=text()))])
    plan = await v2.plan()
    assert plan.statements and set(risks(plan)) == {"safe"}
    await v2.push()
    assert await fetch(v2, "SELECT title, body FROM posts ORDER BY id") == [
        ("a", None),
        ("b", None),
    ]
    assert (await v2.plan()).is_empty


async def test_required_column_without_default_is_refused_over_rows(version: Version) -> None:
    v1 = version([posts()])
    await v1.push()
    await seed(v1, "a")
    v2 = version([posts(rank=required(field(type=integer())))])
    plan = await v2.plan()
    assert "unsafe" in risks(plan) and not plan.has_data_loss
    assert any("NOT NULL" in s.reason for s in plan.unsafe)
    assert [c.message.split(";")[0] for c in plan.conflicts] == [
        "will fail: 1 row would have NULL in posts.rank (a new required field without a default)"
    ]
    before = await snapshot(v2)
    # The same on every backend: MariaDB used to apply it, filling the rows with 0 ('' for
    # text), where PostgreSQL and SQLite refuse it (defect 6 of issue 13).
    with pytest.raises(DataConflictError, match=r"1 row would have NULL in posts\.rank") as info:
        await v2.push()
    assert info.value.rolled_back and info.value.applied == [] and info.value.statement is None
    assert await snapshot(v2) == before
    assert await titles(v2) == ["a"]


async def test_required_column_without_default_applies_to_an_empty_table(
    version: Version,
) -> None:
    await version([posts()]).push()
    v2 = version([posts(rank=required(field(type=integer())))])
    await v2.push()
    assert (await v2.plan()).is_empty


async def test_column_with_default_fills_existing_rows(version: Version) -> None:
    v1 = version([posts()])
    await v1.push()
    await seed(v1, "a", "b")
    v2 = version(
        [
            posts(
                status=required(field(type=text(max=20), default="draft")),
                pinned=field(type=boolean(), default=False),
            )
        ]
    )
    plan = await v2.plan()
    assert plan.statements and not plan.has_data_loss
    await v2.push()
    rows = await fetch(v2, "SELECT title, status FROM posts ORDER BY id")
    assert rows == [("a", "draft"), ("b", "draft")]
    assert [(await v2.posts.read(i) or {}).get("pinned") for i in (1, 2)] == [False, False]
    assert (await v2.plan()).is_empty  # MySQL's BOOL DEFAULT false reflects as '0': no noise


async def test_drop_column_counts_values_and_needs_acceptance(
    version: Version, backend: str
) -> None:
    v1 = version([posts(body=field(type=text()))])
    await v1.push()
    await seed(v1, "a", body="x")
    await seed(v1, "b", body="y")
    await seed(v1, "c")
    v2 = version([posts()])
    plan = await v2.plan()
    assert plan.has_data_loss
    assert [n for _, n in plan.data_loss] == [2]  # the non-NULL bodies
    before = await snapshot(v2)
    lost = "rebuild posts: drop column body" if backend == "sqlite" else "drop column posts.body"
    with pytest.raises(DataLossError, match=f"{lost} \\(2 values\\)"):
        await v2.push()
    assert await snapshot(v2) == before
    assert await fetch(v2, "SELECT body FROM posts ORDER BY id") == [("x",), ("y",), (None,)]
    await v2.push(accept_data_loss=True)
    columns = [c[0] for c in (await snapshot(v2))["posts"]["columns"]]
    assert "body" not in columns
    assert await titles(v2) == ["a", "b", "c"]
    assert (await v2.plan()).is_empty


async def test_widening_text_is_safe_and_keeps_values(version: Version) -> None:
    v1 = version([posts(summary=field(type=text(max=50)))])
    await v1.push()
    await seed(v1, "a", summary="short")
    v2 = version([posts(summary=field(type=text(max=200)))])
    plan = await v2.plan()
    assert plan.statements and set(risks(plan)) == {"safe"}, plan.statements
    await v2.push()
    assert await fetch(v2, "SELECT summary FROM posts") == [("short",)]
    await v2.posts.create({"title": "b", "summary": "y" * 200})
    assert (await v2.plan()).is_empty


async def test_narrowing_text_over_fitting_values_is_unsafe(version: Version) -> None:
    """The data is read first: when every value fits, a narrowing loses nothing.

    (Values that do not fit make the plan a conflict: tests/sync/test_data_risks.py.)
    """
    v1 = version([posts(summary=field(type=text(max=200)))])
    await v1.push()
    await seed(v1, "a", summary="short")
    v2 = version([posts(summary=field(type=text(max=50)))])
    plan = await v2.plan()
    assert not plan.has_data_loss and not plan.conflicts
    assert plan.unsafe and all("not a widening conversion" in s.reason for s in plan.unsafe)
    await v2.push()
    summary = next(c for c in (await snapshot(v2))["posts"]["columns"] if c[0] == "summary")
    assert "50" in summary[1]
    assert await fetch(v2, "SELECT summary FROM posts") == [("short",)]
    assert (await v2.plan()).is_empty


async def test_unique_add_and_drop(version: Version) -> None:
    v1 = version([posts(slug=field(type=text(max=40)))])
    await v1.push()
    await seed(v1, "a", slug="a")
    await seed(v1, "b", slug="b")
    v2 = version([posts(slug=unique(field(type=text(max=40))))])
    plan = await v2.plan()
    assert "unsafe" in risks(plan) and not plan.has_data_loss
    assert any("duplicates" in s.reason for s in plan.unsafe)
    await v2.push()
    assert "uq_posts_slug" in (await snapshot(v2))["posts"]["uniques"]
    assert (await v2.plan()).is_empty
    v3 = version([posts(slug=field(type=text(max=40)))])
    plan = await v3.plan()
    assert plan.statements and not plan.has_data_loss
    await v3.push()
    assert "uq_posts_slug" not in (await snapshot(v3))["posts"]["uniques"]
    assert await titles(v3) == ["a", "b"]
    assert (await v3.plan()).is_empty


async def test_unique_over_duplicates_fails_cleanly(version: Version) -> None:
    v1 = version([posts(slug=field(type=text(max=40)))])
    await v1.push()
    await seed(v1, "a", slug="same")
    await seed(v1, "b", slug="same")
    v2 = version([posts(slug=unique(field(type=text(max=40))))])
    before = await snapshot(v2)
    with pytest.raises(DataConflictError, match=r"1 duplicate value in posts\.slug") as info:
        await v2.push()
    assert info.value.applied == [] and info.value.statement is None  # refused before
    assert await snapshot(v2) == before
    assert await titles(v2) == ["a", "b"]


async def test_add_index_is_safe(version: Version) -> None:
    v1 = version([posts(rank=field(type=integer()))])
    await v1.push()
    await seed(v1, "a", rank=1)
    v2 = version([posts(rank=index(field(type=integer())))])
    plan = await v2.plan()
    sql = [s.sql.replace("`", "") for s in plan.statements]  # MySQL quotes the keyword rank
    assert sql == ["CREATE INDEX ix_posts_rank ON posts (rank)"]
    assert risks(plan) == ["safe"]
    await v2.push()
    assert "ix_posts_rank" in (await snapshot(v2))["posts"]["indexes"]
    assert (await v2.plan()).is_empty


async def test_set_not_null_over_null_rows_is_refused_before_it_runs(version: Version) -> None:
    v1 = version([posts(body=field(type=text(max=50)))])
    await v1.push()
    await seed(v1, "a", body="x")
    await seed(v1, "b")
    v2 = version([posts(body=required(field(type=text(max=50))))])
    plan = await v2.plan()
    assert "unsafe" in risks(plan) and not plan.has_data_loss
    before = await snapshot(v2)
    with pytest.raises(DataConflictError, match="Fix the data") as info:
        await v2.push()
    assert info.value.applied == []
    assert await snapshot(v2) == before
    await v1.posts.update(2, {"body": "y"})
    await v2.push()
    assert (await v2.plan()).is_empty


async def test_changed_select_choices_replace_the_check(version: Version) -> None:
    v1 = version([posts(status=field(type=select("draft", "published"), default="draft"))])
    await v1.push()
    await seed(v1, "a", status="published")
    wider = select("draft", "published", "archived")
    v2 = version([posts(status=field(type=wider, default="draft"))])
    plan = await v2.plan()
    assert "unsafe" in risks(plan) and not plan.has_data_loss
    assert any("CHECK" in s.sql or "CHECK" in s.reason for s in plan.unsafe)
    await v2.push()
    await v2.posts.create({"title": "b", "status": "archived"})
    assert await fetch(v2, "SELECT status FROM posts ORDER BY id") == [
        ("published",),
        ("archived",),
    ]
    assert (await v2.plan()).is_empty


async def test_push_of_an_approved_plan_refuses_a_different_one(version: Version) -> None:
    from deesse_async.sync.push import push_schema

    v1 = version([posts(body=field(type=text()))])
    await v1.push()
    v2 = version([posts()])
    approved = await v2.plan()
    v3 = version([posts(), Tags])  # the collections moved on after the approval
    with pytest.raises(SchemaSyncError, match="changed since the plan was approved"):
        await push_schema(v3, accept_data_loss=True, expected=approved)
    assert "body" in [c[0] for c in (await snapshot(v3))["posts"]["columns"]]
    applied = await push_schema(v2, accept_data_loss=True, expected=approved)
    assert applied.statements == approved.statements


async def test_postgresql_schema_that_does_not_exist_yet_is_created() -> None:
    import uuid

    import asyncpg

    from deesse_async import define_config
    from tests.conftest import POSTGRES_URL, require_backend

    await require_backend("postgresql")
    name = f"t_{uuid.uuid4().hex[:12]}"
    db = define_config(provider=f"{POSTGRES_URL}?schema={name}", collections=[posts()])
    try:
        plan = await db.plan()
        assert plan.statements[0].sql == f"CREATE SCHEMA IF NOT EXISTS {name}"
        assert plan.created_tables == ["posts"]
        await db.push()
        await seed(db, "a")
        assert (await db.plan()).is_empty
    finally:
        await db.close()
        conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


async def test_dropping_a_relation_and_its_target_table(version: Version) -> None:
    users = collection(slug="users", fields={"name": required(field(type=text(max=40)))})
    v1 = version([users, posts(author=field(type=relation("users", related_name="posts")))])
    await v1.push()
    ada = await v1.users.create({"name": "ada"})
    await seed(v1, "a", author_id=ada["id"])
    await seed(v1, "b")
    v2 = version([posts()])
    plan = await v2.plan()
    assert [n for _, n in plan.data_loss] == [1, 1]  # one author_id value, one user
    assert plan.statements[-1].sql == "DROP TABLE users"
    await v2.push(accept_data_loss=True)
    assert set(await snapshot(v2)) == {"posts"}
    assert await titles(v2) == ["a", "b"]
    assert (await v2.plan()).is_empty


async def test_rebuilding_a_referenced_table_keeps_the_referencing_rows(
    version: Version,
) -> None:
    """SQLite rebuilds users; with foreign keys on, its DROP TABLE would cascade to posts."""

    def users(size: int) -> Collection:
        return collection(slug="users", fields={"name": required(field(type=text(max=size)))})

    author = required(field(type=relation("users", on_delete="cascade")))
    v1 = version([users(40), posts(author=author)])
    await v1.push()
    ada = await v1.users.create({"name": "ada"})
    await seed(v1, "a", "b", author_id=ada["id"])
    v2 = version([users(80), posts(author=author)])
    plan = await v2.plan()
    assert set(risks(plan)) == {"safe"}
    await v2.push()
    assert await titles(v2) == ["a", "b"]
    with pytest.raises(ForeignKeyViolation):  # still enforced after the rebuild
        await v2.posts.create({"title": "c", "author_id": 999})
    await v2.users.delete(ada["id"])
    assert await v2.posts.count() == 0  # and still cascading
    assert (await v2.plan()).is_empty


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (field(type=text(max=10), default="a"), field(type=text(max=10), default="b")),
        (field(type=boolean(), default=True), field(type=boolean(), default=False)),
        (required(field(type=text(max=10), default="a")), field(type=text(max=10), default="a")),
    ],
    ids=["text default", "boolean default", "required to optional"],
)
async def test_safe_alterations_keep_values(version: Version, before: Field, after: Field) -> None:
    v1 = version([posts(extra=before)])
    await v1.push()
    await seed(v1, "a")
    kept = await fetch(v1, "SELECT title, extra FROM posts")
    v2 = version([posts(extra=after)])
    plan = await v2.plan()
    assert plan.statements and set(risks(plan)) == {"safe"}, plan.statements
    await v2.push()
    assert await fetch(v2, "SELECT title, extra FROM posts") == kept
    assert (await v2.plan()).is_empty
