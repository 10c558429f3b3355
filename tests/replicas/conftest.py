"""A real primary and hot standby of the tests' own (``tests/pgcluster.py``).

Started once per session (it takes seconds): ``initdb`` as the ``postgres`` user,
``wal_level=replica``, then ``pg_basebackup -R -X stream`` with a replication slot for
a hot standby on another free loopback port. Each test gets a new database on the
primary (replicated to the standby) and databases configured with ``replicas=``.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
import pytest

from deesse_async import Database, collection, define_config, field, text
from tests.pgcluster import FAST, PostgresServer, make_temp_dir, missing, unavailable

Notes = collection(slug="notes", fields={"body": field(type=text())})


@dataclass
class Replication:
    primary: PostgresServer
    standby: PostgresServer

    async def standby_sql(self, sql: str, database: str = "postgres") -> Any:
        conn = await asyncpg.connect(self.standby.database_url(database))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    @contextlib.asynccontextmanager
    async def standby_settings(self, **settings: str) -> AsyncIterator[None]:
        """``ALTER SYSTEM SET`` on the standby (reloaded) for the block, reset after it:
        the standby is shared by the session, and postgresql.auto.conf outlives restarts."""
        for name, value in settings.items():
            await self.standby_sql(f"ALTER SYSTEM SET {name} = '{value}'")
        await self.standby_sql("SELECT pg_reload_conf()")
        try:
            await self._reloaded(settings, "configuration file")
            yield
        finally:
            await self.ensure_standby_running()
            for name in settings:
                await self.standby_sql(f"ALTER SYSTEM RESET {name}")
            await self.standby_sql("SELECT pg_reload_conf()")
            await self._reloaded(settings, "default")

    async def _reloaded(self, names: Iterable[str], source: str) -> None:
        """Wait for a reload to reach new sessions (it is asynchronous): the settings'
        source is postgresql.auto.conf ("configuration file") or "default" again. Not for
        settings given on the command line (``PostgresServer.settings``): those win."""
        deadline = time.monotonic() + 10
        for name in names:
            sql = f"SELECT source FROM pg_settings WHERE name = '{name}'"
            while await self.standby_sql(sql) != source:
                assert time.monotonic() < deadline, f"the standby did not reload {name}"
                await anyio.sleep(0.02)

    async def ensure_standby_running(self) -> None:
        """Start the standby again if a test stopped it; resume its replay."""
        if self.standby.pid is None:
            await anyio.to_thread.run_sync(self.standby.start)
        await self.standby_sql("SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="session")
def replication() -> Iterator[Replication]:
    reason = unavailable("pg_basebackup")
    if reason is not None:
        missing(f"cannot start a primary and a hot standby: {reason}")
    root = make_temp_dir()
    settings = {**FAST, "wal_level": "replica", "max_wal_senders": "4", "max_connections": "80"}
    primary = PostgresServer.initdb(root, "primary", settings=settings)
    try:
        primary.start()
        standby = primary.standby(root)
        try:
            standby.start()
            yield Replication(primary, standby)
        finally:
            standby.stop()
    finally:
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


MakeDb = Callable[..., Database]


@pytest.fixture
async def replicated(replication: Replication) -> AsyncIterator[tuple[Replication, MakeDb]]:
    """A new database on the primary, present on the standby, and a factory of
    ``Database`` objects reading it through the standby (closed at the end)."""
    await replication.ensure_standby_running()
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(replication.primary.url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    made: list[Database] = []

    def make(**options: Any) -> Database:
        db = define_config(
            provider=replication.primary.database_url(name),
            collections=[Notes],
            replicas=[replication.standby.database_url(name)],
            **options,
        )
        made.append(db)
        return db

    try:
        async with define_config(replication.primary.database_url(name), [Notes]) as setup:
            await setup.push()
        deadline = time.monotonic() + 30
        while not await _replicated(replication, name):
            assert time.monotonic() < deadline, "the standby did not replay the schema"
            await anyio.sleep(0.05)
        yield replication, make
    finally:
        for db in made:
            await db.close()
        await replication.ensure_standby_running()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _replicated(replication: Replication, name: str) -> bool:
    try:
        return bool(await replication.standby_sql("SELECT to_regclass('notes') IS NOT NULL", name))
    except asyncpg.InvalidCatalogNameError:
        return False
