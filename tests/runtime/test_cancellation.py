"""Cancellation is honest on every backend (docs/reliability.md, "What cancellation means").

The rule: a cancellation that arrives before COMMIT is sent rolls the whole transaction
back and propagates as cancellation; once COMMIT is sent it completes, and the
cancellation is delivered afterwards. Either way the pooled connection comes back clean
and no later write is lost.

Each window is hit exactly, not by sleeping: the adapter method that sends BEGIN, a
statement or COMMIT is wrapped so that it requests the cancellation of the calling task
and then runs, so the cancellation lands while that very statement is in flight.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import pathlib
import random
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest

from deesse_async import Database, DeesseError, define_config
from tests.blog import Tags
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio

Trigger = Callable[[], None]


def _cancel_task() -> Trigger:
    task = asyncio.current_task()
    assert task is not None
    return lambda: task.cancel()


async def _connection_class(db: Database) -> type:
    async with db.acquire() as conn:
        return type(conn)


class Interrupt:
    """Wrap adapter methods so their next call first fires ``trigger`` (once)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: type, *methods: str) -> None:
        self.armed: Trigger | None = None
        self.fired = 0
        for name in methods:
            monkeypatch.setattr(cls, name, self._wrap(getattr(cls, name)))

    def _wrap(self, original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(conn: Any, *args: Any, **kwargs: Any) -> Any:
            trigger, self.armed = self.armed, None
            if trigger is not None:
                self.fired += 1
                trigger()  # the request lands at the driver's first await: in flight
            return await original(conn, *args, **kwargs)

        return wrapper

    def arm(self, trigger: Trigger | None = None) -> None:
        self.armed = trigger or _cancel_task()


@pytest.fixture
def interrupt(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Awaitable[Interrupt]]]:
    async def make(db: Database, *methods: str) -> Interrupt:
        return Interrupt(monkeypatch, await _connection_class(db), *methods)

    yield make


async def _names(db: Database) -> list[str]:
    rows = await db.query.tags.find_many(order_by={"id": "asc"})
    return [r["name"] for r in rows]


async def _writes_survive(db: Database, name: str) -> None:
    """A later autocommit write on the (same, pooled) connection is really stored."""
    row = await db.tags.create({"name": name})
    assert await db.tags.read(row["id"]) == row
    # Every pooled connection sees it, so no connection holds it in an open transaction.
    async with asyncio.TaskGroup() as tg:
        reads = [tg.create_task(db.tags.read(row["id"])) for _ in range(4)]
    assert all(r.result() == row for r in reads)


async def test_cancel_while_begin_is_in_flight_loses_no_later_write(
    make_db: MakeDb, interrupt: Callable[..., Awaitable[Interrupt]]
) -> None:
    db = await make_db([Tags])
    spy = await interrupt(db, "begin")
    for i in range(5):

        async def body(i: int = i) -> None:
            spy.arm()
            async with db.transaction() as tx:
                await tx.tags.create({"name": f"inside-{i}"})

        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(body())
        await _writes_survive(db, f"after-{i}")
    assert spy.fired == 5
    assert await _names(db) == [f"after-{i}" for i in range(5)]


async def test_cancel_right_after_the_transaction_starts_as_a_user_would(
    make_db: MakeDb,
) -> None:
    # The repro, without any wrapping: cancel the task as soon as it is waiting.
    db = await make_db([Tags])
    created = []
    for i in range(20):

        async def body() -> None:
            async with db.transaction():
                await asyncio.sleep(10)

        task = asyncio.create_task(body())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        created.append(await db.tags.create({"name": f"t{i}"}))
    assert [r["name"] for r in await db.query.tags.find_many(order_by={"id": "asc"})] == [
        r["name"] for r in created
    ]
    assert len({r["id"] for r in created}) == 20


