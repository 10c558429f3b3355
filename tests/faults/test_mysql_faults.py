"""MariaDB connections killed under load (docs/reliability.md, "Connection loss").

Runs on the shared server but kills only the connections of this test's own
database (``KILL CONNECTION`` for the processlist rows whose ``DB`` is ours).
"""

from __future__ import annotations

import anyio
import asyncmy
import pytest

from tests.blog import Tags
from tests.conftest import MYSQL_URL, MakeDb, _mysql_kwargs

from .load import Ledger, check, worker

pytestmark = pytest.mark.anyio


@pytest.fixture
def backend() -> str:
    return "mysql"


async def _kill_storm(database: str, stop: anyio.Event) -> int:
    killed = 0
    conn = await asyncmy.connect(**{**_mysql_kwargs(MYSQL_URL), "database": None}, autocommit=True)
    try:
        while not stop.is_set():
            async with conn.cursor() as cur:
                await cur.execute(
                    "SELECT ID FROM information_schema.PROCESSLIST "
                    "WHERE DB = %s AND ID <> CONNECTION_ID()",
                    (database,),
                )
                for (pid,) in await cur.fetchall():
                    try:
                        await cur.execute(f"KILL CONNECTION {int(pid)}")
                        killed += 1
                    except asyncmy.errors.OperationalError:
                        pass  # gone already (unknown thread id)
            await anyio.sleep(0.03)
    finally:
        conn.close()
    return killed


async def test_connections_killed_mid_query_and_mid_transaction(make_db: MakeDb) -> None:
    db = await make_db([Tags], pool_size=6, connect_timeout=2.0, pool_timeout=5.0)
    database = db.url.url.database
    assert database is not None
    ledger, stop = Ledger(), anyio.Event()
    killed = 0

    async def storm() -> None:
        nonlocal killed
        killed = await _kill_storm(database, stop)

    async with anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(worker, db, ledger, stop, n)
        tg.start_soon(storm)
        await anyio.sleep(4)
        stop.set()
    assert killed > 10, killed
    assert ledger.errors["ConnectionError"] > 0, ledger.errors
    assert set(ledger.errors) <= {"ConnectionError"}, ledger.errors
    assert ledger.ok > 20, ledger
    await check(db, ledger)
