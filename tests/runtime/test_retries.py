"""Isolation levels and retried transactions (API.md §2; docs/production.md, "Retried
transactions").

The conflicts are real: two transactions on two pooled connections, synchronised with
anyio events so that they collide on every run (write skew under SERIALIZABLE, a
deadlock from locking two rows in opposite orders, a lock held past the lock timeout).
What is stored is read back afterwards.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import asyncmy.errors as my
import asyncpg.exceptions as pg
import pytest

from deesse_async import (
    Collection,
    ConfigError,
    Database,
    DatabaseError,
    DeadlockDetected,
    LockTimeout,
    SerializationFailure,
    Transaction,
    TransactionConflict,
    UniqueViolation,
    collection,
    field,
    integer,
    required,
    text,
    unique,
)
from deesse_async.dialects import DIALECTS
from deesse_async.drivers import aiosqlite as sqlite_adapter
from deesse_async.drivers import asyncmy as mysql_adapter
from deesse_async.drivers import asyncpg as pg_adapter
from deesse_async.runtime.retries import BACKOFF_CAP, backoff
from tests.blog import Tags
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

SERVERS = pytest.mark.backends("postgresql", "mysql")
LIMIT = 100  # the budget the write-skew transactions share


class Boom(Exception):
    pass


def world(log: list[str]) -> list[Collection]:
    """``budget`` (write skew) and ``items`` (row locks); every committed write logs
    ``"<who> <name or amount>"`` through ``ctx.on_commit``."""

    def announce(ctx: Any, row: dict[str, Any]) -> None:
        what = f"{row['who']} {row.get('name', row.get('amount'))}"
        ctx.on_commit(lambda: log.append(what))

    Budget = collection(
        slug="budget",
        timestamps=False,
        fields={
            "who": required(field(type=text(max=20))),
            "amount": required(field(type=integer())),
        },
        hooks={"after_change": [announce]},
    )
    Items = collection(
        slug="items",
        timestamps=False,
        fields={
            "name": required(unique(field(type=text(max=20)))),
            "qty": required(field(type=integer())),
            "who": field(type=text(max=20)),
        },
        hooks={"after_change": [announce]},
    )
    return [Budget, Items]


class Barrier:
    """Wait until ``parties`` tasks have arrived (bounded, so a bug fails, not hangs)."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.event = anyio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.event.set()
        with anyio.fail_after(15):
            await self.event.wait()