async def test_cancel_while_a_statement_is_in_flight_rolls_back(
    make_db: MakeDb, interrupt: Callable[..., Awaitable[Interrupt]]
) -> None:
    db = await make_db([Tags])
    spy = await interrupt(db, "fetch", "execute")
    for i in range(3):

        async def body(i: int = i) -> None:
            async with db.transaction() as tx:
                await tx.tags.create({"name": f"first-{i}"})
                spy.arm()
                await tx.tags.create({"name": f"second-{i}"})

        # Exactly CancelledError: never a DatabaseError about the cancelled statement.
        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(body())
        await _writes_survive(db, f"after-{i}")
    assert spy.fired == 3
    assert await _names(db) == ["after-0", "after-1", "after-2"]


async def test_cancel_before_commit_is_sent_rolls_everything_back(make_db: MakeDb) -> None:
    db = await make_db([Tags])

    async def body() -> None:
        async with db.transaction() as tx:
            await tx.tags.create({"name": "never"})
            _cancel_task()()  # requested after the last statement, before COMMIT

    with pytest.raises(asyncio.CancelledError) as caught:
        await asyncio.create_task(body())
    assert not any("committed" in n for n in getattr(caught.value, "__notes__", []))
    assert await _names(db) == []
    await _writes_survive(db, "after")


async def test_cancel_while_commit_is_in_flight_commits_then_cancels(
    make_db: MakeDb, interrupt: Callable[..., Awaitable[Interrupt]]
) -> None:
    db = await make_db([Tags])
    spy = await interrupt(db, "commit")
    steps: list[str] = []

    async def body() -> None:
        async with db.transaction() as tx:
            await tx.tags.create({"name": "kept"})
            spy.arm()
        steps.append("after the block")  # not reached: the cancellation follows the COMMIT

    with pytest.raises(asyncio.CancelledError) as caught:
        await asyncio.create_task(body())
    assert spy.fired == 1
    assert steps == []
    notes = getattr(caught.value, "__notes__", [])
    assert any("committed" in n for n in notes), notes
    assert await _names(db) == ["kept"]
    await _writes_survive(db, "after")


async def test_timeout_during_a_transaction_is_a_timeout(
    make_db: MakeDb, interrupt: Callable[..., Awaitable[Interrupt]]
) -> None:
    # asyncio.timeout turns its own cancellation into TimeoutError only if the
    # cancellation comes back out as CancelledError.
    db = await make_db([Tags])
    spy = await interrupt(db, "fetch", "execute")
    loop = asyncio.get_running_loop()
    for i in range(3):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(None) as deadline:
                async with db.transaction() as tx:
                    spy.arm(lambda d=deadline: d.reschedule(loop.time()))
                    await tx.tags.create({"name": f"late-{i}"})
                    await asyncio.sleep(5)
    assert spy.fired == 3
    assert await _names(db) == []
    await _writes_survive(db, "after")


async def test_timeout_outside_transactions_keeps_the_pool_usable(make_db: MakeDb) -> None:
    # Cancelled reads and autocommit writes: no driver error, and the pool stays sound.
    # Connections opened up front: see the random-timeout test below.
    db = await make_db([Tags], pool_size=3, pool_min_size=3)
    await db.tags.create({"name": "a"})
    for delay in (0, 0.0005, 0.001, 0.002):
        for _ in range(5):
            try:
                async with asyncio.timeout(delay):
                    await db.query.tags.find_many()
            except TimeoutError:
                pass
            except DeesseError as exc:  # pragma: no cover - the failure being guarded
                pytest.fail(f"a cancelled read raised {exc!r}")
    await _writes_survive(db, "after")


