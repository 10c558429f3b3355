"""Pools, connection errors, concurrency and the in-memory database."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from deesse_async import ConfigError, ConnectionError, DatabaseError, define_config
from tests.blog import BLOG, Tags
from tests.conftest import MakeDb
from tests.runtime.servers import missing

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


# -- SQLite on a read-only medium (issue 7, defect 9) ---------------------------------


@contextlib.contextmanager
def _read_only(directory: Path) -> Iterator[None]:
    """Make ``directory`` unwritable, even for root: ``chattr +i`` (no mount needed)."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True)
        if done.returncode != 0:
            missing(f"chattr +i does not work here: {done.stderr!r}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)


async def _make_file_db(path: Path, journal: str) -> None:
    db = define_config(provider=f"sqlite:///{path}", collections=BLOG)
    async with db:
        await db.push()
        await db.tags.create_many([{"name": "a"}, {"name": "b"}])
    with contextlib.closing(sqlite3.connect(path)) as conn:  # the pool left it in WAL mode
        conn.execute(f"PRAGMA journal_mode = {journal}")
    assert sorted(os.listdir(path.parent)) == ["app.db"]  # no -wal/-shm left behind


@pytest.mark.parametrize("journal", ["wal", "delete"])
async def test_sqlite_read_only_directory(tmp_path: Path, journal: str) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "app.db"
    await _make_file_db(path, journal)
    with _read_only(folder):
        db = define_config(provider=f"sqlite:///{path}?mode=ro", collections=BLOG)
        async with db:
            assert await db.tags.count() == 2
            rows = await db.query.tags.find_many(order_by={"name": "desc"})
            assert [r["name"] for r in rows] == ["b", "a"]
            assert (await db.plan()).is_empty
            with pytest.raises(DatabaseError, match="is read-only"):
                await db.tags.create({"name": "c"})
            with pytest.raises(ConfigError, match=r"opened read-only \(\?mode=ro\)"):
                await db.push()
        # Without mode=ro: a clear error at connect that says what to do.
        db = define_config(provider=f"sqlite:///{path}", collections=BLOG)
        with pytest.raises(ConnectionError, match=r"open it read-only with \?mode=ro"):
            await db.connect()
    assert sorted(os.listdir(folder)) == ["app.db"]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == journal
        assert conn.execute("SELECT count(*) FROM tags").fetchone()[0] == 2


async def test_sqlite_mode_ro_never_switches_to_wal_nor_writes(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    await _make_file_db(path, "delete")
    db = define_config(provider=f"sqlite:///{path}?mode=ro", collections=BLOG)
    async with db:
        assert await db.tags.count({"name": "a"}) == 1
        for write in (
            lambda: db.tags.create({"name": "c"}),
            lambda: db.tags.update(1, {"name": "z"}),
            lambda: db.tags.delete(1),
        ):
            with pytest.raises(DatabaseError, match="is read-only"):
                await write()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT name FROM tags ORDER BY id").fetchall() == [("a",), ("b",)]
    missing_file = define_config(provider=f"sqlite:///{tmp_path / 'nope.db'}?mode=ro")
    with pytest.raises(ConnectionError, match="cannot open SQLite database"):
        await missing_file.connect()
    assert not (tmp_path / "nope.db").exists()


async def test_a_relative_sqlite_path_is_the_one_of_the_current_folder(
    tmp_path: Path, anyio_backend: str
) -> None:
    """The schema sync opened the first folder's file again after a chdir (its engines
    were kept by URL text), so push() did nothing and the next insert failed."""
    from deesse_async import collection, define_config, field, text

    Notes = collection(slug="notes", fields={"body": field(type=text())})
    old = Path.cwd()
    try:
        for folder in ("a", "b"):
            (tmp_path / folder).mkdir()
            os.chdir(tmp_path / folder)
            db = define_config(provider="sqlite:///rel.db", collections=[Notes])
            async with db:
                await db.push()
                await db.notes.create({"body": folder})
                assert [r["body"] for r in await db.query.notes.find_many()] == [folder]
    finally:
        os.chdir(old)
    assert (tmp_path / "a" / "rel.db").exists() and (tmp_path / "b" / "rel.db").exists()


async def test_a_connection_left_in_a_transaction_is_never_lent_again(make_db: MakeDb) -> None:
    """The pool skips the reset query on release (our code leaves no session state), but
    a connection given back inside a transaction is still rolled back first: the next
    borrower never inherits it (nor its uncommitted rows)."""
    db = await make_db([Tags], pool_size=1, pool_min_size=1)
    pool = db._pool
    assert pool is not None
    async with pool.acquire() as conn:
        await conn.begin()
        await conn.execute("INSERT INTO tags (name, created_at, updated_at) VALUES "
                           "('left', '2026-01-01 00:00:00', '2026-01-01 00:00:00')")  # fmt: skip
    # pool_size=1: the same connection serves the count; had it kept the transaction,
    # it would see its own uncommitted row.
    assert await db.tags.count() == 0
    await db.tags.create({"name": "kept"})
    assert [r["name"] for r in await db.query.tags.find_many()] == ["kept"]
