"""Transactions with access rules (API.md §2 and §5): rollback, savepoints, isolation.

tests/runtime/test_savepoints.py covers savepoints for creates on plain collections;
here the transactions run on user views of ruled collections and do every kind of
write (create, update, delete), and on PostgreSQL two transactions run concurrently.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from deesse_async import (
    AccessDenied,
    Database,
    NotFound,
    collection,
    field,
    integer,
    relation,
    required,
    text,
)
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

ALICE = {"id": 1}
BOB = {"id": 2}


class Boom(Exception):
    pass


def own_rows(ctx: Any) -> Any:
    return False if ctx.user is None else {"owner": ctx.user["id"]}


Accounts = collection(
    slug="accounts",
    timestamps=False,
    fields={
        "name": required(field(type=text(min=1, max=50))),
        "owner": required(field(type=integer())),
        "balance": required(field(type=integer(min=0))),
    },
    access={"read": own_rows, "create": own_rows, "update": own_rows, "delete": own_rows},
)

Entries = collection(
    slug="entries",
    timestamps=False,
    fields={
        "account": required(field(type=relation("accounts", on_delete="cascade"))),
        "amount": required(field(type=integer())),
    },
)

ALL = [Accounts, Entries]


async def accounts(db: Database) -> list[dict[str, Any]]:
    return await db.trusted().query.accounts.find_many(order_by={"id": "asc"})


async def entries(db: Database) -> list[tuple[int, int]]:
    rows = await db.trusted().query.entries.find_many(order_by={"id": "asc"})
    return [(r["account_id"], r["amount"]) for r in rows]


async def seed(db: Database) -> dict[str, dict[str, Any]]:
    t = db.trusted().accounts
    return {
        "a1": await t.create({"name": "a1", "owner": 1, "balance": 100}),
        "a2": await t.create({"name": "a2", "owner": 1, "balance": 50}),
        "a3": await t.create({"name": "a3", "owner": 1, "balance": 10}),
        "b1": await t.create({"name": "b1", "owner": 2, "balance": 70}),
    }


def acc(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**row, **changes}


async def test_an_exception_rolls_back_every_kind_of_write(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    before = await accounts(db)
    with pytest.raises(Boom):
        async with db.with_user(ALICE).transaction() as tx:
            await tx.accounts.update(s["a1"]["id"], {"balance": 0})
            await tx.entries.create({"account_id": s["a1"]["id"], "amount": -100})
            assert await tx.accounts.delete(s["a3"]["id"]) == s["a3"]
            await tx.accounts.create({"name": "a4", "owner": 1, "balance": 1})
            assert [
                r["name"] for r in await tx.query.accounts.find_many(order_by={"id": "asc"})
            ] == ["a1", "a2", "a4"]
            raise Boom
    assert await accounts(db) == before
    assert await entries(db) == []


async def test_an_access_error_left_uncaught_rolls_the_transaction_back(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    before = await accounts(db)
    with pytest.raises(NotFound):
        async with db.with_user(ALICE).transaction() as tx:
            await tx.accounts.update(s["a1"]["id"], {"balance": 0})
            await tx.accounts.update(s["b1"]["id"], {"balance": 170})  # bob's: unreadable
    with pytest.raises(AccessDenied):
        async with db.with_user(ALICE).transaction() as tx:
            await tx.accounts.delete(s["a2"]["id"])
            await tx.accounts.create({"name": "stolen", "owner": 2, "balance": 1})
    assert await accounts(db) == before


async def test_a_failed_savepoint_undoes_only_its_own_updates_and_deletes(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    async with db.with_user(ALICE).transaction() as tx:
        await tx.accounts.update(s["a1"]["id"], {"balance": 90})
        await tx.entries.create({"account_id": s["a1"]["id"], "amount": -10})
        with pytest.raises(Boom):
            async with tx.transaction() as inner:
                await inner.accounts.update(s["a2"]["id"], {"balance": 0})
                await inner.accounts.delete(s["a3"]["id"])
                await inner.entries.create({"account_id": s["a2"]["id"], "amount": -50})
                assert await inner.accounts.read(s["a3"]["id"]) is None
                raise Boom
        # the outer transaction sees its own work, not the inner block's
        assert await tx.accounts.read(s["a2"]["id"]) == s["a2"]
        assert await tx.accounts.read(s["a3"]["id"]) == s["a3"]
        with pytest.raises(AccessDenied):
            async with tx.transaction() as inner:
                await inner.accounts.update(s["a2"]["id"], {"balance": 49})
                await inner.accounts.create({"name": "bob's", "owner": 2, "balance": 1})
        await tx.accounts.update(s["a3"]["id"], {"balance": 11})
    assert await accounts(db) == [
        acc(s["a1"], balance=90),
        s["a2"],
        acc(s["a3"], balance=11),
        s["b1"],
    ]
    assert await entries(db) == [(s["a1"]["id"], -10)]


async def test_a_released_savepoint_goes_with_the_outer_rollback(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    before = await accounts(db)
    with pytest.raises(Boom):
        async with db.with_user(ALICE).transaction() as tx:
            async with tx.transaction() as one:
                await one.accounts.update(s["a1"]["id"], {"balance": 1})
                async with one.transaction() as two:
                    await two.accounts.delete(s["a2"]["id"])
                with pytest.raises(Boom):
                    async with one.transaction() as three:
                        await three.accounts.delete(s["a3"]["id"])
                        raise Boom
                assert [
                    r["name"] for r in await one.query.accounts.find_many(order_by={"id": "asc"})
                ] == ["a1", "a3"]
            raise Boom
    assert await accounts(db) == before


async def test_committed_savepoints_keep_their_updates_and_deletes(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    s = await seed(db)
    async with db.with_user(ALICE).transaction() as tx:
        async with tx.transaction() as one:
            await one.accounts.update(s["a1"]["id"], {"balance": 1})
            async with one.transaction() as two:
                await two.accounts.delete(s["a2"]["id"])
    assert await accounts(db) == [acc(s["a1"], balance=1), s["a3"], s["b1"]]


@pytest.mark.backends("postgresql")
async def test_concurrent_transactions_do_not_see_each_others_uncommitted_rows(
    make_db: MakeDb,
) -> None:
    db = await make_db(ALL)
    a_wrote, b_wrote, a_committed = anyio.Event(), anyio.Event(), anyio.Event()
    seen: dict[str, Any] = {}

    async def names(view: Any) -> list[str]:
        return [r["name"] for r in await view.query.accounts.find_many(order_by={"name": "asc"})]

    async def task_a() -> None:
        async with db.with_user(ALICE).transaction() as tx:
            await tx.accounts.create({"name": "from a", "owner": 1, "balance": 1})
            a_wrote.set()
            await b_wrote.wait()
            seen["a sees"] = await names(tx.trusted())
            seen["a counts"] = await tx.trusted().accounts.count()
            seen["outside sees"] = await names(db.trusted())
        a_committed.set()

    async def task_b() -> None:
        async with db.trusted().transaction() as tx:
            await a_wrote.wait()
            seen["b sees before"] = await names(tx)
            await tx.accounts.create({"name": "from b", "owner": 2, "balance": 2})
            b_wrote.set()
            await a_committed.wait()
            seen["b sees after a's commit"] = await names(tx)
            seen["bob sees after a's commit"] = await names(tx.with_user(BOB))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task_a)
            tg.start_soon(task_b)
    assert seen == {
        "b sees before": [],
        "a sees": ["from a"],
        "a counts": 1,
        "outside sees": [],
        "b sees after a's commit": ["from a", "from b"],
        "bob sees after a's commit": ["from b"],
    }
    assert await names(db.trusted()) == ["from a", "from b"]
    assert await names(db.with_user(ALICE)) == ["from a"]


@pytest.mark.backends("postgresql")
async def test_a_rolled_back_concurrent_transaction_is_never_seen(make_db: MakeDb) -> None:
    db = await make_db(ALL)
    a_wrote, a_done = anyio.Event(), anyio.Event()
    seen: dict[str, Any] = {}

    async def task_a() -> None:
        try:
            async with db.trusted().transaction() as tx:
                await tx.accounts.create({"name": "doomed", "owner": 1, "balance": 1})
                a_wrote.set()
                await anyio.sleep(0.05)
                raise Boom
        except Boom:
            a_done.set()

    async def task_b() -> None:
        async with db.trusted().transaction() as tx:
            await a_wrote.wait()
            seen["during"] = await tx.accounts.count()
            await a_done.wait()
            seen["after"] = await tx.accounts.count()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task_a)
            tg.start_soon(task_b)
    assert seen == {"during": 0, "after": 0}
    assert await db.trusted().accounts.count() == 0