async def run_both(*jobs: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run the jobs concurrently; each one's result or exception, in order."""
    results: list[Any] = [None] * len(jobs)

    async def one(i: int) -> None:
        try:
            results[i] = await jobs[i]()
        except TransactionConflict as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(len(jobs)):
            tg.start_soon(one, i)
    return results


async def sql(tx: Transaction, statement: str) -> Any:
    """One value read with raw SQL on the transaction's own connection."""
    async with tx.acquire() as conn:
        rows = await conn.fetch(statement)
    return rows[0][0]


# -- isolation levels --------------------------------------------------------------


@pytest.mark.backends("postgresql")
async def test_each_isolation_level_is_the_transactions_own_on_postgresql(
    make_db: MakeDb,
) -> None:
    db = await make_db(world([]))
    for level in ("serializable", "repeatable_read", "read_committed", "read_uncommitted"):
        async with db.transaction(isolation=level) as tx:
            assert await sql(tx, "SHOW transaction_isolation") == level.replace("_", " ")
    async with db.transaction() as tx:  # None: the server's default
        assert await sql(tx, "SHOW transaction_isolation") == "read committed"
    assert (
        await db.run_in_transaction(lambda tx: sql(tx, "SHOW transaction_isolation"))
        == "serializable"
    )  # run_in_transaction's default
    # The level was the transaction's only: the session keeps its default.
    async with db.acquire() as conn:
        assert (await conn.fetch("SHOW transaction_isolation"))[0][0] == "read committed"


@SERVERS
@pytest.mark.parametrize(
    ("level", "stable"), [("repeatable_read", True), ("read_committed", False)]
)
async def test_repeatable_read_keeps_its_snapshot_and_read_committed_does_not(
    make_db: MakeDb, level: str, stable: bool
) -> None:
    db = await make_db(world([]))
    await db.items.create({"name": "a", "qty": 1})
    async with db.transaction(isolation=level) as tx:
        assert await tx.items.count() == 1  # the snapshot starts here
        await db.items.create({"name": "b", "qty": 1})  # committed by another connection
        assert await tx.items.count() == (1 if stable else 2)
    assert await db.items.count() == 2


@pytest.mark.backends("mysql")
@pytest.mark.parametrize(("level", "blocks"), [("serializable", True), ("repeatable_read", False)])
async def test_serializable_reads_lock_rows_on_mariadb(
    make_db: MakeDb, level: str, blocks: bool
) -> None:
    # InnoDB's SERIALIZABLE turns plain reads into locking reads; REPEATABLE READ (the
    # server's default) reads a snapshot without locks. @@tx_isolation only shows the
    # session's level, so the level is checked by what it does.
    db = await make_db(world([]))
    row = await db.items.create({"name": "a", "qty": 1})
    async with db.transaction(isolation=level) as tx:
        assert (await tx.items.read(row["id"]) or {})["qty"] == 1
        async with db.acquire() as other:
            await other.execute("SET SESSION innodb_lock_wait_timeout = 1")
            update = other.execute("UPDATE items SET qty = 2 WHERE id = %s", (row["id"],))
            if blocks:
                with pytest.raises(LockTimeout, match="1205"):
                    await update
            else:
                await update
    assert (await db.items.read(row["id"]) or {})["qty"] == (1 if blocks else 2)
    # The level was for that transaction only: the next one reads without locking.
    async with db.transaction() as tx, db.acquire() as other:
        await tx.items.read(row["id"])
        await other.execute("UPDATE items SET qty = 3 WHERE id = %s", (row["id"],))


async def test_every_level_is_accepted_and_commits(make_db: MakeDb) -> None:
    # SQLite has one level, serializable, which meets every weaker one (docs/runtime.md).
    db = await make_db(world([]))
    for i, level in enumerate(("serializable", "repeatable_read", "read_committed", None)):
        async with db.transaction(isolation=level) as tx:
            await tx.items.create({"name": f"n{i}", "qty": i})
    async with db.transaction(isolation="read_uncommitted") as tx:
        assert await tx.items.count() == 4
    assert await db.run_in_transaction(lambda tx: tx.items.count(), isolation=None) == 4


def test_the_dialects_spell_the_levels() -> None:
    assert DIALECTS["postgresql"].begin_isolated("read_committed") == (
        "BEGIN ISOLATION LEVEL READ COMMITTED",
    )
    assert DIALECTS["mysql"].begin_isolated("repeatable_read") == (
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION",
    )
    assert DIALECTS["sqlite"].begin_isolated("read_uncommitted") == ("BEGIN IMMEDIATE",)


async def test_bad_levels_and_misuse_are_clear_errors(make_db: MakeDb) -> None:
    db = await make_db(world([]))
    calls = 0

    async def fn(tx: Transaction) -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(ConfigError, match=r"'serialisable'; did you mean 'serializable'\?.*"
                       r"'repeatable_read', 'read_committed', 'read_uncommitted'"):  # fmt: skip
        db.transaction(isolation="serialisable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown isolation level 'snapshot'"):
        await db.with_user({"id": 1}).run_in_transaction(fn, isolation="snapshot")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="retries=-1"):
        await db.run_in_transaction(fn, retries=-1)
    assert calls == 0
    async with db.transaction() as tx:
        with pytest.raises(ConfigError, match="savepoint runs at the isolation level"):
            tx.transaction(isolation="serializable")
        with pytest.raises(ConfigError, match="only the outermost one can be re-run"):
            await tx.run_in_transaction(fn)
        with pytest.raises(ConfigError, match="only the outermost one can be re-run"):
            await tx.trusted().run_in_transaction(fn)
        await tx.items.create({"name": "still usable", "qty": 0})
    assert calls == 0
    assert await db.items.count() == 1


# -- run_in_transaction: real conflicts ---------------------------------------------


