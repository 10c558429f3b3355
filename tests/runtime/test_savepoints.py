"""Transactions nest: ``tx.transaction()`` is a savepoint (API.md §2 and §5).

A failing inner block rolls back only its own work; the outer transaction goes on and
decides for everything. Real databases, real values: what is stored is read back after
the outer transaction ends.
"""

from __future__ import annotations

import anyio
import pytest

from deesse_async import Database, ForeignKeyViolation, UniqueViolation
from tests.blog import BLOG
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


async def names(db: Database) -> list[str]:
    return sorted(t["name"] for t in await db.query.tags.find_many())


async def test_a_failed_savepoint_undoes_only_its_own_work(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    async with db.transaction() as tx:
        await tx.tags.create({"name": "before"})
        with pytest.raises(Boom):
            async with tx.transaction() as inner:
                await inner.tags.create({"name": "inside"})
                assert await inner.tags.count() == 2  # the inner view sees both
                raise Boom
        assert await tx.tags.count() == 1  # "inside" is gone, "before" stays
        await tx.tags.create({"name": "after"})
    assert await names(db) == ["after", "before"]


async def test_a_savepoint_that_succeeds_commits_with_the_outer_transaction(
    make_db: MakeDb,
) -> None:
    db = await make_db(BLOG)
    async with db.transaction() as tx:
        async with tx.transaction() as inner:
            await inner.tags.create({"name": "inner"})
        await tx.tags.create({"name": "outer"})
    assert await names(db) == ["inner", "outer"]


async def test_the_outer_rollback_takes_released_savepoints_with_it(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    with pytest.raises(Boom):
        async with db.transaction() as tx:
            async with tx.transaction() as inner:
                await inner.tags.create({"name": "inner"})
            raise Boom
    assert await names(db) == []


async def test_savepoints_nest_to_any_depth(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    async with db.transaction() as tx:
        async with tx.transaction() as one:
            await one.tags.create({"name": "one"})
            async with one.transaction() as two:
                await two.tags.create({"name": "two"})
                with pytest.raises(Boom):
                    async with two.transaction() as three:
                        await three.tags.create({"name": "three"})
                        raise Boom
            with pytest.raises(Boom):
                async with one.transaction() as again:
                    await again.tags.create({"name": "again"})
                    raise Boom
    assert await names(db) == ["one", "two"]


async def test_after_a_database_error_in_a_savepoint_the_transaction_goes_on(
    make_db: MakeDb,
) -> None:
    # PostgreSQL aborts the whole transaction after an error unless a savepoint catches
    # it: the classic "try to insert, fall back" pattern needs tx.transaction().
    db = await make_db(BLOG)
    async with db.transaction() as tx:
        await tx.tags.create({"name": "taken"})
        with pytest.raises(UniqueViolation):
            async with tx.transaction() as attempt:
                await attempt.tags.create({"name": "taken"})
        await tx.tags.create({"name": "fallback"})
        rows = await tx.query.tags.find_many(order_by={"name": "asc"})
        assert [r["name"] for r in rows] == ["fallback", "taken"]
    assert await names(db) == ["fallback", "taken"]


async def test_a_cancelled_savepoint_rolls_back_its_work_only(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    async with db.transaction() as tx:
        await tx.tags.create({"name": "kept"})
        with anyio.move_on_after(0.2):
            async with tx.transaction() as inner:
                await inner.tags.create({"name": "cancelled"})
                await anyio.sleep(5)
        await tx.tags.create({"name": "after"})
    assert await names(db) == ["after", "kept"]


async def test_a_savepoint_can_only_open_inside_its_transaction(make_db: MakeDb) -> None:
    db = await make_db(BLOG)
    async with db.transaction() as tx:
        pass
    with pytest.raises(Exception, match="transaction has ended"):
        async with tx.transaction():
            pass


async def test_a_failed_multi_statement_write_inside_a_transaction_leaves_nothing(
    make_db: MakeDb,
) -> None:
    # create() with many-to-many links is several statements (the row, then its links).
    # When a link fails inside a transaction the caller may catch the error and commit:
    # the half-written post must not be committed with it.
    db = await make_db(BLOG)
    author = await db.users.create({"name": "Ada", "email": "ada@example.com"})
    tag = await db.tags.create({"name": "real"})
    async with db.transaction() as tx:
        with pytest.raises(ForeignKeyViolation):
            await tx.posts.create(
                {"title": "half", "author_id": author["id"], "tags": [tag["id"], 999_999]}
            )
        await tx.posts.create({"title": "whole", "author_id": author["id"], "tags": [tag["id"]]})
        with pytest.raises(ForeignKeyViolation):
            await tx.posts.create_many(
                [
                    {"title": "first of many", "author_id": author["id"]},
                    {"title": "second of many", "author_id": 999_999},
                ]
            )
    posts = await db.query.posts.find_many(with_={"tags": True})
    assert [(p["title"], [t["name"] for t in p["tags"]]) for p in posts] == [("whole", ["real"])]
