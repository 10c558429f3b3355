"""Read replicas against a real primary + hot standby (conftest.py starts them).

Which server served a read is observed on the read itself: every query selects
``pg_is_in_recovery()`` as an extra (true on the standby). A context is an asyncio
task: ``elsewhere()`` runs a coroutine as another request would, in a new context.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import asyncpg
import pytest
import sqlalchemy as sa

from deesse_async import ConfigError, Database, SerializationFailure, define_config

from .conftest import MakeDb, Notes, Replication

pytestmark = pytest.mark.anyio

T = TypeVar("T")
STANDBY = {"standby": lambda notes: sa.func.pg_is_in_recovery()}
LOGGER = "deesse_async.replicas"


async def elsewhere(operation: Awaitable[T]) -> T:
    """Await ``operation`` in a new context: another request, which wrote nothing."""

    async def run() -> T:
        return await operation

    return await asyncio.create_task(run(), context=contextvars.Context())


async def snapshot(view: Any) -> tuple[set[int], bool]:
    """The ids ``view`` reads, and whether the standby served them."""
    rows = await view.query.notes.find_many(extras=STANDBY)
    servers = {row["standby"] for row in rows}
    assert len(servers) == 1, rows  # never empty: the marker row is everywhere
    return {row["id"] for row in rows}, servers.pop()


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await anyio.sleep(0.05)


async def opened(make: MakeDb, **options: Any) -> Database:
    """A connected database whose marker row the standby has replayed."""
    db = make(**options)
    await db.connect()
    marker = await db.notes.create({"body": "marker"})

    async def on_standby() -> bool:
        rows = await elsewhere(db.query.notes.find_many(extras=STANDBY))
        return any(row["standby"] and row["id"] == marker["id"] for row in rows)

    await eventually(on_standby)
    return db


def lines(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and words in r.getMessage()]


async def test_reads_go_to_the_standby_writes_to_the_primary(
    replicated: tuple[Replication, MakeDb],
) -> None:
    _, make = replicated
    db = await opened(make)
    ids, standby = await elsewhere(snapshot(db))
    assert standby and ids
    # CRUD read and count too: counted where they were served.
    before = db.read_routing()
    assert before is not None and before.replicas[0].state == "up"
    note_id = min(ids)
    assert (await elsewhere(db.notes.read(note_id)))["body"] == "marker"  # type: ignore[index]
    assert await elsewhere(db.notes.count()) == len(ids)
    after = db.read_routing()
    assert after is not None
    assert after.replicas[0].reads == before.replicas[0].reads + 2
    assert after.primary_reads == before.primary_reads
    # db.primary() forces the primary; a write is served by the primary (it succeeds:
    # the standby would refuse it, read-only).
    assert (await elsewhere(snapshot(db.primary())))[1] is False
    created = await elsewhere(db.notes.create({"body": "w"}))
    assert created["body"] == "w"


async def test_read_your_writes_while_the_standby_replays_nothing(
    replicated: tuple[Replication, MakeDb],
) -> None:
    replication, make = replicated
    db = await opened(make, max_replica_lag=60)
    await replication.standby_sql("SELECT pg_wal_replay_pause()")

    async def request() -> None:
        note = await db.notes.create({"body": "mine"})
        # Same context: the standby has not replayed the write, the primary serves.
        ids, standby = await snapshot(db)
        assert note["id"] in ids and standby is False
        assert await db.notes.read(note["id"]) == note
        # Another request: the standby, stale, is allowed.
        other_ids, other_standby = await elsewhere(snapshot(db))
        assert other_standby is True and note["id"] not in other_ids
        assert await elsewhere(db.notes.count()) == len(other_ids)
        # db.replica() accepts the stale standby even here.
        stale_ids, replica = await snapshot(db.replica())
        assert replica is True and note["id"] not in stale_ids
        await replication.standby_sql("SELECT pg_wal_replay_resume()")

        async def standby_again() -> bool:  # same context, once the write is replayed
            ids, standby = await snapshot(db)
            assert note["id"] in ids
            return standby

        await eventually(standby_again)

    await elsewhere(request())


async def test_reads_in_a_transaction_use_the_primary(
    replicated: tuple[Replication, MakeDb],
) -> None:
    _, make = replicated
    db = await opened(make)

    async def request() -> None:
        async with db.transaction() as tx:
            assert (await snapshot(tx))[1] is False
            assert (await snapshot(tx.replica()))[1] is False  # a transaction reads itself
            assert await tx.notes.count() >= 1
        async with db.replica().transaction() as tx:
            assert (await snapshot(tx))[1] is False

    routing = db.read_routing()
    assert routing is not None
    reads = routing.replicas[0].reads
    await elsewhere(request())
    after = db.read_routing()
    assert after is not None and after.replicas[0].reads == reads


async def test_views_compose(replicated: tuple[Replication, MakeDb]) -> None:
    _, make = replicated
    db = await opened(make)
    for view in (db.with_user("ann").replica(), db.replica().with_user("ann")):
        assert view.user == "ann"
        assert (await elsewhere(snapshot(view)))[1] is True
    for view in (
        db.with_user("ann").primary(),
        db.primary().with_user("ann"),
        db.trusted().primary(),
    ):
        assert (await elsewhere(snapshot(view)))[1] is False
    assert "reads=primary" in repr(db.primary())


async def test_streams_on_the_standby_read_keyset_chunks_unless_a_cursor_is_asked(
    replicated: tuple[Replication, MakeDb],
) -> None:
    """A routed stream reads short keyset chunks on the standby (a long cursor there
    meets recovery conflicts); ``mode="cursor"`` runs one there when asked; on the
    primary, ``auto`` is a cursor."""
    _, make = replicated
    db = await opened(make)
    await db.notes.create_many([{"body": f"n{i}"} for i in range(5)])
    expected, _ = await elsewhere(snapshot(db.primary()))

    async def streamed(view: Any, mode: str) -> tuple[set[int], set[bool]]:
        rows = [r async for r in view.query.notes.stream(extras=STANDBY, chunk_size=2, mode=mode)]
        return {r["id"] for r in rows}, {r["standby"] for r in rows}

    async def replayed() -> bool:
        return (await elsewhere(snapshot(db.replica())))[0] == expected

    await eventually(replayed)
    before = db.read_routing().replicas[0].reads
    assert await elsewhere(streamed(db, "auto")) == (expected, {True})
    assert db.read_routing().replicas[0].reads - before >= 3  # one per chunk
    assert await elsewhere(streamed(db.replica(), "cursor")) == (expected, {True})
    assert await elsewhere(streamed(db.primary(), "auto")) == (expected, {False})


async def test_standby_killed_then_restarted(
    replicated: tuple[Replication, MakeDb], caplog: pytest.LogCaptureFixture
) -> None:
    replication, make = replicated
    caplog.set_level(logging.WARNING, logger=LOGGER)
    db = await opened(make)
    assert (await elsewhere(snapshot(db)))[1] is True
    # A read running on the standby when it dies is re-run on the primary.
    slow = {**STANDBY, "nap": lambda notes: sa.func.pg_sleep(1)}
    reading = asyncio.create_task(elsewhere(db.query.notes.find_many(extras=slow)))
    await anyio.sleep(0.4)
    await anyio.to_thread.run_sync(replication.standby.kill)  # SIGQUIT by PID
    rows = await reading
    assert rows and {row["standby"] for row in rows} == {False}
    # Then every read goes to the primary.
    for _ in range(30):
        ids, standby = await elsewhere(snapshot(db))
        assert ids and standby is False
        await anyio.sleep(0.02)
    assert len(lines(caplog, "is down")) == 1, caplog.text
    routing = db.read_routing()
    assert routing is not None and routing.replicas[0].state == "down"

    await anyio.to_thread.run_sync(replication.standby.start)

    async def back() -> bool:
        return (await elsewhere(snapshot(db)))[1]

    await eventually(back, 30)
    assert len(lines(caplog, "is back")) == 1
    assert len(lines(caplog, "is down")) == 1


async def test_a_lagging_standby_is_skipped(
    replicated: tuple[Replication, MakeDb], caplog: pytest.LogCaptureFixture
) -> None:
    replication, make = replicated
    caplog.set_level(logging.WARNING, logger=LOGGER)
    db = await opened(make, max_replica_lag=1.0)
    assert (await elsewhere(snapshot(db)))[1] is True
    await replication.standby_sql("SELECT pg_wal_replay_pause()")
    note = await elsewhere(db.notes.create({"body": "after the pause"}))
    await anyio.sleep(2.0)
    for _ in range(10):  # another request, no write of its own: still the primary
        ids, standby = await elsewhere(snapshot(db))
        assert standby is False and note["id"] in ids
    assert len(lines(caplog, "is lagging")) == 1, caplog.text
    # db.replica() skips it too: it is not healthy.
    assert (await elsewhere(snapshot(db.replica())))[1] is False
    await replication.standby_sql("SELECT pg_wal_replay_resume()")

    async def back() -> bool:
        return (await elsewhere(snapshot(db)))[1]

    await eventually(back)
    assert lines(caplog, "is back")


async def test_a_replica_that_is_not_a_standby_is_skipped(
    replicated: tuple[Replication, MakeDb], caplog: pytest.LogCaptureFixture
) -> None:
    _, make = replicated
    caplog.set_level(logging.WARNING, logger=LOGGER)
    base = make()
    db = define_config(base.url.url.render_as_string(hide_password=False), [Notes],
                       replicas=[base.url.url.render_as_string(hide_password=False)])  # fmt: skip
    async with db:
        await db.notes.create({"body": "x"})
        for _ in range(3):
            assert (await elsewhere(snapshot(db.replica())))[1] is False
        routing = db.read_routing()
        assert routing is not None and routing.replicas[0].state == "not a standby"
    assert len(lines(caplog, "not a standby")) == 1


async def test_the_poller_lives_with_the_database(replicated: tuple[Replication, MakeDb]) -> None:
    _, make = replicated

    def pollers() -> list[asyncio.Task[Any]]:
        return [t for t in asyncio.all_tasks() if "replica poller" in t.get_name()]

    assert not pollers()
    db = await opened(make)  # connected, with a row on the standby
    assert len(pollers()) == 1
    await db.close()
    assert not pollers() and db.read_routing() is None
    for _ in range(2):  # a closed database opens again
        async with db:
            assert len(pollers()) == 1
            assert (await elsewhere(snapshot(db.replica())))[1] is True
        assert not pollers() and db.read_routing() is None


async def test_a_replica_down_at_startup_fails_nothing(
    replicated: tuple[Replication, MakeDb], caplog: pytest.LogCaptureFixture
) -> None:
    replication, make = replicated
    caplog.set_level(logging.WARNING, logger=LOGGER)
    await anyio.to_thread.run_sync(replication.standby.stop)
    db = make()
    async with db:
        await db.notes.create({"body": "x"})
        assert (await elsewhere(snapshot(db.replica())))[1] is False
        assert await elsewhere(db.notes.count()) == 1
    assert len(lines(caplog, "is down")) == 1


@pytest.mark.parametrize(
    ("provider", "options", "words"),
    [
        ("sqlite://:memory:", {"replicas": ["sqlite://:memory:"]}, "SQLite has no read replicas"),
        (
            "mysql://root@127.0.0.1/x",
            {"replicas": ["mysql://root@127.0.0.1:3307/x"]},
            "no read replicas",
        ),
        ("postgresql://u@h/x", {"replicas": "postgresql://u@r/x"}, "a list of URLs"),
        ("postgresql://u@h/x", {"replicas": ["sqlite://:memory:"]}, "is not a PostgreSQL URL"),
        ("postgresql://u@h/x", {"replicas": [1]}, "is not a URL string"),
        ("postgresql://u@h/x", {"replicas": ["postgresql://u@r/x"], "max_replica_lag": 0}, "> 0"),
        ("postgresql://u@h/x", {"max_replica_lag": "5"}, "seconds"),
    ],
)
def test_bad_replica_configuration(provider: str, options: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        define_config(provider, [Notes], **options)


async def sleeping_on_standby(replication: Replication, database: str) -> None:
    """Until a statement of ``database`` sleeps in pg_sleep on the standby: executing,
    so holding its locks (not still being parsed)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE wait_event = 'PgSleep' AND datname = '{database}'"
    )

    async def sleeping() -> bool:
        return bool(await replication.standby_sql(sql))

    await eventually(sleeping)


