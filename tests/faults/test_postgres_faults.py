"""Connections dying under load (docs/reliability.md, "Connection loss").

Against a private cluster: backends terminated every 30 ms mid-query and
mid-transaction, and a server restart under load. Callers only ever see
``DeesseError`` (``ConnectionError`` for the losses), every wait is bounded, no
acknowledged write is lost, and the pool recovers by itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import anyio
import asyncpg
import pytest

from deesse_async import ConnectionError, Database, define_config
from tests.blog import Tags

from .cluster import Cluster
from .load import Ledger, check, recovers, worker

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fault_db(pg_cluster: Cluster, anyio_backend: str) -> AsyncIterator[Database]:
    name = f"f_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_cluster.url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    db = define_config(
        provider=pg_cluster.url.rsplit("/", 1)[0] + f"/{name}",
        collections=[Tags],
        pool_size=6,
        connect_timeout=2.0,
        pool_timeout=5.0,
    )
    try:
        async with db:
            await db.push()
            yield db
    finally:
        admin = await asyncpg.connect(pg_cluster.url)  # a new one: the server may have restarted
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _terminate_storm(cluster: Cluster, database: str, stop: anyio.Event) -> int:
    killed = 0
    conn = await asyncpg.connect(cluster.url)
    try:
        while not stop.is_set():
            killed += len(
                await conn.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database,
                )
            )
            await anyio.sleep(0.03)
    finally:
        await conn.close()
    return killed


async def test_backends_terminated_mid_query_and_mid_transaction(
    fault_db: Database, pg_cluster: Cluster
) -> None:
    ledger, stop = Ledger(), anyio.Event()
    database = fault_db.url.url.database
    assert database is not None
    killed = 0

    async def storm() -> None:
        nonlocal killed
        killed = await _terminate_storm(pg_cluster, database, stop)

    async with anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(worker, fault_db, ledger, stop, n)
        tg.start_soon(storm)
        await anyio.sleep(5)
        stop.set()
    assert killed > 20, killed  # the storm really hit
    assert ledger.errors["ConnectionError"] > 0, ledger.errors
    assert set(ledger.errors) <= {"ConnectionError"}, ledger.errors
    assert ledger.ok > 20, ledger
    await check(fault_db, ledger)


async def test_server_restart_under_load(fault_db: Database, pg_cluster: Cluster) -> None:
    ledger, stop = Ledger(), anyio.Event()
    async with anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(worker, fault_db, ledger, stop, n)
        await anyio.sleep(1)
        before = ledger.ok
        await anyio.to_thread.run_sync(pg_cluster.stop)  # fast shutdown, by PID
        await anyio.sleep(1)  # operations meanwhile fail fast with ConnectionError
        await anyio.to_thread.run_sync(pg_cluster.start)
        await recovers(fault_db)
        after = ledger.ok
        await anyio.sleep(1)
        stop.set()
    assert before > 0 and ledger.ok > after, (before, after, ledger.ok)
    assert ledger.errors["ConnectionError"] > 0, ledger.errors
    assert set(ledger.errors) <= {"ConnectionError"}, ledger.errors
    await check(fault_db, ledger)


async def test_a_release_that_fails_after_success_keeps_the_result(
    fault_db: Database, pg_cluster: Cluster
) -> None:
    # Exactly the window the storm hits at random: the statement succeeded, then the
    # backend dies before the connection goes back to the pool (whose reset fails).
    database = fault_db.url.url.database
    await fault_db.tags.create({"name": "there"})
    admin = await asyncpg.connect(pg_cluster.url)
    try:
        for _ in range(5):
            async with fault_db.acquire() as conn:
                rows = await conn.fetch("SELECT count(*) FROM tags")
                await admin.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database,
                )
                await asyncio.sleep(0.05)  # the termination reaches the client socket
            assert rows[0][0] >= 1
        # The same through the public API: a good read survives its connection's death.
        rows2 = await fault_db.query.tags.find_many()
        assert rows2[0]["name"] == "there"
    finally:
        await admin.close()


async def _terminate(cluster: Cluster, database: str) -> None:
    admin = await asyncpg.connect(cluster.url)
    try:
        await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()


async def test_a_terminated_transaction_raises_the_real_error(
    fault_db: Database, pg_cluster: Cluster
) -> None:
    database = fault_db.url.url.database
    assert database is not None
    # The next statement finds the connection gone: ConnectionError, never asyncpg's
    # "cannot call Transaction.rollback()" from the cleanup.
    with pytest.raises(ConnectionError):
        async with fault_db.transaction() as tx:
            await tx.tags.create({"name": "a"})
            await _terminate(pg_cluster, database)
            await tx.tags.create({"name": "b"})
    # The caller's own error stays the error when the rollback cannot run any more.
    with pytest.raises(LookupError, match="mine") as caught:
        async with fault_db.transaction() as tx:
            await tx.tags.create({"name": "c"})
            await _terminate(pg_cluster, database)
            await asyncio.sleep(0.05)
            raise LookupError("mine")
    assert any("rollback failed" in n for n in getattr(caught.value, "__notes__", []))
    await recovers(fault_db)
    assert not {"a", "b", "c"} & {r["name"] for r in await fault_db.query.tags.find_many()}
