"""Pools, connection errors, concurrency and the in-memory database."""

from __future__ import annotations

import socket

import anyio
import pytest

from deesse_async import ConnectionError, define_config
from tests.blog import BLOG, Tags
from tests.conftest import MakeDb

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
async def test_unreachable_server_is_a_connection_error_without_password(scheme: str) -> None:
    port = _free_port()  # nothing listens there
    db = define_config(
        provider=f"{scheme}://app:s3cr3t@127.0.0.1:{port}/nowhere",
        collections=[Tags],
        connect_timeout=3,
    )
    with pytest.raises(ConnectionError) as info:
        await db.connect()
    message = str(info.value)
    assert f"127.0.0.1:{port}/nowhere" in message
    assert "s3cr3t" not in message
    assert "***" in message
    assert not db.is_connected


async def test_unopenable_sqlite_path_is_a_connection_error(tmp_path: object) -> None:
    db = define_config(provider="sqlite:////nonexistent-dir/x/app.db", collections=[Tags])
    with pytest.raises(ConnectionError, match="cannot open SQLite database"):
        await db.connect()


async def test_using_a_closed_database_says_what_to_do() -> None:
    db = define_config(provider="sqlite://:memory:", collections=[Tags])
    with pytest.raises(ConnectionError, match=r"not connected: use `async with db:`"):
        await db.tags.count()


async def test_memory_database_lives_while_open() -> None:
    db = define_config(provider="sqlite://:memory:", collections=BLOG)
    async with db:
        created = (await db.push()).created_tables
        assert set(created) == {"users", "tags", "posts", "comments", "notes", "posts_tags"}
        await db.tags.create({"name": "m"})
        assert await db.tags.count() == 1
        assert (await db.push()).is_empty  # everything exists now
    async with db:  # a memory database starts empty again
        assert "tags" in (await db.push()).created_tables
        assert await db.tags.count() == 0


async def test_100_concurrent_creates_through_the_pool(make_db: MakeDb) -> None:
    db = await make_db(BLOG, pool_size=5)
    results: list[int] = []

    async def create(i: int) -> None:
        row = await db.tags.create({"name": f"tag-{i:03d}"})
        results.append(row["id"])

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(create, i)
    assert len(set(results)) == 100
    assert await db.tags.count() == 100
    for i in (0, 42, 99):
        assert await db.tags.count({"name": f"tag-{i:03d}"}) == 1


async def test_concurrent_transactions_do_not_mix(make_db: MakeDb) -> None:
    db = await make_db(BLOG, pool_size=4)

    async def work(i: int) -> None:
        try:
            async with db.transaction() as tx:
                await tx.tags.create({"name": f"t{i}"})
                if i % 2:
                    raise ValueError(i)
        except ValueError:
            pass

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(work, i)
    assert await db.tags.count() == 10
    assert await db.tags.count({"name": {"in": [f"t{i}" for i in range(1, 20, 2)]}}) == 0
