"""drivers/pooling.py ``Slots`` with real asyncpg connections (docs/reliability.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from deesse_async import ConnectionError
from deesse_async.drivers.pooling import Slots
from tests.conftest import POSTGRES_URL, require_backend

pytestmark = pytest.mark.anyio


@pytest.fixture
async def slots(anyio_backend: str) -> AsyncIterator[Slots[Any]]:
    await require_backend("postgresql")
    opened: list[Any] = []

    async def connect() -> Any:
        conn = await asyncpg.connect(POSTGRES_URL.split("?")[0])
        opened.append(conn)
        return conn

    pool: Slots[Any] = Slots(
        connect,
        max_size=2,
        is_closed=lambda c: c.is_closed(),
        terminate=lambda c: c.terminate(),
        close=lambda c: c.close(timeout=2),
    )
    yield pool
    await pool.close()
    for conn in opened:
        conn.terminate()


async def _pid(conn: Any) -> int:
    return int(await conn.fetchval("SELECT pg_backend_pid()"))


async def test_reuse_is_last_in_first_out_and_bounded(slots: Slots[Any]) -> None:
    a = await slots.acquire()
    b = await slots.acquire()
    assert slots.size == 2
    slots.release(a)
    slots.release(b)
    assert await slots.acquire() is b  # the warmest connection first
    assert await slots.acquire() is a
    assert slots.size == 2


async def test_a_returned_connection_goes_straight_to_the_oldest_waiter(
    slots: Slots[Any],
) -> None:
    a, b = await slots.acquire(), await slots.acquire()
    first = asyncio.create_task(slots.acquire())
    second = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release(b)
    assert await first is b
    assert not second.done()
    slots.release(a)
    assert await second is a
    assert slots.size == 2


async def test_a_waiter_cancelled_as_it_is_handed_a_connection_gives_it_back(
    slots: Slots[Any],
) -> None:
    a, b = await slots.acquire(), await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release(a)  # handed over...
    waiter.cancel()  # ...and cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await slots.acquire() is a  # not lost
    slots.release(b)
    assert slots.size == 2


async def test_a_waiter_that_times_out_leaves_nothing_behind(slots: Slots[Any]) -> None:
    a, b = await slots.acquire(), await slots.acquire()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await slots.acquire()
    slots.release(a)
    assert await slots.acquire() is a
    slots.release(a)
    slots.release(b)


async def test_a_dropped_connection_frees_its_slot_for_a_waiter(slots: Slots[Any]) -> None:
    a, b = await slots.acquire(), await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release(a, broken=True)  # terminated: the waiter opens a new connection
    c = await waiter
    assert c is not a and c is not b and a.is_closed()
    assert await _pid(c) != await _pid(b)
    assert slots.size == 2


async def test_a_connection_that_died_while_idle_is_skipped(slots: Slots[Any]) -> None:
    a = await slots.acquire()
    pid = await _pid(a)
    slots.release(a)
    admin = await asyncpg.connect(POSTGRES_URL.split("?")[0])
    try:
        await admin.fetch("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    for _ in range(100):  # the server's goodbye reaches the client socket
        if a.is_closed():
            break
        await asyncio.sleep(0.01)
    conn = await slots.acquire()
    assert conn is not a and await _pid(conn) != pid
    assert slots.size == 1


async def test_closing_fails_the_waiters_with_a_connection_error(slots: Slots[Any]) -> None:
    a, b = await slots.acquire(), await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    await slots.close()
    with pytest.raises(ConnectionError, match="the database was closed while"):
        await waiter
    slots.release(a)  # in use at close: closed when given back
    slots.release(b)
    assert a.is_closed() and b.is_closed()
    assert slots.size == 0