async def test_a_read_cancelled_by_a_recovery_conflict_is_re_run_on_the_primary(
    replicated: tuple[Replication, MakeDb], caplog: pytest.LogCaptureFixture
) -> None:
    replication, make = replicated
    caplog.set_level(logging.WARNING, logger=LOGGER)
    db = await opened(make)
    name = str(db.url.url.database)
    note = await db.notes.create({"body": "second"})
    # Sleeps on the standby only: there, a read that holds its lock on notes for seconds.
    nap = sa.func.pg_sleep(sa.case((sa.func.pg_is_in_recovery(), 30), else_=0))
    slow = {**STANDBY, "nap": lambda notes: nap}

    async def cancelled_on_the_standby() -> list[dict[str, Any]]:
        reading = asyncio.create_task(elsewhere(db.query.notes.find_many(extras=slow)))
        await sleeping_on_standby(replication, name)
        # The primary locks the table: replaying the lock cancels the standby's read
        # ("canceling statement due to conflict with recovery", SQLSTATE 40001).
        primary = await asyncpg.connect(replication.primary.database_url(name))
        try:
            async with primary.transaction():
                await primary.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
        finally:
            await primary.close()
        with anyio.fail_after(20):
            return await reading

    async with replication.standby_settings(max_standby_streaming_delay="0"):
        before = db.read_routing()
        assert before is not None and before.replicas[0].state == "up"
        rows = await cancelled_on_the_standby()
        assert {row["id"] for row in rows} >= {note["id"]}
        assert {row["standby"] for row in rows} == {False}  # served by the primary
        after = db.read_routing()
        assert after is not None
        replica = after.replicas[0]
        assert after.primary_reads == before.primary_reads + 1
        assert replica.reads == before.replicas[0].reads  # the re-run read is the primary's
        assert replica.conflicts == before.replicas[0].conflicts + 1
        # One conflict does not make the replica unhealthy: the next read uses it.
        assert replica.state == "up", replica
        assert (await elsewhere(snapshot(db)))[1] is True
        # Another one: counted, not logged again within the minute.
        rows = await cancelled_on_the_standby()
        assert {row["standby"] for row in rows} == {False}
        again = db.read_routing()
        assert again is not None and again.replicas[0].conflicts == replica.conflicts + 1
    logged = lines(caplog, "conflict with recovery")
    assert len(logged) == 1, caplog.text
    assert "User was holding a relation lock" in logged[0]  # the server's DETAIL
    assert not lines(caplog, "is down")


async def test_a_serialization_failure_in_a_transaction_is_still_raised(
    replicated: tuple[Replication, MakeDb],
) -> None:
    _, make = replicated
    db = await opened(make)
    # Write skew under SERIALIZABLE: each reads what the other writes.
    with pytest.raises(SerializationFailure) as raised:
        async with db.transaction("serializable") as first:
            await first.notes.count()
            async with db.transaction("serializable") as second:
                await second.notes.count()
                await second.notes.create({"body": "second"})
            await first.notes.create({"body": "first"})
    assert raised.value.code == "40001"
    rows = await db.primary().query.notes.find_many()
    assert sorted(row["body"] for row in rows) == ["marker", "second"]  # first rolled back
    routing = db.read_routing()
    assert routing is not None and routing.replicas[0].conflicts == 0