async def test_sqlite_begin_that_runs_after_its_cancellation_loses_no_write(
    tmp_path: pathlib.Path,
) -> None:
    # The defect 1, made exact: another writer holds the database lock, so the
    # cancelled task's BEGIN IMMEDIATE is still queued in aiosqlite's thread when the
    # cancellation is handled, and runs only once the lock is released. That late BEGIN
    # must not swallow the next caller's autocommit write.
    path = tmp_path / "app.db"
    db = define_config(provider=f"sqlite:///{path}", collections=[Tags])
    async with db:
        await db.push()
        for i in range(3):
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")

            async def body(i: int = i) -> None:
                async with db.transaction() as tx:
                    await tx.tags.create({"name": f"inside-{i}"})

            task = asyncio.create_task(body())
            await asyncio.sleep(0.05)  # the task now waits for its BEGIN: the lock is held
            task.cancel()
            await asyncio.wait([task], timeout=0.2)
            blocker.execute("COMMIT")  # the queued BEGIN can run now
            blocker.close()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _writes_survive(db, f"after-{i}")
        assert await _names(db) == ["after-0", "after-1", "after-2"]


async def test_anyio_cancel_scopes_follow_the_same_rule(
    make_db: MakeDb, interrupt: Callable[..., Awaitable[Interrupt]]
) -> None:
    # Starlette/FastAPI cancel through anyio scopes, which re-deliver the cancellation
    # until it is seen; COMMIT still completes and the scope still catches it.
    db = await make_db([Tags])
    spy = await interrupt(db, "commit", "fetch", "execute")
    with anyio.CancelScope() as scope:
        async with db.transaction() as tx:
            spy.arm(scope.cancel)  # lands while the INSERT is in flight
            await tx.tags.create({"name": "rolled-back"})
    assert scope.cancelled_caught
    with anyio.CancelScope() as scope:
        async with db.transaction() as tx:
            await tx.tags.create({"name": "committed"})
            spy.arm(scope.cancel)  # lands while COMMIT is in flight
    assert scope.cancelled_caught
    assert spy.fired == 2
    assert await _names(db) == ["committed"]
    await _writes_survive(db, "after")


async def test_a_cancelled_create_either_stored_the_row_and_says_so_or_stored_nothing(
    make_db: MakeDb, interrupt: Callable[..., Awaitable[Interrupt]]
) -> None:
    # Outside a transaction the INSERT commits by itself (PostgreSQL, SQLite) and gets
    # COMMIT's rule; MariaDB's create runs in a transaction and rolls back. Either way the
    # caller can tell from the cancellation whether the row exists.
    db = await make_db([Tags])
    spy = await interrupt(db, "fetch", "execute")

    async def create() -> None:
        spy.arm()
        await db.tags.create({"name": "maybe"})

    with pytest.raises(asyncio.CancelledError) as caught:
        await asyncio.create_task(create())
    assert spy.fired == 1
    notes = getattr(caught.value, "__notes__", [])
    said_stored = any("stored" in n or "committed" in n for n in notes)
    assert await _names(db) == (["maybe"] if said_stored else [])
    if db.dialect.insert_returning:  # a single self-committing INSERT ... RETURNING
        assert said_stored
    await _writes_survive(db, "after")


