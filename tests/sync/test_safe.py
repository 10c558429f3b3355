"""``push_schema(db, safe_only=True)`` (``deesse push --safe``): what goes in, what waits.

A statement that is not safe holds back every statement on its table (they may depend on
it; on SQLite they are one rebuild); other tables' safe statements go in.
"""

from __future__ import annotations

import pytest

from deesse_async import collection, field, index, integer, required, text
from deesse_async.sync.plan import PlannedStatement, SyncPlan
from deesse_async.sync.push import push_schema
from deesse_async.sync.safe import safe_part, statement_table
from tests.sync.conftest import Version, fetch, snapshot

pytestmark = pytest.mark.anyio

TITLE = required(field(type=text(max=100)))
Tags = collection(slug="tags", fields={"name": field(type=text(max=40))})


async def test_a_held_statement_holds_its_whole_table_back(version: Version) -> None:
    v1 = version([collection(slug="posts", fields={"title": TITLE, "body": field(type=text())})])
    await v1.push()
    await v1.connect()
    await v1.posts.create({"title": "a", "body": "x"})
    # body dropped (destructive), rank added with an index (safe, same table), tags new.
    posts = collection(slug="posts", fields={"title": TITLE, "rank": index(field(type=integer()))})
    v2 = version([posts, Tags])
    applied = await push_schema(v2, safe_only=True)
    assert applied.created_tables == ["tags"]
    assert all(s.risk == "safe" for s in applied.statements)
    assert {statement_table(s.sql) for s in applied.statements} == {"tags"}
    tables = await snapshot(v2)
    assert "tags" in tables
    assert [c[0] for c in tables["posts"]["columns"]] == [
        "id", "title", "body", "created_at", "updated_at"
    ]  # fmt: skip
    assert await fetch(v2, "SELECT title, body FROM posts") == [("a", "x")]
    rest = await v2.plan()
    assert rest.has_data_loss and {statement_table(s.sql) for s in rest.statements} == {"posts"}
    assert (await push_schema(v2, safe_only=True)).is_empty  # nothing safe is left


def test_statement_tables_and_an_unknown_one() -> None:
    assert statement_table("DROP INDEX ix_posts_rank ON `posts`") == "posts"
    assert statement_table('CREATE INDEX "ix_a" ON "s"."posts" (rank)') == "posts"
    assert statement_table("INSERT INTO _alembic_tmp_posts (id) SELECT id FROM posts") == "posts"
    assert statement_table("DROP INDEX ix_posts_rank") is None
    plan = SyncPlan(
        [
            PlannedStatement("CREATE TABLE tags (id INTEGER)", "safe", ""),
            PlannedStatement("DROP INDEX ix_posts_rank", "destructive", ""),
        ],
        [None, 0],
        created_tables=["tags"],
    )
    assert safe_part(plan).is_empty  # a held statement on an unknown table: nothing goes in