def write_skew(
    db: Database, calls: Counter[str], barrier: Barrier
) -> Callable[[str, int], Awaitable[int]]:
    """Each transaction reads what is spent, then takes the rest of LIMIT: run together,
    only serializable transactions keep the total within LIMIT (one must re-run)."""

    def run(who: str, retries: int) -> Awaitable[int]:
        async def take_the_rest(tx: Transaction) -> int:
            calls[who] += 1
            spent = sum(r["amount"] for r in await tx.query.budget.find_many())
            if calls[who] == 1:
                await barrier.wait()  # both have read before either writes
            await tx.budget.create({"who": who, "amount": LIMIT - spent})
            return LIMIT - spent

        return db.run_in_transaction(take_the_rest, retries=retries)

    return run


@SERVERS
async def test_write_skew_is_retried_until_both_commit_serializably(
    make_db: MakeDb, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []
    db = await make_db(world(log))
    calls: Counter[str] = Counter()
    run = write_skew(db, calls, Barrier(2))
    with caplog.at_level(logging.INFO, logger="deesse_async.transactions"):
        taken = await run_both(lambda: run("ann", 3), lambda: run("bob", 3))
    # One committed first and took everything; the other re-ran and saw it.
    assert sorted(taken) == [0, LIMIT]
    rows = await db.query.budget.find_many()
    assert sorted(r["amount"] for r in rows) == [0, LIMIT]
    assert sum(calls.values()) == 3 and sorted(calls.values()) == [1, 2]
    # on_commit: once per committed transaction; the failed attempt's never ran.
    assert sorted(log) == sorted(f"{r['who']} {r['amount']}" for r in rows)
    # PostgreSQL: 40001; MariaDB's SERIALIZABLE read locks make it a deadlock (1213).
    conflict = SerializationFailure if backend == "postgresql" else DeadlockDetected
    retried = [r for r in caplog.records if "re-running it" in r.getMessage()]
    assert len(retried) == 1 and conflict.__name__ in retried[0].getMessage()


@SERVERS
async def test_the_last_conflict_propagates_when_retries_run_out(
    make_db: MakeDb, backend: str
) -> None:
    log: list[str] = []
    db = await make_db(world(log))
    calls: Counter[str] = Counter()
    run = write_skew(db, calls, Barrier(2))
    results = await run_both(lambda: run("ann", 0), lambda: run("bob", 0))
    failed = [r for r in results if isinstance(r, TransactionConflict)]
    assert len(failed) == 1 and LIMIT in results
    error = failed[0]
    conflict = SerializationFailure if backend == "postgresql" else DeadlockDetected
    assert type(error) is conflict
    assert error.code == ("40001" if backend == "postgresql" else "1213")
    assert "run it again" in str(error) and "run_in_transaction(fn, retries=3)" in str(error)
    assert any("gave up after 1 attempt(s) (retries=0)" in n for n in error.__notes__)
    assert sum(calls.values()) == 2  # retries=0: each ran once
    rows = await db.query.budget.find_many()
    assert [r["amount"] for r in rows] == [LIMIT]  # the failed one left nothing
    assert log == [f"{rows[0]['who']} {LIMIT}"]


@SERVERS
async def test_a_deadlock_is_retried_and_both_commit(
    make_db: MakeDb, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []
    db = await make_db(world(log))
    a = await db.items.create({"name": "a", "qty": 0})
    b = await db.items.create({"name": "b", "qty": 0})
    log.clear()
    calls: Counter[str] = Counter()
    barrier = Barrier(2)

    def bump_both(who: str, first: dict[str, Any], second: dict[str, Any]) -> Awaitable[None]:
        async def bump(tx: Transaction, row: dict[str, Any]) -> None:
            current = await tx.items.read(row["id"])
            assert current is not None
            await tx.items.update(row["id"], {"qty": current["qty"] + 1, "who": who})

        async def fn(tx: Transaction) -> None:
            calls[who] += 1
            await bump(tx, first)
            if calls[who] == 1:
                await barrier.wait()  # each holds its first row: opposite orders collide
            await bump(tx, second)

        return db.run_in_transaction(fn)

    with caplog.at_level(logging.INFO, logger="deesse_async.transactions"):
        results = await run_both(lambda: bump_both("ann", a, b), lambda: bump_both("bob", b, a))
    assert results == [None, None]
    assert [r["qty"] for r in await db.query.items.find_many(order_by={"name": "asc"})] == [2, 2]
    assert sum(calls.values()) >= 3  # the deadlock's victim ran again
    assert any("DeadlockDetected" in r.getMessage() for r in caplog.records)
    # on_commit: one per update of the committed attempts, never one of the victim's.
    assert sorted(log) == ["ann a", "ann b", "bob a", "bob b"]


@SERVERS
async def test_a_lock_timeout_is_retried(make_db: MakeDb, backend: str) -> None:
    db = await make_db(world([]))
    row = await db.items.create({"name": "a", "qty": 0})
    locked, release = anyio.Event(), anyio.Event()
    short_wait = (
        "SET LOCAL lock_timeout = '100ms'"
        if backend == "postgresql"
        else "SET SESSION innodb_lock_wait_timeout = 1"
    )
    calls = 0

    async def hold() -> None:
        async with db.transaction() as tx:
            await tx.items.update(row["id"], {"qty": 1, "who": "holder"})
            locked.set()
            with anyio.fail_after(15):
                await release.wait()

    async def fn(tx: Transaction) -> str:
        nonlocal calls
        calls += 1
        async with tx.acquire() as conn:
            await conn.execute(short_wait)
        if calls == 2:
            release.set()  # the holder commits while this attempt waits for the lock
        await tx.items.update(row["id"], {"qty": 2, "who": "retried"})
        return "done"

    async def retried() -> str:
        await locked.wait()
        return await db.run_in_transaction(fn, isolation="read_committed")

    results = await run_both(hold, retried)
    assert results == [None, "done"]
    assert calls == 2
    stored = await db.items.read(row["id"])
    assert stored is not None and (stored["qty"], stored["who"]) == (2, "retried")


@pytest.mark.backends("postgresql")
async def test_a_transaction_aborted_by_a_caught_error_does_not_pass_for_committed(
    make_db: MakeDb,
) -> None:
    # PostgreSQL answers COMMIT in an aborted transaction with ROLLBACK, not an error: a
    # conflict (or any error) caught inside fn must not make run_in_transaction succeed.
    db = await make_db([Tags])  # no hooks: a plain create runs in no savepoint
    await db.tags.create({"name": "taken"})

    async def swallow(tx: Transaction) -> str:
        await tx.tags.create({"name": "new"})
        with pytest.raises(UniqueViolation):
            await tx.tags.create({"name": "taken"})
        return "looks fine"

    with pytest.raises(DatabaseError, match=r"rolled back, not committed.*tx\.transaction"):
        await db.run_in_transaction(swallow)
    with pytest.raises(DatabaseError, match="rolled back, not committed"):
        async with db.transaction() as tx:
            await swallow(tx)
    assert [r["name"] for r in await db.query.tags.find_many()] == ["taken"]
    async with db.transaction() as tx:  # the connection is fine afterwards
        await tx.tags.create({"name": "new"})
    assert await db.tags.count() == 2


# -- run_in_transaction: every backend ------------------------------------------------


async def test_other_errors_are_not_retried(make_db: MakeDb) -> None:
    db = await make_db(world([]))
    await db.items.create({"name": "taken", "qty": 0})
    calls = 0

    async def duplicate(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await tx.items.create({"name": "new", "qty": 0})
        await tx.items.create({"name": "taken", "qty": 0})

    with pytest.raises(UniqueViolation):
        await db.run_in_transaction(duplicate, retries=5)
    assert calls == 1

    async def boom(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await tx.items.create({"name": "new", "qty": 0})
        raise Boom

    with pytest.raises(Boom):
        await db.run_in_transaction(boom, retries=5)
    assert calls == 2
    assert [r["name"] for r in await db.query.items.find_many()] == ["taken"]  # rolled back


async def test_a_retried_attempt_starts_afresh_and_on_commit_runs_once(
    make_db: MakeDb, caplog: pytest.LogCaptureFixture
) -> None:
    # The conflict here is raised by fn itself (a check of its own may do that), so the
    # retry loop and the dropping of a failed attempt's callbacks are seen on every
    # backend, SQLite included.
    log: list[str] = []
    db = await make_db(world(log))
    seen: list[int] = []

    async def fn(tx: Transaction) -> str:
        seen.append(await tx.items.count())
        await tx.items.create({"name": f"try{len(seen)}", "qty": len(seen), "who": "fn"})
        if len(seen) < 3:
            raise SerializationFailure("a check of fn's own", code="40001")
        return "third time"

    with caplog.at_level(logging.INFO, logger="deesse_async.transactions"):
        assert await db.trusted().run_in_transaction(fn, retries=2) == "third time"
    assert seen == [0, 0, 0]  # each attempt saw nothing of the rolled-back ones
    assert [r["name"] for r in await db.query.items.find_many()] == ["try3"]
    assert log == ["fn try3"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "run_in_transaction(" in messages[0] and "SerializationFailure (40001)" in messages[0]
    assert "retry 1 of 2" in messages[0] and "retry 2 of 2" in messages[1]


async def test_a_conflict_raised_after_the_commit_is_not_retried(make_db: MakeDb) -> None:
    # An on_commit callback runs once the transaction is stored: re-running fn would
    # store it twice, so the callback's error propagates as it is.
    def conflicting_callback() -> None:
        raise LockTimeout("the callback's own write waited too long", code="55P03")

    def register(ctx: Any, row: dict[str, Any]) -> None:
        ctx.on_commit(conflicting_callback)

    Notes = collection(
        slug="notes",
        timestamps=False,
        fields={"body": required(field(type=text(max=20)))},
        hooks={"after_change": [register]},
    )
    db = await make_db([Notes])
    calls = 0

    async def fn(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await tx.notes.create({"body": f"n{calls}"})

    with pytest.raises(LockTimeout) as caught:
        await db.run_in_transaction(fn, retries=3)
    assert calls == 1
    assert any("raised by an on_commit callback" in n for n in caught.value.__notes__)
    assert [r["body"] for r in await db.query.notes.find_many()] == ["n1"]


async def test_views_keep_their_user_in_run_in_transaction(make_db: MakeDb) -> None:
    db = await make_db(world([]))
    user = {"id": 7}

    async def who(tx: Transaction) -> Any:
        return tx.user

    assert await db.with_user(user).run_in_transaction(who) == user
    assert await db.trusted().run_in_transaction(who) is None
    assert await db.run_in_transaction(who) is None


def test_backoff_grows_and_is_capped() -> None:
    for retry in range(12):
        delay = backoff(retry)
        assert 0.5 * min(BACKOFF_CAP, 0.005 * 2**retry) <= delay
        assert delay < 1.5 * min(BACKOFF_CAP, 0.005 * 2**retry)
    assert len({backoff(3) for _ in range(20)}) > 1  # jittered


# -- the drivers' tables ----------------------------------------------------------------


class _PostgresError(pg.PostgresError):
    def __init__(self, state: str) -> None:
        super().__init__("could not serialize access")
        self.sqlstate = state


@pytest.mark.parametrize(
    ("state", "expected"),
    [("40001", SerializationFailure), ("40P01", DeadlockDetected), ("55P03", LockTimeout)],
)
def test_postgres_conflict_codes(state: str, expected: type[TransactionConflict]) -> None:
    error = pg_adapter.translate(_PostgresError(state), {}, "db")
    assert type(error) is expected and error.code == state
    assert f"PostgreSQL error {state}" in str(error) and "run_in_transaction" in str(error)


@pytest.mark.parametrize(
    ("errno", "expected"),
    [
        (1213, DeadlockDetected),
        (1205, LockTimeout),
        (3572, LockTimeout),
        (1020, SerializationFailure),
    ],
)
def test_mysql_conflict_codes(errno: int, expected: type[TransactionConflict]) -> None:
    error = mysql_adapter.translate(my.OperationalError(errno, "Deadlock found"), {}, "db")
    assert type(error) is expected and error.code == str(errno)


def test_a_busy_sqlite_database_is_a_lock_timeout(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as caught:
            waiter.execute("BEGIN IMMEDIATE")
    finally:
        holder.close()
        waiter.close()
    error = sqlite_adapter.translate(caught.value, {}, "db")
    assert type(error) is LockTimeout and error.code == "SQLITE_BUSY"
    assert "database is locked" in str(error)