async def test_a_timeout_during_commit_says_the_transaction_was_stored(
    make_db: MakeDb, interrupt: Callable[..., Awaitable[Interrupt]]
) -> None:
    # The recipe of docs/reliability.md: TimeoutError's cause carries the note.
    db = await make_db([Tags])
    spy = await interrupt(db, "commit")
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError) as caught:
        async with asyncio.timeout(None) as deadline:
            async with db.transaction() as tx:
                await tx.tags.create({"name": "kept"})
                spy.arm(lambda: deadline.reschedule(loop.time()))
    cancelled = caught.value.__cause__ or caught.value.__context__
    assert any("committed" in n for n in getattr(cancelled, "__notes__", ()))
    assert await _names(db) == ["kept"]


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_cancellation_requested_as_the_connection_goes_back_after_commit(
    make_db: MakeDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Giving a clean connection back awaits nothing (asyncpg's pool sent a reset query
    # here; drivers/pooling.py sends nothing, like the SQLite and asyncmy pools), so
    # no real cancellation can land between COMMIT and the end of the block. One
    # requested right then (from inside the release) ends the task cancelled, and the
    # row is stored and the connection lent again cleanly.
    db = await make_db([Tags])
    spy = Interrupt(monkeypatch, type(db._pool), "_release")

    async def body() -> None:
        spy.arm()  # fires at this task's first release: the one after COMMIT
        async with db.transaction() as tx:
            await tx.tags.create({"name": "kept"})

    task = asyncio.create_task(body())
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert spy.fired == 1
    assert await _names(db) == ["kept"]
    await _writes_survive(db, "after")


async def test_a_cancellation_during_on_commit_callbacks_says_it_committed(
    make_db: MakeDb,
) -> None:
    db = await make_db([Tags])
    started = asyncio.Event()

    async def slow_callback() -> None:
        started.set()
        await asyncio.sleep(10)

    async def body() -> None:
        async with db.transaction() as tx:
            await tx.tags.create({"name": "kept"})
            tx._state.callbacks.append(slow_callback)

    task = asyncio.create_task(body())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as caught:
        await task
    assert any("committed" in n for n in getattr(caught.value, "__notes__", []))
    assert await _names(db) == ["kept"]


async def test_random_timeouts_the_outcome_always_tells_what_was_stored(make_db: MakeDb) -> None:
    # The deterministic tests above pin each window; this one throws timeouts at random
    # moments, as production does, and checks the promise end to end: a normal return
    # or a cancellation noting "committed"/"stored" means the row exists, any other
    # cancellation means it does not. DEESSE_CANCEL_STEPS=2000 runs a longer one.
    # Every connection opened up front: asyncpg leaves an unretrieved future behind when a
    # new connection's TLS negotiation is cancelled (an asyncpg defect, not this rule's).
    db = await make_db([Tags], pool_size=3, pool_min_size=3)
    rng = random.Random(7)
    expected: set[str] = set()
    outcomes: collections.Counter[str] = collections.Counter()
    for i in range(int(os.environ.get("DEESSE_CANCEL_STEPS", "120"))):
        name = f"r{i}"
        try:
            async with asyncio.timeout(rng.uniform(0, 0.004)):
                if i % 2:
                    async with db.transaction() as tx:
                        await tx.tags.create({"name": name})
                        await tx.query.tags.find_many(limit=1)
                else:
                    await db.tags.create({"name": name})
            outcomes["returned"] += 1
            expected.add(name)
        except TimeoutError as exc:
            notes = getattr(exc.__cause__ or exc.__context__, "__notes__", [])
            if any("committed" in n or "stored" in n for n in notes):
                outcomes["stored, then cancelled"] += 1
                expected.add(name)
            else:
                outcomes["cancelled"] += 1
    assert set(await _names(db)) == expected, outcomes
    await _writes_survive(db, "after")


async def test_a_borrow_cancelled_while_its_transaction_is_rolled_back_gives_it_back(
    make_db: MakeDb,
) -> None:
    # A borrower that leaves its connection inside a transaction and is cancelled as it
    # goes: the pool rolls back (shielded), the cancellation goes on, and the connection
    # is back in the pool. (It was lost on PostgreSQL: the cancellation, raised after the
    # rollback, skipped the return. Behind PgBouncer a read cancelled during its COMMIT
    # took this path and left pool_size=1 with no connection.)
    db = await make_db([Tags], pool_size=1)
    for _ in range(3):
        with anyio.CancelScope() as scope:
            async with db.acquire() as conn:
                await conn.begin()
                await conn.execute(
                    "INSERT INTO tags (name, created_at, updated_at)"
                    " VALUES ('never', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
                scope.cancel()  # delivered at the pool's next checkpoint, if any
        with anyio.fail_after(5):  # the pool's only connection is free, and clean
            assert await db.tags.count() == 0
